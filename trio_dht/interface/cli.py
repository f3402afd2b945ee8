"""Command line: ``python -m trio_dht demo|registry|node ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import trio

from trio_dht import __version__
from trio_dht.interface import check_cmd, demo_app, node_app, path_cmd, registry_app, sniff
from trio_dht.interface.console import make_console, setup_logging
from trio_dht.wire import DIALECT_NAMES

DESCRIPTION = """\
trio_dht: a Chord-like peer-to-peer overlay on trio. A registry admits
messaging nodes and gives each a routing table; nodes route random data
packets to random sinks; the registry proves nothing was lost."""

EPILOG = """\
examples:
  python -m trio_dht demo                      # registry + 10 nodes, 250,000 packets, live table
  python -m trio_dht demo --processes          # the same with one OS process per node
  python -m trio_dht registry 5000             # then type commands: help
  python -m trio_dht node 127.0.0.1:5000       # in another terminal, once per node
  python -m trio_dht registry --nodes 10 --start 25000   # unattended run, exit status = verdict
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trio-dht",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"trio_dht {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--wire", choices=DIALECT_NAMES, default="cs455",
        help="wire dialect: cs455 (classic binary, the Java implementations; default) "
        "or minichord (protobuf, the Go implementations)",
    )  # fmt: skip
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")  # fmt: skip
    common.add_argument("-q", "--quiet", action="store_true", help="log errors only")

    demo = sub.add_parser(
        "demo", parents=[common], help="the whole task in one command, with a live table",
        description="Run a registry and K messaging nodes on loopback, the whole task, "
        "and the live traffic table.\n\n" + demo_app.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    demo_app.add_arguments(demo)

    registry = sub.add_parser(
        "registry", parents=[common], help="run the registry",
        description="Run the registry. Commands are read from stdin (type 'help'); "
        "end of input leaves it running until 'exit' or a signal.\n\n" + registry_app.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    registry_app.add_arguments(registry)

    node = sub.add_parser(
        "node", parents=[common], help="run a messaging node",
        description="Run a messaging node that joins the registry at HOST:PORT. It listens "
        "on a port the OS picks. Commands are read from stdin.\n\n" + node_app.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    node_app.add_arguments(node)
    check_cmd.register(sub)  # check and sniff bring their own options and runner
    sniff.register(sub)
    path_cmd.register(sub)  # offline: explain a route
    parser.set_defaults(subparsers={"demo": demo, "registry": registry, "node": node})
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "run", None) is not None:  # check, sniff
        return int(args.run(args))
    # Usage errors show the usage of the subcommand that was typed.
    parser = args.subparsers[args.command]
    setup_logging(-1 if args.quiet else args.verbose, make_console())
    if args.command == "demo":
        problem = demo_app.check_arguments(args)
        if problem is not None:
            parser.error(problem)
        status = trio.run(demo_app.DemoApp(args).main)
    elif args.command == "registry":
        if args.nr < 1 or args.nodes < 1 or args.runs < 1:
            parser.error("--nodes, --nr and --runs must be at least 1")
        if args.start is not None and args.start < 0:
            parser.error("--start must not be negative")
        status = trio.run(registry_app.RegistryApp(args).main)
    else:
        try:
            host, port = node_app.registry_address(args)
        except ValueError as exc:
            parser.error(str(exc))
        status = trio.run(node_app.NodeApp(args, host, port).main)
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
