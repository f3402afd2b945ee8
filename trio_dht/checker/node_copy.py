"""One copy of the node under test: its process, its place in the overlay,
its ledger and its own graded cases.

Every copy is graded on its own report, with the same case numbers; the
checker merges them at the end (``report_copies``). A copy that cannot go
on (it did not register, never set up, hung) drops out: its remaining cases
fail as "not reached" and the other copies carry on without it.
"""

from __future__ import annotations

import random

from trio_dht.checker.ledger import Lane, Ledger
from trio_dht.checker.node_catalogue import NODE_CASES, ROBUSTNESS
from trio_dht.checker.process import Child
from trio_dht.checker.report import Case, Report


class Stop(Exception):
    """A step cannot go on for a copy; its cases after it are not reached."""


class Copy:
    def __init__(
        self, index: int, me: int, table: tuple[int, ...], ids: tuple[int, ...], subject: str,
        wire: str, robustness: bool,
    ) -> None:  # fmt: skip
        self.index = index
        self.me = me
        self.table = table
        self.ids = ids
        self.report = Report(subject, "node", wire)
        for number, title, strict in NODE_CASES:
            # Robustness is graded once, on a fresh process of the first copy.
            if robustness or number not in ROBUSTNESS:
                self.report.add(number, title, strict=strict)
        self.done: set[str] = set()
        self.child: Child | None = None
        self.pid: int | None = None
        self.address = ("", 0)
        self.active = False  # registered and not dropped out
        self.connects_on_demand = False
        self.ledger = Ledger(me, table, ids)
        self.lanes: list[Lane] = []
        self.rng = random.Random()

    @property
    def label(self) -> str:
        pid = f", pid {self.pid}" if self.pid is not None else ""
        return f"copy {self.index} (id {self.me}{pid})"

    def case(self, number: str) -> Case:
        self.done.add(number)
        return self.report.case(number)

    def tail(self) -> dict[str, list[str]]:
        return self.child.tail() if self.child is not None else {}

    def drop(self, why: str) -> None:
        """This copy cannot go on: the cases not yet graded are not reached."""
        self.active = False
        self.not_reached(why)
        self.report.notes.append(f"{self.label} stopped early: {why}")
        self.report.notes.extend(f"{self.label} {name}: {line}"
                                 for name, lines in self.tail().items() for line in lines)  # fmt: skip

    def not_reached(self, why: str) -> None:
        for case in self.report.cases:
            if case.number not in self.done:
                self.done.add(case.number)
                case.fail(f"not reached: {why}")
