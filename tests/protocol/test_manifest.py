"""How many silent links a checked manifest lets a node expect."""

from __future__ import annotations

from trio_dht.protocol.manifest import check_manifest
from trio_dht.wire.messages import NodeManifest, PeerEntry

RING = (10, 20, 30, 40, 60, 80, 100)


def manifest(table: tuple[int, ...], ids: tuple[int, ...] = RING) -> NodeManifest:
    return NodeManifest(tuple(PeerEntry(i, "127.0.0.1", 4000 + i) for i in table), ids)


def test_a_table_built_by_the_rule_expects_nr_links() -> None:
    # 20, 30 and 60 are 1, 2 and 4 positions ahead of 10: the nodes 1, 2
    # and 4 positions behind it (100, 80 and 40) each hold one link to it.
    assert check_manifest(10, manifest((20, 30, 60))).expected_links == 3


def test_a_classic_table_that_repeats_counts_every_entry() -> None:
    # Captured classic variant: NR 3 on a ring of 3 repeats the first entry,
    # and the list leaves the receiver out.
    overlay = check_manifest(50, manifest((90, 5, 90), (5, 90)))
    assert [e.node_id for e in overlay.entries] == [90, 5]
    assert overlay.expected_links == 3


def test_a_table_off_the_rule_expects_the_worst_case() -> None:
    # Routable, but not 1, 2, 4 positions ahead: any other node's entries
    # might all name this one.
    overlay = check_manifest(10, manifest((20, 40, 80)))
    assert overlay.expected_links == (len(RING) - 1) * 3
