"""Wire layer: message classes and sans-IO codecs, one module per dialect.

No sockets and no trio here: bytes in, messages out, and back.

Module map: ``messages`` (dialect-neutral message classes), ``errors``
(RemoteWireError: a peer's bad bytes; LocalWireError: ours cannot be
expressed), ``framing`` (length-prefixed framer with per-type frame limits),
``dialect`` (the interface services use), ``cs455`` with ``cs455_primitives``,
``cs455_layouts`` and ``cs455_variants`` (the classic binary dialect and the
variants of it met in the wild), ``minichord`` with ``minichord_fields`` and
``minichord_codec`` (the protobuf dialect of the Go ports).
"""

from __future__ import annotations

from trio_dht.wire.dialect import CANONICAL, Dialect, Refusal
from trio_dht.wire.errors import LocalWireError, RemoteWireError, WireError
from trio_dht.wire.framing import DEFAULT_MAX_FRAME, FrameLimits, LengthPrefixFramer

DIALECT_NAMES: tuple[str, ...] = ("cs455", "minichord")


def get_dialect(name: str) -> Dialect:
    """The dialect called ``name`` (one of DIALECT_NAMES), encoding in its
    canonical variant (``Dialect.with_variant`` gives the others)."""
    # Imported on demand so that the classic dialect never pays for loading
    # the protobuf runtime.
    if name == "cs455":
        from trio_dht.wire.cs455 import Cs455Dialect

        return Cs455Dialect()
    if name == "minichord":
        from trio_dht.wire.minichord import MinichordDialect

        return MinichordDialect()
    raise ValueError(f"unknown wire dialect {name!r}; choose one of {', '.join(DIALECT_NAMES)}")


__all__ = [
    "CANONICAL",
    "DEFAULT_MAX_FRAME",
    "DIALECT_NAMES",
    "Dialect",
    "FrameLimits",
    "LengthPrefixFramer",
    "LocalWireError",
    "Refusal",
    "RemoteWireError",
    "WireError",
    "get_dialect",
]
