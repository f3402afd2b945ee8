"""``trio_dht path``: explain one route offline, from a list of ids and NR.

No registry, no sockets: the same tables and forwarding rule the nodes use,
applied to the ring given on the command line.
"""

from __future__ import annotations

import argparse
import re

from trio_dht.overlay import OverlayError
from trio_dht.overlay.analysis import describe_route

DESCRIPTION = """\
Explain the route a data packet takes from SRC to DST on a ring of the given
identifiers with routing tables of NR entries: every hop with the clockwise
distance left to DST, the table of the node holding the packet (each entry with
its distance), and why that entry was chosen (DST itself when it is in the
table, otherwise the farthest entry that does not pass DST). Works offline: no
registry or node is contacted. The registry console has the same command
(path SRC DST) for the overlay it set up."""

EPILOG = """\
example (the worked example of the specification):
  python -m trio_dht path --ids 4,18,19,33,60,82,97,119 --nr 3 97 82
prints
  Route 97 -> 82 on 8 nodes, NR 3: 97 -> 19 -> 60 -> 82 (3 hops, 2 relays)
followed by two lines per hop."""


def parse_ids(text: str) -> list[int]:
    """``4,18,19`` or ``"4 18 19"`` -> [4, 18, 19]; an argparse type."""
    words = [w for w in re.split(r"[,\s]+", text) if w]
    if not words:
        raise argparse.ArgumentTypeError("no identifiers given")
    try:
        return [int(w) for w in words]
    except ValueError:
        bad = next(w for w in words if not w.lstrip("-").isdigit())
        raise argparse.ArgumentTypeError(
            f"{bad!r} is not an identifier (whole numbers 0..127, separated by commas)"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ids", type=parse_ids, required=True, metavar="ID,ID,...",
        help="the identifiers on the ring, separated by commas (or spaces, quoted)",
    )  # fmt: skip
    parser.add_argument("--nr", type=int, default=3,
                        help="routing table size (default 3)")  # fmt: skip
    parser.add_argument("source", type=int, metavar="SRC", help="the node that originates")
    parser.add_argument("destination", type=int, metavar="DST", help="the sink")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``path`` to the command line."""
    parser = sub.add_parser(
        "path", help="explain the route between two ids, offline (no network)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add_arguments(parser)
    parser.set_defaults(run=main, path_parser=parser)


def main(args: argparse.Namespace) -> int:
    """Print the explained route on stdout; a bad ring, NR or id is a usage error
    (message on stderr, exit status 2, no traceback)."""
    try:
        lines = describe_route(args.ids, args.nr, args.source, args.destination)
    except OverlayError as exc:
        args.path_parser.error(str(exc))
    print("\n".join(lines))
    return 0
