"""Dialect.trace_length: the delivered packet's relay count the data plane
counts, read without a parse, agrees with a full decode; and no data frame a
framer lets through can index past the node's relay slots."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_dht.protocol.node_counters import RELAY_SLOTS
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import Data
from trio_dht.wire.minichord import member_tag

int32 = st.integers(-(2**31), 2**31 - 1)


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
@given(packet=st.builds(Data, int32, int32, int32, st.lists(int32, max_size=128).map(tuple)))
def test_trace_length_agrees_with_the_decoded_trace(wire: str, packet: Data) -> None:
    dialect = get_dialect(wire)
    body = dialect.encode(packet)[dialect.length_prefix.size :]
    assert dialect.data_head(body) is not None
    assert dialect.trace_length(body) == len(packet.trace)


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
def test_relayed_frames_count_their_relays(wire: str) -> None:
    dialect = get_dialect(wire)
    size = dialect.length_prefix.size
    body = dialect.encode_data(5, 1, 42)[size:]
    for hop in range(1, 8):
        assert dialect.data_head(body) is not None
        body = dialect.relay(body, hop)[size:]
        assert dialect.data_head(body) is not None
        assert dialect.trace_length(body) == hop


@pytest.mark.parametrize(("wire", "tag"), [("cs455", b"\x09"), ("minichord", None)])
def test_no_admitted_data_frame_carries_a_trace_past_the_relay_slots(
    wire: str, tag: bytes | None
) -> None:
    # Each trace id takes at least 4 bytes in both dialects, so a body within
    # the data type's frame limit holds fewer than RELAY_SLOTS of them.
    dialect = get_dialect(wire)
    limit = dialect.frame_limits.type_limit(tag or member_tag("nodeData"))
    assert limit is not None and limit < 4 * RELAY_SLOTS
