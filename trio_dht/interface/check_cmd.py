"""``trio_dht check node|registry``: grade a foreign implementation, case by case."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import trio
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from trio_dht.checker.capture import direction_of, vector_line
from trio_dht.checker.node_catalogue import DEFAULT_COUNT, NodeCheckConfig, overlay_size
from trio_dht.checker.node_checker import NodeChecker
from trio_dht.checker.node_links import Recorded
from trio_dht.checker.registry_checker import RegistryCheckConfig, RegistryChecker
from trio_dht.checker.report import Grade, Report
from trio_dht.interface.options import node_limit
from trio_dht.transport import parse_address
from trio_dht.wire import DIALECT_NAMES

NODE_HELP = """\
The checker plays the registry and the other nodes of a 10-node overlay, and
starts --count copies of COMMAND (default 3) with {host} and {port} replaced
by the address of its registry, one after the other. The copies take
neighbouring places on the ring, so they route to one another; every data
frame still passes the checker, which grades each copy on its own and passes
on what one copy sends another. Then: registration, setup, packets handed to
the copies while they run a task of --packets packets together, the summary,
a second run of --second-packets, a setup with an unreachable entry, leaving
(it types --exit-command at each copy's stdin), and robustness frames at a
fresh process of copy 1. Every step is bounded (--timeout): a copy that
hangs fails its case and drops out while the others go on, and every copy's
process group is ended at the end.

--count: 3 by default, the fewest for a route from one copy through a second
to a third; 1 checks a single node among the checker's nine. With 10 or more
copies the overlay grows to count + 1 nodes (one stays the checker's).

{copy} in COMMAND becomes each copy's number (1, 2, ...), for separate log
files or settings per copy.

The table has one row per case with the worst result any copy got, and its
detail names the copies that got it ("copy 2 (id 45, pid 1234): ..."); every
copy's own result and evidence are in --json under "copies".

example:
  python -m trio_dht check node --wire cs455 -- java -cp build \\
      cs455.overlay.node.MessagingNode {host} {port}

Exit status 0 when no strict case failed, 1 when one did, 2 on a usage error."""

REGISTRY_HELP = """\
The checker registers its own nodes (--nodes, default 10), tries the refusals
(a spoofed address, a duplicate, a deregistration of another node's id, a
second deregistration), has 'setup-overlay NR' and 'start N' typed at the
registry (by itself with --spawn; otherwise it tells you what to type),
checks every manifest against the formula and when the summaries are asked
for: its nodes hold back their last packets for --hold seconds after they
report finished, so a registry that does not wait for them is caught.

examples:
  python -m trio_dht check registry 127.0.0.1:5000
  python -m trio_dht check registry --spawn -- python -m trio_dht registry {port}

Exit status 0 when no strict case failed, 1 when one did, 2 on a usage error."""

STYLES = {
    Grade.PASS: "green",
    Grade.FAIL: "bold red",
    Grade.NON_STRICT: "yellow",
    Grade.INFORMATIONAL: "cyan",
}


def add_node_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wire", choices=DIALECT_NAMES, default="cs455",
                        help="the dialect the node speaks (default cs455)")  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1",
                        help="address the checker listens on (default 127.0.0.1)")  # fmt: skip
    parser.add_argument("--count", type=int, default=None,
                        help=f"copies of the node to start (default {DEFAULT_COUNT}: enough "
                        "for routes through several copies, see below; 1 with --per-message)")  # fmt: skip
    parser.add_argument("--packets", type=int, default=3000,
                        help="packets per node in the first run (default 3000)")  # fmt: skip
    parser.add_argument("--second-packets", type=int, default=500,
                        help="packets per node in the second run (default 500)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds each step may take (default 10)")  # fmt: skip
    parser.add_argument("--startup-timeout", type=float, default=20.0,
                        help="seconds until the node must register (default 20)")  # fmt: skip
    parser.add_argument("--exit-command", default="exit-overlay",
                        help="what to type at the node to make it leave (default exit-overlay)")  # fmt: skip
    parser.add_argument("--seed", type=int, help="seed for ids and packets (repeatable runs)")
    parser.add_argument("--per-message", action="store_true",
                        help="the node reads one frame per connection (the seed's Go port): "
                        "send each control message and packet on a fresh connection")  # fmt: skip
    add_output_arguments(parser)
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                        help="how to start the node; {host} and {port} are filled in, "
                        "{copy} with the copy's number (1..count)")  # fmt: skip


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="FILE", help="write every case and its evidence")
    parser.add_argument("--capture", metavar="FILE",
                        help="write every frame as JSON lines in the wire-vector format")  # fmt: skip


def node_problem(args: argparse.Namespace) -> str | None:
    """A usage error in ``args``, or None."""
    command = _command(args.command)
    if not command:
        return "give the command that starts the node after --"
    if not any("{port}" in word for word in command):
        return "the node command must contain {port} (and usually {host})"
    if args.count is None:
        # One-message connections cannot say which copy sent them.
        args.count = 1 if args.per_message else DEFAULT_COUNT
    # One node must stay the checker's (see overlay_size).
    limit = node_limit(args.wire) - 1
    if not 1 <= args.count <= limit:
        return f"--count must be between 1 and {limit} with --wire {args.wire}, not {args.count}"
    if args.count > 1 and args.per_message:
        return (
            "--per-message works with --count 1 only: one-message connections do not "
            "say which copy sent them"
        )
    if args.packets < 1 or args.second_packets < 1 or args.timeout <= 0:
        return "--packets, --second-packets and --timeout must be positive"
    return None


def _command(words: Sequence[str]) -> list[str]:
    return list(words[1:] if words and words[0] == "--" else words)


def run_node_check(args: argparse.Namespace) -> int:
    config = NodeCheckConfig(
        command=tuple(_command(args.command)),
        wire=args.wire,
        host=args.host,
        packets=args.packets,
        second_packets=args.second_packets,
        timeout=args.timeout,
        startup_timeout=args.startup_timeout,
        exit_command=args.exit_command,
        seed=args.seed,
        per_message=args.per_message,
        count=args.count,
    )
    checker = NodeChecker(config)
    print(f"check node: {config.wire}, {config.count} of {overlay_size(config.count)} nodes: "
          f"{' '.join(config.command)}", file=sys.stderr, flush=True)  # fmt: skip
    report = trio.run(checker.run)
    return finish(report, checker.frames, args)


def finish(report: Report, frames: list[Recorded], args: argparse.Namespace) -> int:
    """Show ``report``, write the files asked for, return the exit status."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=max(console.width, 140), no_color=True)
    console.print(report_table(report))
    console.print(totals_line(report))
    for case in report.failed:
        if case.evidence:
            console.print(f"{case.number}: {case.evidence[0]}", markup=False, soft_wrap=True)
    try:
        if args.json:
            with open(args.json, "w", encoding="utf-8") as out:
                out.write(report.dumps() + "\n")
        if args.capture:
            with open(args.capture, "w", encoding="utf-8") as out:
                for recorded in frames:
                    event = recorded.event
                    direction = direction_of(event.message) if event.message else recorded.direction
                    out.write(vector_line(report.wire, event, recorded.where, direction) + "\n")
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return report.exit_status


def report_table(report: Report) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=f"check {report.kind} ({report.wire})")
    table.add_column("case", justify="right")
    table.add_column("result")
    table.add_column("description")
    table.add_column("detail", overflow="fold")
    for case in report.sorted_cases():
        result = Text(case.grade.value, style=STYLES[case.grade])
        table.add_row(case.number, result, case.title, case.detail)
    return table


def totals_line(report: Report) -> str:
    t = report.totals()
    verdict = "FAILED" if report.failed else "PASSED"
    return (
        f"{verdict}: {t['pass']} passed, {t['fail']} failed, {t['non-strict']} non-strict, "
        f"{t['informational']} informational in {report.seconds:.1f} s"
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``check node`` and ``check registry`` to the command line."""
    check = sub.add_parser(
        "check", help="grade another implementation of the overlay, case by case",
        description="Grade a messaging node or a registry of any implementation "
        "against the behaviour of SYSTEM.md, case by case (pass, fail, non-strict, "
        "informational), with the frames as evidence.",
    )  # fmt: skip
    kinds = check.add_subparsers(dest="check_kind", metavar="KIND", required=True)
    node = kinds.add_parser(
        "node", help="check a messaging node, started from its command line",
        description="Check a messaging node.\n\n" + NODE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add_node_arguments(node)
    add_logging_arguments(node)
    node.set_defaults(run=main, check_parser=node)
    registry = kinds.add_parser(
        "registry", help="check a registry, running (HOST:PORT) or started (--spawn)",
        description="Check a registry.\n\n" + REGISTRY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add_registry_arguments(registry)
    add_logging_arguments(registry)
    registry.set_defaults(run=main, check_parser=registry)


def add_registry_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spawn", action="store_true",
                        help="start the registry from the command after --, {port} filled in")  # fmt: skip
    parser.add_argument("--wire", choices=DIALECT_NAMES, default="cs455",
                        help="the dialect the registry speaks (default cs455)")  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1",
                        help="address of the checker's nodes (default 127.0.0.1)")  # fmt: skip
    parser.add_argument("--nodes", type=int, default=10, help="nodes to register (default 10)")
    parser.add_argument("--nr", type=int, default=3, help="routing table size (default 3)")
    parser.add_argument("--packets", type=int, default=200,
                        help="packets per node to start (default 200)")  # fmt: skip
    parser.add_argument("--hold", type=float, default=2.0,
                        help="seconds each node holds back its last packets (default 2)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds each step may take (default 10; 120 when typing)")  # fmt: skip
    parser.add_argument("--summary-timeout", type=float, default=40.0,
                        help="seconds to wait for the summary requests (default 40)")  # fmt: skip
    parser.add_argument("--seed", type=int, help="seed for packets (repeatable runs)")
    parser.add_argument("--per-message", action="store_true",
                        help="the registry reads one frame per connection (the seed's Go port): "
                        "send each message to it on a fresh connection")  # fmt: skip
    parser.add_argument("--json", metavar="FILE", help="write every case and its evidence")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="HOST:PORT | -- COMMAND",
                        help="a running registry, or with --spawn how to start one")  # fmt: skip


def run_registry_check(args: argparse.Namespace) -> int:
    host, port = args.host, 0
    words = _command(args.command)
    if not args.spawn:
        host, port = parse_address(words[0])
    config = RegistryCheckConfig(
        host=host, port=port, spawn=tuple(words) if args.spawn else (),
        wire=args.wire, nodes=args.nodes, nr=args.nr, packets=args.packets, hold=args.hold,
        timeout=args.timeout, summary_timeout=args.summary_timeout, seed=args.seed,
        per_message=args.per_message,
    )  # fmt: skip
    print(f"check registry: {config.wire}, {' '.join(words)}",
          file=sys.stderr, flush=True)  # fmt: skip
    report = trio.run(RegistryChecker(config).run)
    args.capture = None
    return finish(report, [], args)


def registry_problem(args: argparse.Namespace) -> str | None:
    words = _command(args.command)
    if args.spawn and not words:
        return "give the command that starts the registry after --"
    if not args.spawn:
        if len(words) != 1:
            return "give HOST:PORT of a running registry, or --spawn -- COMMAND"
        try:
            parse_address(words[0])
        except ValueError as exc:
            return str(exc)
    if args.nodes < 2 or args.nr < 1 or args.packets < 1 or args.timeout <= 0:
        return "--nodes must be at least 2; --nr, --packets and --timeout positive"
    return None


def log_to_stderr(args: argparse.Namespace) -> None:
    """Plain log lines on stderr: -q errors only, default warnings, -v info, -vv debug."""
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO)[min(args.verbose, 1)]
    if args.verbose >= 2:
        level = logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip


def add_logging_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true", help="log errors only")


def main(args: argparse.Namespace) -> int:
    log_to_stderr(args)
    if args.check_kind == "node":
        problem = node_problem(args)
        if problem is not None:
            args.check_parser.error(problem)
        return run_node_check(args)
    problem = registry_problem(args)
    if problem is not None:
        args.check_parser.error(problem)
    return run_registry_check(args)
