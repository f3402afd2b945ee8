"""One report out of the reports of several copies of a node under test.

The table keeps one row per case, so it reads the same for one copy or ten:
the row shows the worst result any copy got (fail, then non-strict, then
informational, then pass) and its detail names the copies that got it. Each
row keeps every copy's own case (``Case.copies``, in ``--json``), and the
evidence of the worst ones, each naming its copy.
"""

from __future__ import annotations

from trio_dht.checker.report import Case, Grade, Report

# Worst first: the row of a case shows the first of these any copy got.
SEVERITY = (Grade.FAIL, Grade.NON_STRICT, Grade.INFORMATIONAL, Grade.PASS)
MAX_NAMED = 3  # copies whose detail the row spells out


def merge(reports: list[tuple[str, Report]], subject: str, wire: str) -> Report:
    """``reports``: (copy label, its report). One copy: its report as it is."""
    if len(reports) == 1:
        report = reports[0][1]
        report.subject = subject
        return report
    merged = Report(subject, "node", wire)
    for label, report in reports:
        merged.notes.extend(report.notes)
        for case in report.cases:
            case.copy = label
    numbers = [c.number for c in reports[0][1].sorted_cases()]
    for number in numbers:
        own = [c for _, r in reports for c in r.cases if c.number == number]
        merged.cases.append(_row(own))
    return merged


def _row(own: list[Case]) -> Case:
    first = own[0]
    worst = next(g for g in SEVERITY if any(c.grade is g for c in own))
    row = Case(first.number, first.title, strict=first.strict, grade=worst, copies=own)
    hit = [c for c in own if c.grade is worst]
    if len(own) == 1:
        row.detail = f"{first.copy}: {first.detail}"
    elif worst is Grade.PASS:
        row.detail = f"all {len(own)} copies; {first.copy}: {first.detail}"
    else:
        named = "; ".join(f"{c.copy}: {c.detail}" for c in hit[:MAX_NAMED])
        more = f"; {len(hit) - MAX_NAMED} more" if len(hit) > MAX_NAMED else ""
        rest = len(own) - len(hit)
        others = f" ({rest} other {'copy' if rest == 1 else 'copies'} better)" if rest else ""
        row.detail = named + more + others
    for case in hit:
        row.evidence.extend({"copy": case.copy, **e} for e in case.evidence)
    return row
