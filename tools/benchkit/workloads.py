"""The benchmark's workloads: their sizes (full and --quick), one ``Case``
per measured configuration, and which cases a dialect cannot carry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchkit import HOST
from trio_dht.overlay import max_nr, validate_nr
from trio_dht.overlay.tables import OverlayError

WIRES = ("cs455", "minichord")
WORKLOADS = ("classic", "steady", "scale")
MODES = ("inproc", "procs")

# Full-size workloads.
CLASSIC = (10, 3, 25_000)
STEADY = (10, 3, 100_000)
SCALE_NODES = (10, 32, 64, 128)
SCALE_PACKETS = 10_000
# --quick: tiny counts that only prove the tool still works (CI).
QUICK_PACKETS = 200
QUICK_CLASSIC = (5, 3)
QUICK_STEADY = (5, 3)
QUICK_SCALE_NODES = (4, 8)


@dataclass(frozen=True)
class Case:
    """One workload configuration: measured ``repeats`` times, one record."""

    workload: str
    wire: str
    mode: str  # "inproc": registry + nodes in one process; "procs": a process per node
    nodes: int
    nr: int
    packets: int

    @property
    def label(self) -> str:
        return (
            f"{self.workload} {self.wire} {self.mode} N={self.nodes} NR={self.nr} x{self.packets:,}"
        )


def scale_nrs(n: int) -> list[int]:
    """The largest NR that ``n`` nodes allow, and NR 3 if valid (no repeats)."""
    nrs = [max_nr(n)]
    try:
        validate_nr(3, n)
        nrs.append(3)
    except OverlayError:
        pass
    return sorted(set(nrs), reverse=True)


def build_cases(
    workloads: Sequence[str],
    wires: Sequence[str],
    modes: Sequence[str],
    *,
    quick: bool,
    scale_nodes: Sequence[int] | None = None,
) -> list[Case]:
    cases: list[Case] = []

    def add(workload: str, mode: str, nodes: int, nr: int, packets: int) -> None:
        if mode not in modes:
            return
        for wire in wires:  # dialects side by side, for the comparison
            cases.append(Case(workload, wire, mode, nodes, nr, packets))

    if "classic" in workloads:
        nodes, nr, packets = (*QUICK_CLASSIC, QUICK_PACKETS) if quick else CLASSIC
        # The classic run is one OS process per node, whatever --mode says
        # (unless --mode excludes processes altogether).
        add("classic", "procs", nodes, nr, packets)
    if "steady" in workloads:
        nodes, nr, packets = (*QUICK_STEADY, QUICK_PACKETS) if quick else STEADY
        for mode in MODES:
            add("steady", mode, nodes, nr, packets)
    if "scale" in workloads:
        sizes = scale_nodes or (QUICK_SCALE_NODES if quick else SCALE_NODES)
        packets = QUICK_PACKETS if quick else SCALE_PACKETS
        for n in sizes:
            for nr in scale_nrs(n):
                for mode in MODES:
                    add("scale", mode, n, nr, packets)
    return cases


def default_timeout(case: Case) -> float:
    """Generous: a slow machine passes, a hang still ends."""
    total = case.nodes * case.packets
    startup = case.nodes * (1.0 if case.mode == "procs" else 0.05)
    return 60.0 + startup + total / 20_000


def unsupported(case: Case) -> str | None:
    """Why the case's dialect cannot carry its overlay at all (the manifest
    does not encode), or None. Asks the dialect's own encoder."""
    from trio_dht.overlay import routing_tables
    from trio_dht.wire import WireError, get_dialect
    from trio_dht.wire.messages import NodeManifest, PeerEntry

    ids = tuple(range(case.nodes))
    try:
        entries = routing_tables(ids, case.nr)[0]
        manifest = NodeManifest(tuple(PeerEntry(e, HOST, 40000 + e) for e in entries), ids)
        get_dialect(case.wire).encode(manifest)
    except (WireError, OverlayError) as exc:
        return str(exc)
    return None
