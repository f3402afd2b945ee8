"""Debug lines of the protocol cores (``-vv``): enough to follow a node's or
the registry's connections, setup steps and a run's quiescence decisions.

Why the texts of the longer lines live here: a core says *when*, in one
short line, and its logic stays readable. None of these is on the data
path: every line is per connection, per setup step or per run decision,
and lines that a flood could multiply carry an aggregation key (the log
sink then prints one line per kind per interval).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

from trio_dht.protocol.events import Log
from trio_dht.protocol.members import Member, nodes_phrase
from trio_dht.protocol.rules import MemberPhase


def debug(text: str, aggregate: tuple[str, ...] | None = None) -> Log:
    return Log(logging.DEBUG, text, aggregate)


def setup_reported(member: Member, members: dict[int, Member], progress: bool) -> Log:
    """Once per node per setup (never per packet), so counting is cheap."""
    ready = sum(m.phase is MemberPhase.IDLE for m in members.values())
    reports = "reports progress" if progress else "does not report progress (classic peer)"
    return debug(
        f"node {member.node_id} set up its overlay ({ready} of {len(members)} ready); it {reports}"
    )


def run_started(packets: int, nodes: int, nr: int, classic: int) -> Log:
    if classic:
        how = (
            f"{classic} of them {'does' if classic == 1 else 'do'} not report progress, "
            "so quiet is a grace period after the last task-finished"
        )
    else:
        how = "all report progress, so quiet is every packet counted as received"
    return debug(f"run started: {packets:,} packets from each of {nodes} nodes (NR {nr}); {how}")


# Why a run stopped waiting, as a clause (the run's ``quiescence`` values).
_ASKING_BECAUSE: Mapping[str, str] = MappingProxyType(
    {
        "progress": "every packet is counted as received",
        "grace period": "the grace period after the last task-finished has passed",
        "stalled": "the counters stopped short of the total with every node answering",
        "run deadline": "nothing moved until the run deadline",
    }
)


def asking(why: str, elapsed: float, count: int) -> Log:
    because = _ASKING_BECAUSE.get(why, why)
    nodes = nodes_phrase(count)
    return debug(f"run: {because} after {elapsed:.1f} s: asking {nodes} for traffic summaries")
