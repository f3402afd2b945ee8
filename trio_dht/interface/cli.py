"""Command line: ``python -m trio_dht demo|registry|node ...``.

Each subcommand is registered in ``build_parser`` with its options, help
(wrapped to the terminal, with examples and the exit statuses) and the
function that runs it; ``main`` checks the arguments first, so nothing is
started with options that cannot work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import cast

import trio

from trio_dht import __version__
from trio_dht.interface import exit_codes
from trio_dht.interface.options import CompactParser, HelpFormatter, subcommand_help
from trio_dht.wire import DIALECT_NAMES

DESCRIPTION = """\
trio_dht: a Chord-like peer-to-peer overlay on trio. A registry admits
messaging nodes and gives each a routing table; nodes route random data
packets to random sinks; the registry proves nothing was lost."""

EPILOG = (
    """\
examples:
  python -m trio_dht demo                   # registry + 10 nodes, live table
  python -m trio_dht demo --processes       # one OS process per node
  python -m trio_dht registry 5000          # then type commands: help
  python -m trio_dht node 127.0.0.1:5000    # in another terminal, per node
  python -m trio_dht registry --nodes 10 --start 25000   # unattended

"""
    + exit_codes.HELP
)

REGISTRY_HELP = """\
Run the registry. Commands are typed at the 'registry> ' prompt (Tab completes,
arrows recall history) or piped in; Ctrl-D at the prompt exits like 'exit'. With
--start it runs unattended instead and does not read commands."""

REGISTRY_EXAMPLES = """\
examples:
  python -m trio_dht registry 5000          # listen on port 5000, console
  python -m trio_dht registry --nodes 10 --start 25000 --timeout 120
  python -m trio_dht registry 5000 --nodes 4 --start 1000 --summary json \\
      > result.json"""

NODE_HELP = """\
Run a messaging node that joins the registry at HOST:PORT. It listens on a port
the OS picks. Commands are typed at the 'node ID> ' prompt or piped in; Ctrl-D
at the prompt leaves like 'exit'."""

# What runs a parsed command line and returns the exit status.
Runner = Callable[[argparse.Namespace, argparse.ArgumentParser], int]


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--wire", choices=DIALECT_NAMES, default="cs455",
        help="wire dialect: cs455 (classic binary, the Java implementations; default) "
        "or minichord (protobuf, the Go implementations); the same on every program",
    )  # fmt: skip
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="more detail on stderr: -v info, -vv debug")  # fmt: skip
    common.add_argument("-q", "--quiet", action="store_true",
                        help="only results (stdout) and errors (stderr)")  # fmt: skip
    return common


# One line per subcommand for the top-level help. A command line that names
# a subcommand builds (and imports the modules of) that one only: a node
# process then never loads the demo, the checker or the figures, which
# saves about a fifth of a second and 5 MB of RSS in each of its copies.
SUMMARIES = {
    "demo": "the whole task in one command, with a live table",
    "registry": "run the registry",
    "node": "run a messaging node",
    "check": "grade another implementation of the overlay, case by case",
    "sniff": "a proxy that shows every frame between nodes and a registry",
    "path": "explain the route between two ids, offline (no network)",
}


def run_demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from trio_dht.interface import demo_app, figure_options
    from trio_dht.interface.options import check_demo

    problem = check_demo(args) or figure_options.check_run_arguments(args)
    if problem is not None:
        parser.error(problem)
    return trio.run(demo_app.DemoApp(args).main)


def run_registry(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from trio_dht.interface import figure_options, registry_app
    from trio_dht.interface.options import check_registry

    problem = check_registry(args) or figure_options.check_run_arguments(args)
    if problem is not None:
        parser.error(problem)
    return trio.run(registry_app.RegistryApp(args).main)


def run_node(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from trio_dht.interface import node_app

    try:
        host, port = node_app.registry_address(args)
    except ValueError as exc:
        parser.error(str(exc))
    return trio.run(node_app.NodeApp(args, host, port).main)


def _chosen(argv: Sequence[str] | None) -> str | None:
    """The subcommand a command line names, if any (the first word that is
    not an option; none of the top-level options takes a value)."""
    words = sys.argv[1:] if argv is None else argv
    for word in words:
        if not word.startswith("-"):
            return word if word in SUMMARIES else None
    return None


def build_parser(
    argv: Sequence[str] | None = None, *, every: bool = False
) -> argparse.ArgumentParser:
    """The parser for ``argv``: the subcommand it names in full, the others
    as a line of help each. ``every`` (or a command line naming none, as
    for ``--help``) builds all of them in full."""
    parser = argparse.ArgumentParser(
        prog="trio-dht", description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"trio_dht {__version__}")
    # Every subcommand's parser is a CompactParser (short usage on errors);
    # the registering functions only need the ArgumentParser interface.
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(
            dest="command", metavar="COMMAND", required=True, parser_class=CompactParser
        ),
    )
    runners: dict[str, tuple[argparse.ArgumentParser, Runner]] = {}
    chosen = None if every else _chosen(argv)
    for name, summary in SUMMARIES.items():
        if chosen is None or name == chosen:
            _full(name, sub, runners)
        else:
            sub.add_parser(name, help=summary)
    parser.set_defaults(runners=runners)
    return parser


def _full(
    name: str,
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    runners: dict[str, tuple[argparse.ArgumentParser, Runner]],
) -> None:
    """Register subcommand ``name`` with all its options and help."""

    def register(runner: Runner, **kwargs: object) -> argparse.ArgumentParser:
        command = sub.add_parser(name, parents=[_common()], help=SUMMARIES[name], **kwargs)  # type: ignore[arg-type]
        runners[name] = (command, runner)
        return command

    # Imports here, not at the top: see SUMMARIES.
    if name == "demo":
        from trio_dht.interface import demo_app, figure_options
        from trio_dht.interface.options import demo_arguments

        demo = register(
            run_demo, **subcommand_help(demo_app.HELP, demo_app.EXAMPLES, exit_codes.HELP)
        )
        demo_arguments(demo)
        figure_options.add_run_arguments(demo, seed=True)
    elif name == "registry":
        from trio_dht.interface import figure_options, registry_app
        from trio_dht.interface.options import registry_arguments

        registry = register(
            run_registry,
            **subcommand_help(REGISTRY_HELP, registry_app.HELP, REGISTRY_EXAMPLES, exit_codes.HELP),
        )
        registry_arguments(registry)
        figure_options.add_run_arguments(registry, seed=True)
    elif name == "node":
        from trio_dht.interface import node_app
        from trio_dht.interface.options import node_arguments

        node = register(
            run_node,
            **subcommand_help(NODE_HELP, node_app.HELP, node_app.EXAMPLES, exit_codes.HELP),
        )
        node_arguments(node)
    elif name == "check":  # check, sniff and path bring their own options and runner
        from trio_dht.interface import check_cmd

        check_cmd.register(sub)
    elif name == "sniff":
        from trio_dht.interface import sniff

        sniff.register(sub)
    elif name == "path":  # offline: explain a route
        from trio_dht.interface import path_cmd

        path_cmd.register(sub)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BaseExceptionGroup as group:
        status = exit_codes.signal_exit(group)
        if status is None:
            raise
        return status


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser(argv).parse_args(argv)
    if getattr(args, "run", None) is not None:  # check, sniff
        return int(args.run(args))
    # Usage errors show the usage of the subcommand that was typed.
    parser, runner = args.runners[args.command]
    status: int = runner(args, parser)
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
