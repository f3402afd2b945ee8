"""The issue's performance targets, checked against the records and
printed for the record (never asserted)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

# The targets (reported, never asserted).
TARGET_CLASSIC_S = 1.0
TARGET_STEADY_PPS = 450_000
TARGET_RSS_MB = 40.0
TARGET_WIRE_RATIO = 1.5


def targets(records: Sequence[dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """The issue's targets: (target, what was measured, met?); None when the
    run did not include what the target needs."""
    out: list[tuple[str, str, bool | None]] = []

    def med(r: dict[str, Any], key: str) -> float | None:
        return r[key]["median"] if r[key] else None

    for r in records:
        if r["workload"] == "classic" and med(r, "start_to_verdict_s") is not None:
            v = med(r, "start_to_verdict_s")
            assert v is not None
            out.append(
                (
                    f"classic ({r['wire']}) start->verdict <= {TARGET_CLASSIC_S:g} s",
                    f"{v:.2f} s",
                    v <= TARGET_CLASSIC_S and r["correct"],
                )
            )
    for r in records:
        if r["workload"] == "steady" and med(r, "delivered_pps") is not None:
            v = med(r, "delivered_pps")
            assert v is not None
            mode = "one process" if r["mode"] == "inproc" else "process per node"
            out.append(
                (
                    f"steady ({r['wire']}, {mode}) >= {TARGET_STEADY_PPS:,} delivered/s",
                    f"{v:,.0f}/s",
                    v >= TARGET_STEADY_PPS and r["correct"],
                )
            )
    big = [r for r in records if r["mode"] == "procs" and r["nodes"] == 128]
    if big:
        ran = [r for r in big if not r["skipped"]]
        out.append(
            (
                "128 nodes as processes, exact",
                "; ".join(
                    f"{r['wire']} NR {r['nr']}: "
                    + (
                        "cannot be described in this dialect"
                        if r["skipped"]
                        else ("correct" if r["correct"] else "FAILED")
                    )
                    for r in big
                ),
                all(r["correct"] for r in ran) if ran else None,
            )
        )
    rss = [r["peak_rss_mb"]["max"] for r in records if r["mode"] == "procs" and r["peak_rss_mb"]]
    if rss:
        out.append(
            (
                f"peak RSS of a node process <= {TARGET_RSS_MB:g} MB",
                f"{max(rss):.1f} MB",
                max(rss) <= TARGET_RSS_MB,
            )
        )
    pairs: dict[tuple[Any, ...], dict[str, float]] = {}
    for r in records:
        v = med(r, "start_to_verdict_s")
        if v is not None:
            key = (r["workload"], r["mode"], r["nodes"], r["nr"], r["packets_per_node"])
            pairs.setdefault(key, {})[r["wire"]] = v
    ratios = [
        (w["minichord"] / w["cs455"], key)
        for key, w in pairs.items()
        if {"cs455", "minichord"} <= w.keys() and w["cs455"] > 0
    ]
    if ratios:
        worst, key = max(ratios)
        out.append(
            (
                f"minichord within {TARGET_WIRE_RATIO:g}x of cs455 (start->verdict)",
                (
                    f"worst {worst:.2f}x ({key[0]}, {key[1]}, N={key[2]}, NR={key[3]}); "
                    f"median {statistics.median(r for r, _ in ratios):.2f}x"
                ),
                worst <= TARGET_WIRE_RATIO,
            )
        )
    return out


def print_targets(records: Sequence[dict[str, Any]]) -> None:
    checks = targets(records)
    if checks:
        print("\nTargets (for the record; never asserted):")
        for what, measured, met in checks:
            mark = "met" if met else ("NOT met" if met is not None else "n/a")
            print(f"  [{mark}] {what}: {measured}")
