"""Routing-table construction and NR validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_dht.overlay import (
    ID_SPACE,
    OverlayError,
    links_into,
    max_nr,
    positions_table,
    routing_tables,
    validate_nr,
)

RING_A = [10, 21, 32, 43, 54, 61, 77, 87, 99, 101, 103]
RING_B = [4, 18, 19, 33, 60, 82, 97, 119]


def test_worked_examples() -> None:
    a = routing_tables(RING_A, 3)
    assert a[10] == (21, 32, 54)
    assert a[101] == (103, 10, 32)
    b = routing_tables(RING_B, 3)
    assert b[119] == (4, 18, 33)
    assert b[97] == (119, 4, 19)


def test_input_order_does_not_matter() -> None:
    assert routing_tables(reversed(RING_B), 3) == routing_tables(RING_B, 3)


@pytest.mark.parametrize(("n", "nr"), [(10, 4), (10, 1), (2, 1), (3, 2), (9, 4), (128, 7)])
def test_nr_accepted(n: int, nr: int) -> None:
    validate_nr(nr, n)


@pytest.mark.parametrize(("n", "nr"), [(10, 5), (2, 2), (8, 4), (10, 0), (10, -1), (128, 8)])
def test_nr_refused_with_rule_and_limit(n: int, nr: int) -> None:
    with pytest.raises(OverlayError) as info:
        validate_nr(nr, n)
    text = str(info.value)
    assert "2**(NR-1) < N" in text
    assert f"between 1 and {max_nr(n)}" in text


@pytest.mark.parametrize("n", [0, 1])
def test_too_few_nodes_refused(n: int) -> None:
    with pytest.raises(OverlayError, match="at least 2 nodes"):
        validate_nr(1, n)


def test_max_nr() -> None:
    assert [max_nr(n) for n in range(11)] == [0, 0, 1, 2, 2, 3, 3, 3, 3, 4, 4]
    assert max_nr(128) == 7
    for n in range(2, 200):
        validate_nr(max_nr(n), n)
        with pytest.raises(OverlayError):
            validate_nr(max_nr(n) + 1, n)


def test_overlay_error_is_value_error() -> None:
    assert issubclass(OverlayError, ValueError)


def test_duplicate_ids_refused() -> None:
    with pytest.raises(OverlayError, match=r"repeat: \[5\]"):
        routing_tables([5, 9, 5, 20], 1)


def test_out_of_range_ids_refused() -> None:
    with pytest.raises(OverlayError, match="0..127"):
        routing_tables([1, 2, ID_SPACE], 1)


def test_bad_nr_refused_by_routing_tables() -> None:
    with pytest.raises(OverlayError):
        routing_tables(RING_B, 4)


@st.composite
def rings_with_nr(draw: st.DrawFn) -> tuple[list[int], int]:
    ids = draw(st.sets(st.integers(0, ID_SPACE - 1), min_size=2, max_size=ID_SPACE))
    nr = draw(st.integers(1, max_nr(len(ids))))
    return sorted(ids), nr


@given(rings_with_nr())
def test_tables_have_nr_distinct_entries_excluding_self(case: tuple[list[int], int]) -> None:
    ids, nr = case
    tables = routing_tables(ids, nr)
    assert sorted(tables) == ids
    for node, table in tables.items():
        assert len(table) == nr
        assert len(set(table)) == nr
        assert node not in table
        assert set(table) <= set(ids)


@given(
    st.sets(st.integers(0, ID_SPACE - 1), min_size=2, max_size=40).map(sorted),
    st.integers(1, 8),
)
def test_links_into_counts_the_entries_naming_each_node(ids: list[int], nr: int) -> None:
    # Brute force over every table built by the rule, NRs too large for the
    # ring included (their entries repeat or wrap to the owner).
    for node in ids:
        naming = sum(positions_table(ids, nr, owner).count(node) for owner in ids if owner != node)
        assert naming == links_into(len(ids), nr)


def test_positions_table_agrees_with_routing_tables_for_a_valid_nr() -> None:
    tables = routing_tables(RING_A, 3)
    assert all(positions_table(RING_A, 3, node) == tables[node] for node in RING_A)
    # A ring of 3 with NR 3: entries 1, 2 and 4 (= 1) positions ahead.
    assert positions_table([5, 50, 90], 3, 50) == (90, 5, 90)
    assert links_into(3, 3) == 3
    # A ring of 4 with NR 3: the entry 4 positions ahead is the node itself.
    assert links_into(4, 3) == 2
