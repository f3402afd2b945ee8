"""One figure of a run, three panels: the ring, relays per packet, load per node.

``figure_data`` builds everything that is plotted from the run's result, the
ring and NR (pure, so tests compare it with the run's counters);
``draw_figure`` draws it with matplotlib. matplotlib is an optional extra
(``pip install 'trio_dht[plot]'``) imported only inside the drawing
function, so the base install never needs it. The drawing uses a bare
``Figure`` (Agg for .png, the SVG backend for .svg), never pyplot: no global
backend or figure state, no display.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from trio_dht.overlay import ID_SPACE, routing_tables
from trio_dht.overlay.analysis import distribution_mean, relay_distribution
from trio_dht.services.report import RunResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

PLOT_HINT = "pip install 'trio_dht[plot]'"
SUFFIXES = (".svg", ".png")


class FigureError(Exception):
    """The figure cannot be written; the message is meant for a person."""


@attrs.frozen
class Chord:
    """A routing-table entry: ``source`` forwards to ``target`` on it."""

    source: int
    target: int
    load: int | None
    """Packets carried in the run; None when unknown (its node does not report loads)."""


@attrs.frozen
class NodeLoad:
    node_id: int
    originated: int
    received: int
    relayed: int


@attrs.frozen
class FigureData:
    """Everything the three panels show."""

    ids: tuple[int, ...]
    nr: int
    title: str
    chords: tuple[Chord, ...]
    exact: Mapping[int, Fraction]
    """Relays per packet -> probability, over all (source, sink) pairs."""
    exact_mean: Fraction
    measured: Mapping[int, int] | None
    """Relays per delivered packet -> packets; None when not measured."""
    measured_mean: float | None
    """Relays per packet from the totals (relayed / received); None if nothing arrived."""
    relayed: int
    received: int
    loads: tuple[NodeLoad, ...]
    """Per node, sorted by id."""
    unmeasured: tuple[int, ...] = ()
    """Nodes whose link loads are unknown (classic peers report none)."""

    @property
    def link_loads_measured(self) -> bool:
        return any(c.load is not None for c in self.chords)

    @property
    def histogram_mean(self) -> float | None:
        """The mean of the measured histogram (None without one)."""
        packets = sum(self.measured.values()) if self.measured else 0
        if not self.measured or not packets:
            return None
        return sum(k * n for k, n in self.measured.items()) / packets


def plot_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def check_figure_path(path: str) -> str | None:
    """A usage problem with ``--figure PATH`` (suffix, missing matplotlib), or None."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        return f"{path}: a figure's file name must end in .svg or .png"
    if not plot_available():
        return f"figures need matplotlib, which is not installed: {PLOT_HINT}"
    return None


def figure_data(
    result: RunResult,
    ids: Iterable[int],
    nr: int,
    link_loads: Mapping[tuple[int, int], int] | None = None,
    relay_histogram: Mapping[int, int] | None = None,
    seed: int | None = None,
) -> FigureData:
    """The plotted data of one run on the ring ``ids`` with routing tables of ``nr``.

    ``link_loads``: (node, entry) -> packets from the nodes that measured
    them; a node with no key in it is unknown, not idle."""
    ring = tuple(sorted(ids))
    tables = routing_tables(ring, nr)
    measuring = {node for node, _ in link_loads or {}}
    chords = tuple(
        Chord(node, entry, (link_loads or {}).get((node, entry), 0) if node in measuring else None)
        for node in ring
        for entry in tables[node]
    )
    exact = relay_distribution(ring, nr)
    loads = tuple(
        NodeLoad(row.node_id, row.sent, row.received, row.relayed)
        for row in sorted(result.nodes, key=lambda row: row.node_id)
    )
    # The verdict's first words only: its list of problems can be any length.
    verdict = "CORRECT" if result.correct else "INCORRECT"
    title = (
        f"trio_dht run: {len(ring)} nodes, NR {nr}, {result.packets_per_node:,} packets "
        f"per node"
        + ("" if seed is None else f", seed {seed}")
        + f" - {verdict}: {result.sent:,} sent, {result.received:,} received"
    )
    return FigureData(
        ids=ring,
        nr=nr,
        title=title,
        chords=chords,
        exact=exact,
        exact_mean=distribution_mean(exact),
        measured=None if relay_histogram is None else dict(sorted(relay_histogram.items())),
        measured_mean=result.relays_per_packet if result.received else None,
        relayed=result.relayed,
        received=result.received,
        loads=loads,
        unmeasured=tuple(node for node in ring if node not in measuring),
    )


def write_figure(
    path: str,
    result: RunResult,
    ids: Iterable[int],
    nr: int,
    link_loads: Mapping[tuple[int, int], int] | None = None,
    relay_histogram: Mapping[int, int] | None = None,
    seed: int | None = None,
) -> FigureData:
    """Build the data and draw it to ``path``; FigureError on a problem."""
    problem = check_figure_path(path)
    if problem is not None:
        raise FigureError(problem)
    data = figure_data(result, ids, nr, link_loads, relay_histogram, seed)
    try:
        draw_figure(data, path)
    except OSError as exc:
        raise FigureError(f"cannot write the figure {path}: {exc.strerror or exc}") from None
    return data


# --- drawing ------------------------------------------------------------------


def _angle(node_id: int) -> float:
    """Id 0 at the top, ids growing clockwise (the direction packets travel)."""
    return math.pi / 2 - 2 * math.pi * node_id / ID_SPACE


def _xy(node_id: int, radius: float = 1.0) -> tuple[float, float]:
    a = _angle(node_id)
    return radius * math.cos(a), radius * math.sin(a)


def draw_figure(data: FigureData, path: str) -> None:
    """Draw the three panels into ``path`` (.svg or .png, by suffix)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 15), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=(2.1, 1), width_ratios=(1.35, 1))
    _draw_ring(fig, fig.add_subplot(grid[0, 0]), data)
    _draw_relays(fig.add_subplot(grid[0, 1]), data)
    _draw_loads(fig.add_subplot(grid[1, :]), data)
    fig.suptitle(data.title, fontsize=13)
    fig.savefig(path, dpi=110)


def _draw_ring(fig: Figure, ax: Axes, data: FigureData) -> None:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import PathCollection
    from matplotlib.colors import Normalize
    from matplotlib.path import Path as MplPath

    n = len(data.ids)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_xlim(-1.22, 1.22)
    ax.set_ylim(-1.22, 1.22)
    ax.add_patch(_circle(1.0))

    # Chords bend slightly towards the centre (a quadratic curve through a
    # midpoint pulled towards the centre), so chords between neighbours stay
    # visible inside the circle instead of lying on it.
    paths = []
    for chord in data.chords:
        (x0, y0), (x1, y1) = _xy(chord.source), _xy(chord.target)
        control = ((x0 + x1) * 0.3, (y0 + y1) * 0.3)
        paths.append(
            MplPath(
                [(x0, y0), control, (x1, y1)],
                [MplPath.MOVETO, MplPath.CURVE3, MplPath.CURVE3],
            )
        )
    if data.link_loads_measured:
        loads = [c.load or 0 for c in data.chords]
        unknown = [i for i, c in enumerate(data.chords) if c.load is None]
        top = max(max(loads), 1)
        norm = Normalize(0, top)
        cmap = colormaps["plasma_r"]
        # Heavy on top; chords of unknown load apart, grey and dashed.
        order = sorted((i for i in range(len(paths)) if i not in unknown), key=lambda i: loads[i])
        # NR * N chords share the disc: thinner lines as the ring fills up.
        thin, span = (0.5, 3.5) if n <= 20 else ((0.3, 1.8) if n <= 48 else (0.15, 1.2))
        collection = PathCollection(
            [paths[i] for i in order],
            facecolors="none",
            edgecolors=[cmap(norm(loads[i])) for i in order],
            linewidths=[thin + span * loads[i] / top for i in order],
            alpha=0.9 if n <= 20 else 0.75,
        )
        ax.add_collection(
            PathCollection([paths[i] for i in unknown], facecolors="none", edgecolors="#777777",
                           linestyles="dashed", linewidths=2 * thin + 0.3, alpha=0.8)
        )  # fmt: skip
        fig.colorbar(
            ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6, label="packets on the link"
        )
        note = (
            "chords: routing-table entries (each goes clockwise, 1, 2, 4, ... nodes ahead), "
            "width and colour by packets carried\n(counted by each node per batch it forwards)"
            + (f"; grey dashed: {_unknown(data)}" if unknown else "")
        )
    else:
        collection = PathCollection(
            paths,
            facecolors="none",
            edgecolors="#3b6ea8",
            linewidths=1.4 if n <= 20 else 0.35,
            alpha=0.8 if n <= 20 else 0.45,
        )
        note = (
            "chords: routing-table entries (each goes clockwise, 1, 2, 4, ... nodes ahead);\n"
            f"drawn uniformly: {_unknown(data)}"
        )
    ax.add_collection(collection)

    xs, ys = zip(*(_xy(i) for i in data.ids), strict=True)
    ax.scatter(xs, ys, s=90 if n <= 20 else 14, color="#d1495b", zorder=3)
    size = 13 if n <= 20 else (9 if n <= 48 else 6.5)
    for node_id in data.ids:
        degrees = math.degrees(_angle(node_id)) % 360
        # Radial labels, turned so none reads upside down.
        flip = 90 < degrees < 270
        x, y = _xy(node_id, 1.045 if n > 20 else 1.08)
        ax.text(
            x,
            y,
            str(node_id),
            fontsize=size,
            rotation=degrees + 180 if flip else degrees,
            rotation_mode="anchor",
            ha="right" if flip else "left",
            va="center",
        )
    ax.set_title(
        f"The ring: {n} nodes placed by id (0 at the top, clockwise), NR {data.nr}",
        fontsize=12,
    )
    ax.text(0, -1.2, note, ha="center", va="top", fontsize=9, style="italic")


def _unknown(data: FigureData) -> str:
    """Why link loads are unknown: which nodes did not report them."""
    count = len(data.unmeasured)
    who = "the nodes" if count == len(data.ids) else (
        f"node{'s' if count > 1 else ''} {', '.join(map(str, data.unmeasured))}"
        if count <= 8 else f"{count} nodes"
    )  # fmt: skip
    return f"link loads unknown: {who} did not report them (classic peers)"


def _circle(radius: float) -> Patch:
    from matplotlib.patches import Circle

    return Circle((0, 0), radius, fill=False, color="#bbbbbb", lw=1)


def _draw_relays(ax: Axes, data: FigureData) -> None:
    xs = sorted(data.exact)
    if data.measured:
        xs = sorted(set(xs) | set(data.measured))
    exact = [float(data.exact.get(x, 0)) for x in xs]
    exact_mean = float(data.exact_mean)
    if data.measured:
        total = sum(data.measured.values())
        measured = [data.measured.get(x, 0) / total for x in xs]
        ax.bar([x - 0.2 for x in xs], exact, width=0.4, label="exact (all source/sink pairs)")
        ax.bar([x + 0.2 for x in xs], measured, width=0.4,
               label=f"measured by the nodes ({total:,} packets, mean {data.histogram_mean:.4f})")  # fmt: skip
    else:
        ax.bar(xs, exact, width=0.6, color="#4a7fb5", label="exact (all source/sink pairs)")
    ax.axvline(exact_mean, color="#1f3b57", ls="--", lw=1.5,
               label=f"exact mean {_fraction(data.exact_mean)} = {exact_mean:.4f}")  # fmt: skip
    if data.measured_mean is not None:
        ax.axvline(
            data.measured_mean, color="#d1495b", ls=":", lw=2,
            label=f"measured mean {data.measured_mean:.4f}\n"
            f"(relayed / received = {data.relayed:,} / {data.received:,})",
        )  # fmt: skip
    # Past a dozen bins the fractions and every tick label would overlap:
    # then every fifth tick and no fractions (the means say it all).
    crowded = len(xs) > 12
    ax.set_xticks([x for x in xs if x % 5 == 0] if crowded else xs)
    ax.set_xlabel("relays per packet (nodes between source and sink)")
    ax.set_ylabel("fraction of packets")
    ax.set_title("Relays per packet: measured against exact", fontsize=12)
    for x, p in zip(xs, exact, strict=True):
        if p and not crowded:
            ax.annotate(
                _fraction(data.exact.get(x, Fraction(0))), (x - (0.2 if data.measured else 0), p),
                xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8,
            )  # fmt: skip
    ax.legend(loc="upper right", fontsize=9)
    if data.measured is None:
        ax.text(
            0.98, 0.78,
            "measured histogram unknown: classic\npeers do not report it; the measured\n"
            "mean comes from the totals",
            transform=ax.transAxes, va="top", ha="right", fontsize=9, style="italic",
        )  # fmt: skip
    ax.set_ylim(0, max(exact + ([] if not data.measured else measured)) * 1.5)


def _fraction(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value}"


def _draw_loads(ax: Axes, data: FigureData) -> None:
    n = len(data.loads)
    positions = range(n)
    width = 0.27
    series = (
        ("originated", [row.originated for row in data.loads], "#4a7fb5"),
        ("received", [row.received for row in data.loads], "#6aa84f"),
        ("relayed", [row.relayed for row in data.loads], "#e69138"),
    )
    for k, (label, values, colour) in enumerate(series):
        if n <= 32:
            ax.bar([p + (k - 1) * width for p in positions], values, width=width, label=label,
                   color=colour)  # fmt: skip
        else:
            # Three bars per node are a blur at 128 nodes; lines stay readable.
            ax.plot(list(positions), values, marker="o", ms=2.5, lw=1, label=label,
                    color=colour)  # fmt: skip
    ax.set_xticks(list(positions))
    ax.set_xticklabels(
        [str(row.node_id) for row in data.loads],
        fontsize=10 if n <= 20 else (7 if n <= 48 else 5.5),
        rotation=0 if n <= 48 else 90,
    )
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_xlabel("node id")
    ax.set_ylabel("packets")
    ax.set_title("Load per node (sorted by id)", fontsize=12)
    ax.legend(loc="upper right", fontsize=9, ncols=3)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter("{x:,.0f}")
    top = max((max(v) for _, v, _ in series if v), default=0)
    ax.set_ylim(0, max(top, 1) * 1.18)
