"""What the programs need for figures and explained routes: the ``--figure``
and ``--seed`` options, the figure of a finished run as lines to show, and the
registry console's ``path SRC DST``. Kept apart from the drawing so the
programs' own files only call in here."""

from __future__ import annotations

import argparse

from trio_dht.interface.figures import PLOT_HINT, FigureError, check_figure_path, write_figure
from trio_dht.overlay import OverlayError
from trio_dht.overlay.analysis import describe_route
from trio_dht.services.report import RunResult


def add_run_arguments(parser: argparse.ArgumentParser, *, seed: bool) -> None:
    """``--figure FILE`` (and with ``seed``, ``--seed S``) for demo and registry."""
    parser.add_argument(
        "--figure", metavar="FILE", default=None,
        help="after each run, draw one figure with three panels (the ring with its "
        "routing-table chords, width and colour by the packets each node counted on "
        "that link; relays per packet, the nodes' histogram against the exact "
        "distribution of this ring; load per node) to FILE, .svg or .png; links and "
        "histogram of classic peers are marked unknown; needs "
        f"matplotlib: {PLOT_HINT}",
    )  # fmt: skip
    if seed:
        parser.add_argument(
            "--seed", type=int, default=None, metavar="S",
            help="make runs reproducible: the same S gives the same ids and routing "
            "tables; with the demo, also the same sinks and payloads (other node "
            "processes: give them --seed too), hence the same totals",
        )  # fmt: skip


def check_run_arguments(args: argparse.Namespace) -> str | None:
    """A usage problem with ``--figure``, or None."""
    path = getattr(args, "figure", None)
    problem = None if path is None else check_figure_path(path)
    return None if problem is None else f"--figure {problem}"


def run_figure_lines(path: str, result: RunResult, seed: int | None = None) -> list[str]:
    """Draw the figure of a finished run (its ring: the nodes of its rows) and
    say so in lines for stderr; a failure is one ``error:`` line, never an
    exception, so a run's verdict is never lost to a figure."""
    ids = [row.node_id for row in result.nodes]
    # What the nodes measured; a node that reported nothing (a classic peer)
    # is left out, so its links are drawn as unknown.
    loads = result.link_loads if result.measures else None
    try:
        data = write_figure(path, result, ids, result.nr, loads, result.relay_histogram, seed)
    except (FigureError, OverlayError) as exc:
        return [f"error: no figure: {exc}"]
    exact = f"exact {data.exact_mean} = {float(data.exact_mean):.4f}"
    if data.measured_mean is None:
        return [f"Figure written to {path}: no packet arrived, so no measured mean; {exact}."]
    measured = f"relays per packet measured {data.measured_mean:.4f} (relayed / received"
    if data.histogram_mean is not None:
        measured += f"; the nodes' histogram: {data.histogram_mean:.4f}"
    lines = [f"Figure written to {path}: {measured}), {exact}."]
    if data.unmeasured and data.link_loads_measured:
        # Some nodes measured, some did not (with none, the figure says so).
        lines.append(f"Link loads unknown for {len(data.unmeasured)} node(s) (classic peers).")
    return lines


def console_path(tables: dict[int, tuple[int, ...]], nr: int | None, words: list[str]) -> list[str]:
    """The registry console's ``path SRC DST`` on the overlay it set up
    (``tables``: id -> entries). ValueError with a message for a person."""
    if len(words) != 2:
        raise ValueError("usage: path SRC DST (two node ids)")
    if nr is None or not tables:
        raise ValueError("no overlay is set up now (a join or leave undoes it): run setup-overlay")
    try:
        source, destination = (int(w) for w in words)
    except ValueError:
        raise ValueError(f"path takes two node ids, got {' '.join(words)!r}") from None
    try:
        return describe_route(tables, nr, source, destination)
    except OverlayError as exc:
        raise ValueError(str(exc)) from None
