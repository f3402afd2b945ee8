"""The data plane refuses a packet whose trace already holds this node (the
spec: no node sees a packet twice), counts it as dropped, and relays the
rest. Pure routing: no sockets, no clock."""

from __future__ import annotations

import pytest

from trio_dht.protocol.manifest import check_manifest
from trio_dht.protocol.node_counters import Counters
from trio_dht.services.node_data import DataPlane, Peer
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import Data, NodeManifest, PeerEntry

IDS = (0, 10, 20, 40, 80, 100)


def _plane(wire: str, me: int) -> DataPlane:
    """A data plane of node ``me`` on a ring of IDS with NR 3."""
    position = IDS.index(me)
    entries = tuple(
        PeerEntry(IDS[(position + 2**k) % len(IDS)], "127.0.0.1", 4000 + k) for k in range(3)
    )
    overlay = check_manifest(me, NodeManifest(entries, IDS))
    peers = [Peer(e.node_id, e.host, e.port, writer=None) for e in entries]  # type: ignore[arg-type]
    plane = DataPlane(get_dialect(wire), Counters())
    plane.install(1, overlay, peers)
    return plane


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
@pytest.mark.parametrize("me", [20, 0])
def test_a_packet_that_already_passed_this_node_is_dropped_and_counted(wire: str, me: int) -> None:
    plane = _plane(wire, me)
    dialect = plane.dialect
    sink = 100 if me != 100 else 10
    frames = dialect.encode(Data(sink, 40, 7, (me, 80))) + dialect.encode(Data(sink, 40, 9, (80,)))
    bodies = dialect.framer().feed(frames)
    outs, others, stray = plane.route(bodies)
    c = plane.counters
    assert others == [] and stray == 0
    forwarded = [frame for batch in outs or [] for frame in batch]
    if me == 0:
        # Id 0 is what one classic peer writes into every trace slot
        # (captured), so node 0 cannot tell a loop from that: both relayed.
        assert (c.relayed, c.dropped) == (2, 0)
        return
    assert (c.relayed, c.dropped) == (1, 1)
    assert len(forwarded) == 1
    (body,) = dialect.framer().feed(forwarded[0])
    relayed = dialect.decode(body)
    assert isinstance(relayed, Data)
    assert (relayed.payload, relayed.trace) == (9, (80, me))
