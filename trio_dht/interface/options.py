"""Command-line checks shared by the subcommands: everything that can be
refused before a socket is opened is refused then, with a message that
says what would be valid.

Also the help formatter: descriptions are wrapped to the terminal, while
indented blocks (examples, command lists, exit statuses) are kept as
written.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path
from typing import NoReturn

from trio_dht.interface.summary_formats import FORMATS
from trio_dht.overlay import max_nr
from trio_dht.wire import DEFAULT_MAX_FRAME

# The classic manifest counts ids in a signed byte (Java reads it signed).
CS455_MAX_NODES = 127
MAX_NODES = 128
# setup without NR: the largest valid NR, but no more than this.
DEFAULT_NR = 3


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1..65535, or 0 for any free port."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"port {port} is out of range: use 1..65535, or 0 for any free port"
        )
    return port


def positive_seconds(text: str) -> float:
    """argparse type: a number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} must be 0 or more seconds")
    return value


def node_limit(wire: str) -> int:
    """How many nodes one overlay may have in this dialect."""
    return CS455_MAX_NODES if wire == "cs455" else MAX_NODES


def check_nodes(nodes: int, wire: str, option: str = "--nodes") -> str | None:
    limit = node_limit(wire)
    if not 2 <= nodes <= limit:
        why = " (the cs455 manifest counts nodes in a signed byte)" if wire == "cs455" else ""
        return f"{option} must be between 2 and {limit} with --wire {wire}{why}, not {nodes}"
    return None


def default_nr(nodes: int) -> int:
    """The largest valid NR for ``nodes`` nodes, at most DEFAULT_NR (0 when
    fewer than 2 nodes)."""
    return min(DEFAULT_NR, max_nr(nodes))


def check_nr(nr: int, nodes: int) -> str | None:
    """NR must satisfy 1 <= NR and 2**(NR-1) < N."""
    limit = max_nr(nodes)
    if not 1 <= nr <= limit:
        return (
            f"--nr {nr} is not valid for {nodes} nodes: NR must be between 1 and {limit} "
            f"(a table's entries are 1, 2, 4, ... 2**(NR-1) positions ahead, "
            f"all below N)"
        )
    return None


def check_packets(packets: int, option: str) -> str | None:
    if not 0 <= packets <= 0x7FFFFFFF:
        return f"{option} must be between 0 and 2147483647, not {packets}"
    return None


class CompactParser(argparse.ArgumentParser):
    """A subcommand's parser whose usage errors fit a line or two: the full
    synopsis of twenty options, wrapped to 80 columns, buried the one line
    that says what was wrong. ``--help`` still shows everything."""

    def format_usage(self) -> str:
        words = [self.prog, "[options]"]
        for action in self._get_positional_actions():
            if action.help == argparse.SUPPRESS:
                continue
            name = action.metavar if isinstance(action.metavar, str) else action.dest
            optional = action.nargs in ("?", "*")
            words.append(f"[{name}]" if optional else str(name))
        return "usage: " + " ".join(words) + "\n"

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(
            2, f"{self.prog}: error: {message}\n(see '{self.prog} --help' for every option)\n"
        )


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose paragraphs to the terminal; keeps indented lines (examples,
    tables) and lines ending in ':' as they are."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks = re.split(r"\n\s*\n", text.strip("\n"))
        out: list[str] = []
        for block in blocks:
            lines = block.splitlines()
            if any(line.startswith(" ") for line in lines) or lines[0].endswith(":"):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(
                    textwrap.fill(
                        " ".join(line.strip() for line in lines),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                    )
                )
        return "\n\n".join(out)


def subcommand_help(summary: str, *blocks: str) -> dict[str, object]:
    """keyword arguments for ``add_parser``: description, epilog, formatter."""
    return {
        "description": summary,
        "epilog": "\n\n".join(block.strip("\n") for block in blocks),
        "formatter_class": HelpFormatter,
    }


def registry_arguments(parser: argparse.ArgumentParser) -> None:
    """``registry``'s options."""
    parser.add_argument(
        "port", nargs="?", type=port_number, default=0,
        help="port to listen on, 1..65535 (default 0: any free port; the address is printed)",
    )  # fmt: skip
    parser.add_argument("--host", default=None, help="address to listen on (default: all)")
    auto = parser.add_argument_group(
        "unattended run",
        "With --start the registry drives whole runs itself, without reading commands, "
        "and exits with the verdict's status. --nodes, --nr, --runs and --timeout need "
        "--start.",
    )
    auto.add_argument("--start", type=int, default=None, metavar="N",
                      help="packets each node sends; enables the unattended run")  # fmt: skip
    auto.add_argument("--nodes", type=int, default=None, metavar="K",
                      help="wait for K nodes to register (default 10)")  # fmt: skip
    auto.add_argument("--nr", type=int, default=None,
                      help="routing table size (default: the largest valid, at most 3)")  # fmt: skip
    auto.add_argument("--runs", type=int, default=None, help="how many runs (default 1)")
    auto.add_argument("--timeout", type=positive_seconds, default=None, metavar="SECONDS",
                      help="give up after this many seconds (default: never)")  # fmt: skip
    add_output_arguments(parser, live_option=True)
    add_tuning_arguments(parser)
    add_limit_arguments(parser)


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    limits = parser.add_argument_group("limits against broken or hostile peers")
    limits.add_argument(
        "--max-frame", type=int, default=DEFAULT_MAX_FRAME, metavar="BYTES",
        help="a cap on a frame's length below the dialect's own limits per message type "
        "(a data frame cannot be longer than its header and a 128-id trace); a longer "
        "claimed length closes the connection before its body is read (default: the "
        "dialect's limits alone)",
    )  # fmt: skip
    limits.add_argument(
        "--idle-timeout", type=float, default=10.0, metavar="SECONDS",
        help="a connection must register a node within this time of opening, whatever it "
        "sends meanwhile; a started frame must also complete within it (default 10)",
    )  # fmt: skip
    limits.add_argument(
        "--max-pending", type=int, default=256, metavar="N",
        help="at most this many connections that have not registered a node; more hear "
        "'registry busy' and are closed (default 256)",
    )  # fmt: skip
    limits.add_argument(
        "--max-pending-per-host", type=int, default=160, metavar="N",
        help="the same, from one source address (default 160)",
    )  # fmt: skip
    limits.add_argument(
        "--max-connections", type=int, default=None, metavar="N",
        help="accepted connections at once; beyond it accepting waits (the kernel's backlog "
        "holds the dialler) and the longest-idle stranger makes room (default: three "
        "quarters of the descriptor limit less 64, at most 1024)",
    )  # fmt: skip
    limits.add_argument(
        "--no-probe", action="store_true",
        help="admit a registration without first connecting to the node's listening port "
        "(by default a node that cannot be reached there is refused)",
    )  # fmt: skip
    limits.add_argument(
        "--per-message-nodes", action="store_true",
        help="dial every node for every message, for nodes of the one-message-per-connection "
        "kind. Rarely needed: a node that does not answer its manifest on its registration "
        "connection within --manifest-timeout is dialled from then on anyway",
    )  # fmt: skip


def add_output_arguments(parser: argparse.ArgumentParser, *, live_option: bool) -> None:
    output = parser.add_argument_group(
        "output",
        "Results (the summary, the verdict) go to stdout; progress, the live table, "
        "registrations and logs to stderr.",
    )
    if live_option:
        # Kept for old scripts: every run now shows its progress.
        output.add_argument("--live", action="store_true", help=argparse.SUPPRESS)
    output.add_argument(
        "--summary", choices=FORMATS, default="table",
        help="table (default: for people), json (stdout is one JSON document) or csv "
        "(stdout is one CSV table); the verdict is a field of json and csv",
    )  # fmt: skip
    output.add_argument(
        "--output", type=Path, default=None, metavar="FILE",
        help="write the summary to FILE instead of stdout (stdout keeps the verdict line)",
    )  # fmt: skip


def add_tuning_arguments(parser: argparse.ArgumentParser) -> None:
    tuning = parser.add_argument_group("run end detection")
    tuning.add_argument(
        "--grace", type=float, default=15.0, metavar="SECONDS",
        help="with classic nodes that do not report progress, how long to wait after the last "
        "task-finished report before asking for summaries (default 15)",
    )  # fmt: skip
    tuning.add_argument(
        "--progress-interval", type=float, default=0.05, metavar="SECONDS",
        help="how often trio_dht nodes report progress during a run (default 0.05)",
    )  # fmt: skip
    tuning.add_argument(
        "--stall-timeout", type=float, default=10.0, metavar="SECONDS",
        help="with every node answering and no counter moving for this long, take the "
        "missing packets as lost and ask for summaries (default 10: packets may wait in "
        "the kernel, e.g. on links a flooded node has not accepted yet)",
    )  # fmt: skip
    tuning.add_argument(
        "--unresponsive-after", type=float, default=5.0, metavar="SECONDS",
        help="name a trio_dht node silent this long during a run (stopped or swapped out); "
        "it is waited for, not counted as a loss (default 5)",
    )  # fmt: skip
    tuning.add_argument(
        "--run-timeout", type=float, default=60.0, metavar="SECONDS",
        help="give up on a run after this long without any progress; the verdict names the "
        "nodes that stopped answering (default 60). The console's 'abort' ends a run at once",
    )  # fmt: skip
    tuning.add_argument(
        "--manifest-timeout", type=float, default=1.5, metavar="SECONDS",
        help="a node that has not answered its manifest on its registration connection "
        "within this time is dialled for every message from then on (default 1.5)",
    )  # fmt: skip


def check_registry(args: argparse.Namespace) -> str | None:
    """A usage error, or None. Fills in the unattended defaults."""
    if args.start is None:
        names = ("nodes", "nr", "runs", "timeout")
        given = [name for name in names if getattr(args, name) is not None]
        if given:
            flags = ", ".join(f"--{name}" for name in given)
            return f"{flags} only apply to an unattended run: add --start N"
        args.nodes, args.runs, args.timeout = 10, 1, 0.0
        return None
    args.nodes = 10 if args.nodes is None else args.nodes
    args.runs = 1 if args.runs is None else args.runs
    args.timeout = 0.0 if args.timeout is None else args.timeout
    problem = check_nodes(args.nodes, args.wire) or check_packets(args.start, "--start")
    if problem is None and args.runs < 1:
        problem = f"--runs must be at least 1, not {args.runs}"
    if problem is None:
        if args.nr is None:
            args.nr = default_nr(args.nodes)
        problem = check_nr(args.nr, args.nodes)
    return problem


DEMO_NODES = 10
DEMO_PACKETS = 25_000


def demo_arguments(parser: argparse.ArgumentParser) -> None:
    """``demo``'s options."""
    parser.add_argument("--nodes", type=int, default=DEMO_NODES, metavar="K",
                        help=f"how many messaging nodes (default {DEMO_NODES})")  # fmt: skip
    parser.add_argument("--nr", type=int, default=None,
                        help="routing table size (default: the largest valid, at most 3)")  # fmt: skip
    parser.add_argument(
        "--packets", "--start", dest="packets", type=int, default=DEMO_PACKETS, metavar="N",
        help=f"packets each node sends (default {DEMO_PACKETS:,})",
    )  # fmt: skip
    parser.add_argument(
        "--processes", action="store_true",
        help="run each node as its own OS process (default: all nodes inside this process)",
    )  # fmt: skip
    parser.add_argument(
        "--stay", action="store_true",
        help="with stdin a terminal: after the verdict keep the overlay up and accept "
        "registry commands until 'exit'",
    )  # fmt: skip
    parser.add_argument("--timeout", type=positive_seconds, default=0, metavar="SECONDS",
                        help="give up after this many seconds (default 0: never)")  # fmt: skip
    add_output_arguments(parser, live_option=False)
    add_tuning_arguments(parser)


def check_demo(args: argparse.Namespace) -> str | None:
    """A usage error, or None. Fills in --nr."""
    problem = check_nodes(args.nodes, args.wire) or check_packets(args.packets, "--packets")
    if problem is None:
        if args.nr is None:
            args.nr = default_nr(args.nodes)
        problem = check_nr(args.nr, args.nodes)
    return problem


def node_arguments(parser: argparse.ArgumentParser) -> None:
    """``node``'s options."""
    parser.add_argument(
        "registry", help="the registry's address: HOST:PORT (or HOST PORT, or just PORT)"
    )
    parser.add_argument("registry_port", nargs="?", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--retry", type=positive_seconds, default=0, metavar="SECONDS",
        help="keep trying to reach the registry for this long (it may still be starting); "
        "default 0: one attempt",
    )  # fmt: skip
    parser.add_argument(
        "--answer-timeout", type=positive_seconds, default=15.0, metavar="SECONDS",
        help="how long the registry may take to answer the registration once connected "
        "(default 15: a registry under a connection flood may take seconds to accept)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=None, metavar="S",
        help="draw this node's sinks and payloads from a generator seeded with S and its "
        "id: the same S and id give the same traffic",
    )  # fmt: skip
    peers = parser.add_argument_group("other implementations")
    peers.add_argument(
        "--per-message-peers",
        action="store_true",
        help="send data to routing-table peers on a fresh connection per packet. Needed only "
        "when the overlay includes nodes of the one-message-per-connection kind (the seed's "
        "Go port), which read one frame per connection; nothing in the traffic tells. Slower",
    )
    peers.add_argument(
        "--per-message-registry",
        action="store_true",
        help="take the registry for one of the one-message-per-connection kind from the "
        "start: accept its control only on fresh connections from its host and dial it for "
        "every answer. Rarely needed: control dialled in from the registry's host before "
        "any on the registration connection tells it",
    )
    peers.add_argument(
        "--cs455-address",
        choices=("raw", "text"),
        default="raw",
        help="how cs455 messages carry our address: raw bytes (the canonical layout, "
        "default) or dotted text, for classic registries of the text-address variant "
        "(a refusal that quotes our address back as raw bytes suggests it)",
    )
    limits = parser.add_argument_group("limits against broken or hostile peers")
    limits.add_argument(
        "--max-frame", type=int, default=DEFAULT_MAX_FRAME, metavar="BYTES",
        help="a cap on a frame's length below the dialect's own limits per message type "
        "(default: the dialect's limits alone)",
    )  # fmt: skip
    limits.add_argument(
        "--frame-timeout", type=float, default=10.0, metavar="SECONDS",
        help="a started frame must complete within this time (default 10)",
    )  # fmt: skip
    limits.add_argument(
        "--max-incoming", type=int, default=None, metavar="N",
        help="incoming connections at once; beyond it accepting waits (the dialler waits in "
        "the kernel's backlog: nothing is accepted and dropped) and the longest-idle "
        "connection that never carried a frame makes room (default: three quarters of the "
        "descriptor limit less 64, at most 1024)",
    )  # fmt: skip
    limits.add_argument(
        "--incoming-idle-timeout", type=float, default=30.0, metavar="SECONDS",
        help="close incoming connections silent this long, except as many as the overlay "
        "has links into this node (those opened nearest its manifest: a peer's link may "
        "stay silent until the run) (default 30)",
    )  # fmt: skip
