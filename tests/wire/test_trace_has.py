"""Dialect.trace_has: the relay path's loop check agrees with a full decode."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_dht.wire import get_dialect
from trio_dht.wire.messages import Data

ids = st.integers(0, 127)
int32 = st.integers(-(2**31), 2**31 - 1)


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
@given(
    packet=st.builds(Data, ids, ids, int32, st.lists(ids, max_size=12).map(tuple)),
    probe=ids,
)
def test_trace_has_agrees_with_the_decoded_trace(wire: str, packet: Data, probe: int) -> None:
    dialect = get_dialect(wire)
    body = dialect.encode(packet)[4 if wire == "cs455" else 8 :]
    assert dialect.data_head(body) is not None
    # Also right when the id's bytes occur outside the trace (in the
    # destination, source, payload or the trace's length).
    assert dialect.trace_has(body, probe) == (probe in packet.trace)
