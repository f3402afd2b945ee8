"""The results table, as rich, plain text or Markdown."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def _fmt(stat: dict[str, Any] | None, fmt: Callable[[float], str], spread_too: bool = True) -> str:
    if stat is None:
        return "-"
    text = fmt(stat["median"])
    if spread_too and len(stat["values"]) > 1:
        text += f" ({fmt(stat['min'])}..{fmt(stat['max'])})"
    return text


def _kpps(x: float) -> str:
    return f"{x / 1000:,.0f}k"


COLUMNS = (
    "workload", "wire", "mode", "N", "NR", "pkts/node", "start->verdict s", "sending s",
    "delivered/s", "hops", "relays/pkt (exact)", "peak RSS MB", "CPU s (run)", "ok",
)  # fmt: skip


def table_rows(records: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in records:
        relays = _fmt(r["relays_per_packet"], lambda x: f"{x:.4f}", False)
        if r["relays_theory"] is not None and not r["skipped"]:
            relays += f" ({r['relays_theory']:.4f})"
        mode = (
            "1 proc"
            if r["mode"] == "inproc"
            else f"procs/{r['registry']}"
            if r["registry"]
            else "procs"
        )
        if r["skipped"]:
            ok = "n/a: dialect"
        else:
            ok = "yes" if r["correct"] else f"NO ({r['completed']}/{r['repeats']})"
        rows.append(
            [
                r["workload"],
                r["wire"],
                mode,
                str(r["nodes"]),
                str(r["nr"]),
                f"{r['packets_per_node']:,}",
                _fmt(r["start_to_verdict_s"], lambda x: f"{x:.2f}"),
                _fmt(r["sending_s"], lambda x: f"{x:.2f}"),
                _fmt(r["delivered_pps"], _kpps),
                _fmt(r["total_hops"], lambda x: f"{x:,.0f}", False),
                relays,
                _fmt(r["peak_rss_mb"], lambda x: f"{x:.1f}", False),
                _fmt(r["cpu_run_s"], lambda x: f"{x:.2f}", False),
                ok,
            ]
        )
    return rows


def print_table(
    records: Sequence[dict[str, Any]], machine: dict[str, Any], style: str = "rich"
) -> None:
    """``style``: rich, plain (aligned text) or markdown."""
    title = (
        f"trio_dht {machine['trio_dht']} benchmark: {machine['cores']} cores "
        f"{machine['cpu_model']}, Python {machine['python']}, trio {machine['trio']}"
    )
    rows = table_rows(records)
    if style == "markdown":
        print(f"{title}\n")
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "|".join("---" if k < 3 else "--:" for k in range(len(COLUMNS))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    plain = style == "plain"
    if not plain:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for k, name in enumerate(COLUMNS):
            table.add_column(name, justify="left" if k < 3 or k == len(COLUMNS) - 1 else "right")
        for row in rows:
            table.add_row(*row)
        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(highlight=False, width=250, no_color=True)
        console.print(table)
        return
    print(title)
    widths = [
        max(len(c), *(len(r[k]) for r in rows)) if rows else len(c) for k, c in enumerate(COLUMNS)
    ]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
