"""Graded cases and the report they make up.

Grades follow Autobahn|Testsuite: ``pass``; ``fail`` (a strict rule of the
spec is broken); ``non-strict`` (a robustness case the implementation did not
survive: worth fixing, not a violation of the protocol); ``informational``
(a measurement, never a failure). Only strict failures make the exit status
non-zero.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import attrs


class Grade(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    NON_STRICT = "non-strict"
    INFORMATIONAL = "informational"


Evidence = dict[str, Any]  # JSON-ready: a decoded frame, what was expected, counts


@attrs.define
class Case:
    """One numbered case: ``number`` like ``3.2``, a one-line ``title``."""

    number: str
    title: str
    grade: Grade = Grade.PASS
    detail: str = ""
    evidence: list[Evidence] = attrs.field(factory=list)
    strict: bool = True
    copy: str = ""  # which copy of the node under test, when there are several
    copies: list[Case] = attrs.field(factory=list)  # a merged row: each copy's own case

    def fail(self, detail: str, *evidence: Evidence) -> None:
        """Record a violation; the first detail stays the headline."""
        self.grade = Grade.FAIL if self.strict else Grade.NON_STRICT
        if not self.detail or self.detail.startswith("ok"):
            self.detail = detail
        self.evidence.extend(evidence)

    def tolerate(self, detail: str, *evidence: Evidence) -> None:
        """Not what the spec says, but what a known connection model must do."""
        if self.grade is not Grade.FAIL:
            self.grade = Grade.NON_STRICT
            self.detail = detail
        self.evidence.extend(evidence)

    def passed(self, detail: str, *evidence: Evidence) -> None:
        if self.grade is Grade.PASS:
            self.detail = detail
        self.evidence.extend(evidence)

    def inform(self, detail: str, *evidence: Evidence) -> None:
        self.grade = Grade.INFORMATIONAL
        self.detail = detail
        self.evidence.extend(evidence)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "case": self.number,
            "title": self.title,
            "result": self.grade.value,
            "strict": self.strict,
            "detail": self.detail,
            "evidence": self.evidence,
        }
        if self.copy:
            data["copy"] = self.copy
        if self.copies:
            data["copies"] = [c.to_json() for c in self.copies]
        return data


@attrs.define
class Report:
    """Every case of one check run, in number order."""

    subject: str  # what was checked: the command line or address
    kind: str  # "node" or "registry"
    wire: str
    cases: list[Case] = attrs.field(factory=list)
    seconds: float = 0.0
    notes: list[str] = attrs.field(factory=list)

    def add(self, number: str, title: str, *, strict: bool = True) -> Case:
        case = Case(number, title, strict=strict)
        self.cases.append(case)
        return case

    def case(self, number: str) -> Case:
        return next(c for c in self.cases if c.number == number)

    def sorted_cases(self) -> list[Case]:
        return sorted(self.cases, key=lambda c: tuple(int(p) for p in c.number.split(".")))

    def totals(self) -> dict[str, int]:
        counts = {grade.value: 0 for grade in Grade}
        for case in self.cases:
            counts[case.grade.value] += 1
        return counts

    @property
    def failed(self) -> list[Case]:
        return [c for c in self.sorted_cases() if c.grade is Grade.FAIL]

    @property
    def exit_status(self) -> int:
        return 1 if self.failed else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "wire": self.wire,
            "seconds": round(self.seconds, 3),
            "totals": self.totals(),
            "exit_status": self.exit_status,
            "notes": self.notes,
            "cases": [c.to_json() for c in self.sorted_cases()],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)
