"""Identifier distance and the registry's random, unique id allocator."""

from __future__ import annotations

import random

import pytest

from trio_dht.overlay import ID_SPACE, IdAllocator, IdSpaceFull, distance


def test_distance_is_clockwise() -> None:
    assert distance(10, 21) == 11
    assert distance(21, 10) == ID_SPACE - 11
    assert distance(119, 4) == 13
    assert distance(5, 5) == 0
    assert distance(3, 1, space=8) == 6


def test_fills_whole_space_with_distinct_ids_then_refuses() -> None:
    alloc = IdAllocator(rng=random.Random(1))
    got = [alloc.allocate() for _ in range(ID_SPACE)]
    assert sorted(got) == list(range(ID_SPACE))
    assert len(alloc) == ID_SPACE
    with pytest.raises(IdSpaceFull, match="full"):
        alloc.allocate()


def test_release_makes_id_available_again() -> None:
    alloc = IdAllocator(rng=random.Random(2))
    for _ in range(ID_SPACE):
        alloc.allocate()
    alloc.release(42)
    assert 42 not in alloc
    assert len(alloc) == ID_SPACE - 1
    # 42 is the only free id, so it must be the one handed out.
    assert alloc.allocate() == 42
    assert 42 in alloc


def test_release_unknown_id_raises_value_error() -> None:
    alloc = IdAllocator(rng=random.Random(3))
    with pytest.raises(ValueError, match="not allocated"):
        alloc.release(7)
    node_id = alloc.allocate()
    alloc.release(node_id)
    with pytest.raises(ValueError, match="not allocated"):
        alloc.release(node_id)


def test_allocation_is_random_and_seed_reproducible() -> None:
    def sequence(seed: int) -> list[int]:
        alloc = IdAllocator(rng=random.Random(seed))
        return [alloc.allocate() for _ in range(20)]

    assert sequence(1) == sequence(1)
    assert sequence(1) != sequence(2)
    # Not simply counting up from 0.
    assert sequence(1) != list(range(20))


def test_ids_sorted_and_small_space() -> None:
    alloc = IdAllocator(space=4, rng=random.Random(4))
    for _ in range(4):
        alloc.allocate()
    assert alloc.ids() == [0, 1, 2, 3]
    with pytest.raises(IdSpaceFull):
        alloc.allocate()
    assert "x" not in alloc


def test_default_rng_works() -> None:
    alloc = IdAllocator()
    node_id = alloc.allocate()
    assert 0 <= node_id < ID_SPACE
    assert alloc.ids() == [node_id]
