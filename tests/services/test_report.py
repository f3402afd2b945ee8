"""RunResult: the totals row and a verdict a script can rely on."""

from __future__ import annotations

import attrs
import pytest

from trio_dht.services.report import NodeTotals, RunResult


def row(
    node_id: int, sent: int, received: int, sum_sent: int, sum_received: int, **kw: int
) -> NodeTotals:
    relayed = kw.pop("relayed", 0)
    return NodeTotals(
        node_id, "127.0.0.1", 5000 + node_id, sent, received, relayed, sum_sent, sum_received, **kw
    )


def result(*rows: NodeTotals, packets: int = 10, gone: tuple[int, ...] = ()) -> RunResult:
    return RunResult(packets, 3, rows, 0.5, "progress", gone)


GOOD = (
    row(1, 10, 12, 100, -50, relayed=4),
    row(2, 10, 8, -200, 30, relayed=6),
    row(3, 10, 10, 7, -73),
)


def test_totals_are_sums_of_the_rows() -> None:
    r = result(*GOOD)
    assert (r.sent, r.received, r.relayed) == (30, 30, 10)
    assert r.sum_sent == r.sum_received == -93
    assert r.dropped == 0
    assert r.relays_per_packet == pytest.approx(10 / 30)


def test_correct_run_says_correct() -> None:
    r = result(*GOOD)
    assert r.correct
    verdict = r.verdict()
    assert verdict.startswith("CORRECT")
    assert not verdict.startswith("INCORRECT")
    assert "30 sent" in verdict and "30 received" in verdict


def test_empty_run_is_trivially_correct_and_has_no_relay_mean() -> None:
    r = result(packets=0)
    assert r.verdict().startswith("CORRECT")
    assert r.relays_per_packet == 0.0


def test_missing_packets_are_counted() -> None:
    rows = (*GOOD[:2], attrs.evolve(GOOD[2], received=7, sum_received=-80))
    r = result(*rows)
    assert not r.correct
    verdict = r.verdict()
    assert verdict.startswith("INCORRECT: ")
    assert "30 sent, 27 received (3 missing)" in verdict
    assert "sums differ (sent -93, received -100)" in verdict


def test_equal_counts_but_different_sums() -> None:
    rows = (attrs.evolve(GOOD[0], sum_received=-49), *GOOD[1:])
    verdict = result(*rows).verdict()
    assert verdict.startswith("INCORRECT")
    assert "missing" not in verdict
    assert "sums differ (sent -93, received -92)" in verdict


def test_more_received_than_sent_is_incorrect() -> None:
    rows = (attrs.evolve(GOOD[0], received=13, sum_received=-50), *GOOD[1:])
    verdict = result(*rows).verdict()
    assert verdict.startswith("INCORRECT")
    assert "30 sent, 31 received" in verdict


def test_gone_nodes_make_it_incorrect_even_when_totals_match() -> None:
    r = result(*GOOD, gone=(2, 3))
    assert r.sent == r.received and r.sum_sent == r.sum_received
    assert not r.correct
    verdict = r.verdict()
    assert verdict.startswith("INCORRECT")
    assert "nodes 2, 3 vanished" in verdict


def test_wrong_number_originated_is_incorrect() -> None:
    # Totals agree, but each node should have sent 11.
    r = result(*GOOD, packets=11)
    assert not r.correct
    verdict = r.verdict()
    assert verdict.startswith("INCORRECT")
    assert "expected 33 sent" in verdict


def test_dropped_packets_are_named() -> None:
    rows = (attrs.evolve(GOOD[0], received=10, sum_received=-60, dropped=2), *GOOD[1:])
    verdict = result(*rows).verdict()
    assert verdict.startswith("INCORRECT")
    assert "(2 missing)" in verdict
    assert "2 dropped" in verdict


@pytest.mark.parametrize(
    ("change", "correct"),
    [
        ({}, True),
        ({"received": 9}, False),
        ({"sum_received": 8}, False),
        ({"sent": 11}, False),
        ({"relayed": 99}, True),  # relays do not enter the verdict
    ],
)
def test_verdict_prefix_matches_correct(change: dict[str, int], correct: bool) -> None:
    rows = (attrs.evolve(GOOD[2], **change), *GOOD[:2])
    r = result(*rows)
    assert r.correct is correct
    assert r.verdict().startswith("CORRECT" if correct else "INCORRECT")
