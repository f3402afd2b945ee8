"""The small interface every wire dialect implements.

Services hold one ``Dialect`` and never branch on which one it is. The general
path turns whole messages into frames and back; the data path works on raw
frame bodies so a relay never builds a message object per packet.

Variants: implementations of one dialect sometimes marshal a few fields
differently (cs455 has peers that send addresses as text). A dialect decodes
every variant it knows; ``with_variant`` gives a dialect that *encodes* in one
of them, and ``detect_variant`` tells from a peer's message which one it used,
so each peer can be answered in its own form.
"""

from __future__ import annotations

import enum
import struct
from abc import ABC, abstractmethod
from typing import ClassVar, NamedTuple

from trio_dht.wire.framing import FrameLimits, LengthPrefixFramer
from trio_dht.wire.messages import (
    Deregistration,
    Message,
    NodeManifest,
    Registration,
    TaskFinished,
)

CANONICAL = "canonical"


class Refusal(enum.Enum):
    """Why a registry refuses a registration or deregistration. Each dialect
    maps these to its own status numbers."""

    ADDRESS_MISMATCH = "address mismatch"
    ALREADY_REGISTERED = "already registered"
    OVERLAY_FULL = "overlay full"
    NOT_REGISTERED = "not registered"
    ID_MISMATCH = "id/address mismatch"
    OTHER = "other"


class Dialect(ABC):
    """A wire format: framing plus message codec. Stateless apart from the
    variant it encodes in; share freely."""

    name: ClassVar[str]
    # The encodings of this dialect seen in the wild; the first is the
    # canonical one, which every dialect has.
    variants: ClassVar[tuple[str, ...]] = (CANONICAL,)
    # The length prefix before every body, and the largest legitimate body of
    # each message type (see framing.FrameLimits).
    length_prefix: ClassVar[struct.Struct]
    frame_limits: ClassVar[FrameLimits]
    # The longest info text (statuses) the dialect carries, in encoded bytes.
    max_text: ClassVar[int]

    # --- framing ------------------------------------------------------------

    @property
    def max_body(self) -> int:
        """The largest body any legitimate frame of this dialect has."""
        return self.frame_limits.max_body

    def framer(self, max_frame: int | None = None) -> LengthPrefixFramer:
        """A fresh framer for one byte stream.

        It refuses any frame longer than the dialect can legitimately send,
        overall and per message type, before buffering its body. ``max_frame``
        can only lower that: the effective overall limit is
        ``min(max_frame, self.max_body)`` (so the services' default,
        DEFAULT_MAX_FRAME = 1 MiB, means "no extra cap"); None means the
        dialect's own limit."""
        limit = self.max_body if max_frame is None else min(max_frame, self.max_body)
        return LengthPrefixFramer(self.length_prefix, limit, self.frame_limits)

    # --- general path ---------------------------------------------------------

    @abstractmethod
    def encode(self, message: Message) -> bytes:
        """The whole frame for ``message``, length prefix included, in this
        dialect's variant.

        Raises LocalWireError when the message cannot be expressed in this
        dialect (e.g. an info text longer than ``max_text``)."""

    @abstractmethod
    def decode(self, body: bytes) -> Message:
        """The message in one frame body (the bytes after the length prefix),
        in any variant of the dialect. Raises RemoteWireError on anything
        malformed: unknown type, truncated body, trailing bytes, out-of-range
        values."""

    @abstractmethod
    def clip(self, text: str) -> str:
        """``text`` made fit to be sent as an info text: characters the
        dialect cannot carry replaced, and shortened (keeping its start,
        ending in "...") to ``max_text``. The result always encodes."""

    # --- variants ---------------------------------------------------------------

    @property
    def variant(self) -> str:
        """The variant this dialect encodes in."""
        return CANONICAL

    def with_variant(self, name: str) -> Dialect:
        """A dialect of the same kind that encodes in variant ``name``;
        decoding stays tolerant of every variant."""
        if name != CANONICAL:
            raise ValueError(
                f"the {self.name} dialect has no variant {name!r}; "
                f"choose one of {', '.join(self.variants)}"
            )
        return self

    def detect_variant(self, body: bytes) -> str | None:
        """The variant a peer used in ``body`` (the registration,
        deregistration, task-finished or manifest it sent), or None when
        the message carries nothing that tells variants apart. Raises
        RemoteWireError when ``body`` is malformed.

        This default suits a dialect with one variant: every address-carrying
        message is canonical."""
        message = self.decode(body)
        if isinstance(message, Registration | Deregistration | TaskFinished) or (
            isinstance(message, NodeManifest) and message.entries
        ):
            return CANONICAL
        return None

    # --- status numbers: classic peers know only -1 ----------------------------

    def refusal_status(self, refusal: Refusal) -> int:
        """The status number a refusal carries in this dialect."""
        return -1

    def deregistered_status(self, node_id: int) -> int:
        """The status of a successful deregistration (classic: the id)."""
        return node_id

    # --- data path: no message objects, one call per packet --------------------

    @abstractmethod
    def encode_data(self, destination: int, source: int, payload: int) -> bytes:
        """The whole frame of a freshly originated packet (empty trace).
        Raises LocalWireError for a value out of range."""

    @abstractmethod
    def data_head(self, body: bytes) -> tuple[int, int] | None:
        """``(destination, payload)`` if ``body`` is a well-formed data frame,
        else None (the caller then uses ``decode`` for the general path,
        which raises RemoteWireError on malformed bodies)."""

    def trace_has(self, body: bytes, node_id: int) -> bool:
        """Whether ``node_id`` is in the trace of ``body`` (a data frame that
        ``data_head`` accepted): a packet that already passed this node.
        Dialects override this with a search that rarely parses."""
        trace: tuple[int, ...] = getattr(self.decode(body), "trace", ())
        return node_id in trace

    def trace_length(self, body: bytes) -> int:
        """How many relays the trace of ``body`` (a data frame that
        ``data_head`` just accepted) holds: for a packet delivered here, the
        relays it took. Dialects override this with a read that does not
        parse again."""
        trace: tuple[int, ...] = getattr(self.decode(body), "trace", ())
        return len(trace)

    @abstractmethod
    def relay(self, body: bytes, relay_id: int) -> bytes:
        """The whole frame to forward: ``body`` (a data frame that
        ``data_head`` accepted) with ``relay_id`` appended to its trace.
        Raises LocalWireError when ``relay_id`` does not fit."""

    def route_batch(
        self,
        bodies: list[bytes],
        me: int,
        hop: list[int],
        outs: list[list[bytes]],
        check_loops: bool,
        relays: list[int],
    ) -> RouteTally:
        """Route every data frame of ``bodies`` for node ``me``: a packet for
        ``me`` is counted as received (and in ``relays`` at the index of its
        trace length), any other is relayed (``relay``) onto
        ``outs[hop[destination]]``, unless ``hop`` has no route for it
        (negative: counted as stray) or, with ``check_loops``, its trace
        already holds ``me`` (counted as looped). Bodies that are not data
        frames are returned in the tally's ``others``, in order.

        One call per batch. This default is written in terms of the
        per-packet methods; a dialect may fuse them (cs455 does) since the
        loop runs for every packet a node sees."""
        data_head = self.data_head
        relay = self.relay
        trace_has = self.trace_has
        trace_length = self.trace_length
        others: list[bytes] = []
        received = relayed = stray = looped = sum_received = 0
        for body in bodies:
            head = data_head(body)
            if head is None:
                others.append(body)
                continue
            destination, payload = head
            if destination == me:
                received += 1
                sum_received += payload
                relays[trace_length(body)] += 1
                continue
            via = hop[destination] if 0 <= destination < len(hop) else -1
            if via < 0:
                stray += 1
                continue
            if check_loops and trace_has(body, me):
                looped += 1
                continue
            outs[via].append(relay(body, me))
            relayed += 1
        return RouteTally(received, sum_received, relayed, stray, looped, others)

    def originate_batch(
        self,
        destinations: list[int],
        payloads: tuple[int, ...],
        me: int,
        hop: list[int],
        outs: list[list[bytes]],
    ) -> None:
        """Encode a fresh packet from ``me`` per (destination, payload) pair
        onto ``outs[hop[destination]]`` (every destination must have a
        route). One call per burst; cs455 writes encode_data inline."""
        encode_data = self.encode_data
        for destination, payload in zip(destinations, payloads, strict=True):
            outs[hop[destination]].append(encode_data(destination, me, payload))


class RouteTally(NamedTuple):
    """What ``Dialect.route_batch`` did with one batch."""

    received: int
    sum_received: int
    relayed: int
    stray: int
    looped: int
    others: list[bytes]
