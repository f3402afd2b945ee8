"""The exact relay distribution and explained routes, against the spec and the router."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from trio_dht.overlay import OverlayError, distance, mean_relays, route, routing_tables
from trio_dht.overlay.analysis import (
    describe_route,
    distribution_mean,
    explain_route,
    relay_distribution,
)

RING_B = [4, 18, 19, 33, 60, 82, 97, 119]  # SYSTEM.md's routing example


def test_distribution_n10_nr3_is_the_spec_figure() -> None:
    ids = random.Random(1).sample(range(128), 10)
    dist = relay_distribution(ids, 3)
    assert sum(dist.values()) == 1
    assert distribution_mean(dist) == Fraction(8, 9)
    # Offsets 1..9 with jumps 1, 2, 4: 0 relays for 1, 2, 4; 2 relays for 7 and 9.
    assert dist == {0: Fraction(3, 9), 1: Fraction(4, 9), 2: Fraction(2, 9)}


@pytest.mark.parametrize(("n", "nr"), [(2, 1), (8, 3), (10, 1), (33, 5), (128, 7), (128, 3)])
def test_distribution_agrees_with_mean_relays(n: int, nr: int) -> None:
    ids = random.Random(n * 10 + nr).sample(range(128), n)
    dist = relay_distribution(ids, nr)
    assert sum(dist.values()) == 1
    assert all(p > 0 for p in dist.values())
    assert distribution_mean(dist) == mean_relays(ids, nr)


def test_distribution_counts_every_pair() -> None:
    tables = routing_tables(RING_B, 2)
    pairs = [(s, d) for s in RING_B for d in RING_B if s != d]
    expected: dict[int, int] = {}
    for s, d in pairs:
        relays = len(route(s, d, tables)) - 2
        expected[relays] = expected.get(relays, 0) + 1
    dist = relay_distribution(RING_B, 2)
    assert {r: p * len(pairs) for r, p in dist.items()} == expected


def test_distribution_refuses_an_invalid_nr() -> None:
    with pytest.raises(OverlayError, match="not valid for 8 nodes"):
        relay_distribution(RING_B, 4)


def test_spec_example_explained() -> None:
    hops = explain_route(RING_B, 3, 97, 82)
    assert [h.node for h in hops] == [97, 19, 60]
    assert [h.chosen for h in hops] == [19, 60, 82]
    assert [h.remaining for h in hops] == [113, 63, 22]
    first, second, last = hops
    assert first.table == (119, 4, 19) and first.distances == (22, 35, 50)
    assert not first.direct and first.short_of_sink == (119, 4, 19) and first.past_sink == ()
    assert second.short_of_sink == (33, 60) and second.past_sink == (97,)
    assert last.direct
    lines = describe_route(RING_B, 3, 97, 82)
    assert lines[0].startswith("Route 97 -> 82 on 8 nodes, NR 3: 97 -> 19 -> 60 -> 82")
    assert "2 relays" in lines[0]
    assert "the farthest is 60; 97 (+78) would pass it" in lines[4]
    assert "82 is in the table" in lines[6]


def test_explained_routes_match_the_router_for_every_pair() -> None:
    rng = random.Random(14)
    ids = rng.sample(range(128), 37)
    for nr in (1, 3, 6):
        tables = routing_tables(ids, nr)
        for s in ids:
            for d in ids:
                hops = explain_route(ids, nr, s, d)
                path = route(s, d, tables)
                assert [h.node for h in hops] + ([d] if hops else [s]) == path
                for h in hops:
                    assert h.remaining == distance(h.node, d)
                    # The reason is the rule: the chosen entry is the farthest
                    # short of the sink, or the sink itself.
                    if h.direct:
                        assert h.chosen == d
                    else:
                        best = max(h.short_of_sink, key=lambda e: distance(h.node, e))
                        assert h.chosen == best
                        assert all(distance(h.node, e) > h.remaining for e in h.past_sink)


def test_same_source_and_sink() -> None:
    assert explain_route(RING_B, 3, 60, 60) == []
    assert "nothing to route" in describe_route(RING_B, 3, 60, 60)[0]


def test_unknown_ids_are_named() -> None:
    with pytest.raises(OverlayError, match="source 5 is not on the ring"):
        explain_route(RING_B, 3, 5, 82)
    with pytest.raises(OverlayError, match="destination 200 is not on the ring"):
        explain_route(RING_B, 3, 97, 200)
