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

import trio

from trio_dht import __version__
from trio_dht.interface import (
    check_cmd,
    demo_app,
    exit_codes,
    figure_options,
    node_app,
    path_cmd,
    registry_app,
    sniff,
)
from trio_dht.interface.options import (
    HelpFormatter,
    check_demo,
    check_registry,
    demo_arguments,
    node_arguments,
    registry_arguments,
    subcommand_help,
)
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


def run_demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    problem = check_demo(args) or figure_options.check_run_arguments(args)
    if problem is not None:
        parser.error(problem)
    return trio.run(demo_app.DemoApp(args).main)


def run_registry(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    problem = check_registry(args) or figure_options.check_run_arguments(args)
    if problem is not None:
        parser.error(problem)
    return trio.run(registry_app.RegistryApp(args).main)


def run_node(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        host, port = node_app.registry_address(args)
    except ValueError as exc:
        parser.error(str(exc))
    return trio.run(node_app.NodeApp(args, host, port).main)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trio-dht", description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"trio_dht {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common()
    runners: dict[str, tuple[argparse.ArgumentParser, Runner]] = {}

    def register(
        name: str, summary: str, runner: Runner, **kwargs: object
    ) -> argparse.ArgumentParser:
        """One subcommand: its parser (options are added by the caller)."""
        command = sub.add_parser(name, parents=[common], help=summary, **kwargs)  # type: ignore[arg-type]
        runners[name] = (command, runner)
        return command

    demo = register(
        "demo", "the whole task in one command, with a live table", run_demo,
        **subcommand_help(demo_app.HELP, demo_app.EXAMPLES, exit_codes.HELP),
    )  # fmt: skip
    demo_arguments(demo)
    figure_options.add_run_arguments(demo, seed=True)
    registry = register(
        "registry", "run the registry", run_registry,
        **subcommand_help(
            REGISTRY_HELP, registry_app.HELP, REGISTRY_EXAMPLES, exit_codes.HELP
        ),
    )  # fmt: skip
    registry_arguments(registry)
    figure_options.add_run_arguments(registry, seed=True)
    node = register(
        "node", "run a messaging node", run_node,
        **subcommand_help(NODE_HELP, node_app.HELP, node_app.EXAMPLES, exit_codes.HELP),
    )  # fmt: skip
    node_arguments(node)
    # More subcommands register here, the same way: register(name, summary,
    # runner, **subcommand_help(...)), then add their options.
    check_cmd.register(sub)  # check and sniff bring their own options and runner
    sniff.register(sub)
    path_cmd.register(sub)  # offline: explain a route
    parser.set_defaults(runners=runners)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "run", None) is not None:  # check, sniff
        return int(args.run(args))
    # Usage errors show the usage of the subcommand that was typed.
    parser, runner = args.runners[args.command]
    status: int = runner(args, parser)
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
