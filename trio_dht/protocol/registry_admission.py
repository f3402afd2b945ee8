"""Who gets in: connections, their limits, registration and deregistration.

Why limits live here and not in the service: a limit that a peer's message
can undo is no limit. Each accepted connection is counted once, by host and
in total, until it registers a node or closes; nothing it sends lowers the
count. A connection that has not registered is closed after a few refused
registrations or when ``idle_timeout`` has passed since it opened, whatever
it sent meanwhile (the timer measures progress toward registering, not
traffic). A registration is accepted only once the registry has reached the
node's listening address, so members that cannot be reached never fill the
id space.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from collections.abc import Callable

import attrs

from trio_dht.overlay import IdAllocator
from trio_dht.protocol.debug import debug
from trio_dht.protocol.events import Close, ConnId, Log, Probe, Say, Send
from trio_dht.protocol.members import Member, NodeKind
from trio_dht.protocol.rules import Sender
from trio_dht.wire.dialect import Refusal
from trio_dht.wire.messages import (
    Deregistration,
    DeregistrationStatus,
    LoadReport,
    Message,
    OverlaySetupStatus,
    ProgressReport,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TrafficSummary,
)


@attrs.define
class AdmissionRules:
    # Connections that have not registered, in total and per source host.
    max_pending: int = 256
    max_pending_per_host: int = 160
    # Refused registrations after which a connection is closed.
    max_refusals: int = 3
    # A connection must register within this time of opening.
    idle_timeout: float = 10.0
    # Try one connection to a registering node's listening address first.
    probe_registrations: bool = True
    # Registered nodes per source host.
    max_nodes_per_host: int = 128
    # Treat every node as one that takes one message per connection.
    per_message_nodes: bool = False


@attrs.define(eq=False)
class Conn:
    conn: ConnId
    host: str
    opened: float
    node_id: int | None = None
    refusals: int = 0
    # A registration waiting for its reachability probe.
    probing: Registration | None = None
    variant: str | None = None
    frames: int = 0


SUCCESS_TEXT = (
    "{what} request successful. The number of messaging nodes currently constituting the "
    "overlay is ({count})"
)


class Admission:
    """Connections and membership; the registry core owns one."""

    def __init__(
        self,
        rules: AdmissionRules,
        ids: IdAllocator,
        members: dict[int, Member],
        emit: Callable[[object], None],
        refusal_status: Callable[[Refusal], int],
        deregistered_status: Callable[[int], int],
        clip: Callable[[str], str],
        joined: Callable[[Member], None],
        removed: Callable[[Member, str], None],
    ) -> None:
        self.rules = rules
        self.ids = ids
        self.members = members
        self._emit = emit
        self._refusal_status = refusal_status
        self._deregistered_status = deregistered_status
        self._clip = clip
        self._joined = joined
        self._removed = removed
        self.conns: dict[ConnId, Conn] = {}
        self._now = 0.0
        self._pending_by_host: Counter[str] = Counter()

    # --- connections ----------------------------------------------------------

    @property
    def pending(self) -> int:
        return sum(self._pending_by_host.values())

    def opened(self, conn: ConnId, host: str, now: float) -> None:
        self._now = now
        r = self.rules
        from_host = self._pending_by_host[host]
        if from_host >= r.max_pending_per_host:
            self._busy(conn, f"registry busy: {from_host} connections pending from {host}")
            return
        if self.pending >= r.max_pending:
            # Someone must go: the oldest stranger with nothing being checked
            # (a flood cannot lock newcomers out: a legitimate node registers
            # within milliseconds of arriving).
            victim = self._eviction_candidate()
            if victim is None:
                self._busy(conn, f"registry busy: {self.pending} connections pending")
                return
            self._busy(victim.conn, f"registry busy: {self.pending} connections pending")
            self.closed(victim.conn)
        self.conns[conn] = Conn(conn, host, now)
        self._pending_by_host[host] += 1
        # Per host, aggregated: a flood of connections is one line a second.
        text = f"connection {conn} from {host} accepted ({self.pending} pending)"
        self._emit(debug(text, ("accepted", host)))

    def _busy(self, conn: ConnId, why: str) -> None:
        """Said before closing, so a node learns why instead of seeing a bare
        close; a node reads it as the answer to its registration."""
        self._emit(Send(conn, RegistrationStatus(self._refusal_status(Refusal.OTHER), why)))
        self._emit(Close(conn, why))

    def _eviction_candidate(self) -> Conn | None:
        """The stranger that has waited longest without a registration being
        checked. A legitimate node sends its registration as soon as it
        connects and is probed and admitted within milliseconds, so the
        oldest pending connections are the ones with nothing to say."""
        candidates = [c for c in self.conns.values() if c.node_id is None and c.probing is None]
        return min(candidates, key=lambda c: c.opened, default=None)

    def closed(self, conn: ConnId) -> Conn | None:
        info = self.conns.pop(conn, None)
        if info is not None and info.node_id is None:
            self._uncount(info)
            line = f"connection {conn} from {info.host} closed (no node registered on it)"
            self._emit(debug(line, ("closed", info.host)))
        elif info is not None:
            self._emit(debug(f"connection {conn} closed: node {info.node_id}'s registration"))
        return info

    def _uncount(self, info: Conn) -> None:
        self._pending_by_host[info.host] -= 1
        if self._pending_by_host[info.host] <= 0:
            del self._pending_by_host[info.host]

    def tick(self, now: float) -> None:
        self._now = now
        limit = self.rules.idle_timeout
        for info in list(self.conns.values()):
            if info.node_id is None and info.probing is None and now - info.opened >= limit:
                self._emit(Close(info.conn, f"did not register within {limit:g} s"))
                self.closed(info.conn)

    def release(self, node_id: int) -> None:
        """Free the id of a member the core removed."""
        self.ids.release(node_id)

    def attribute(self, info: Conn, message: Message) -> tuple[Sender, Member | None]:
        """Who ``message`` on ``info`` comes from: the node of its session,
        or -- for nodes that send one message per connection -- the node it
        names, if it comes from that node's registered host; else nobody."""
        named = _named_node(message)
        if info.node_id is not None:
            member = self.members.get(info.node_id)
            if member is not None and named in (None, member.node_id):
                return Sender.SESSION, member
            return Sender.STRANGER, None
        if named is None:
            return Sender.STRANGER, None
        member = self.members.get(named)
        if member is None or member.host != info.host:
            return Sender.STRANGER, None
        if member.kind is NodeKind.PER_MESSAGE:
            return Sender.DIALLED_IN, member
        return Sender.STRANGER, None

    # --- registration -------------------------------------------------------------

    def register(self, info: Conn, message: Registration, variant: str | None) -> None:
        info.variant = variant or info.variant
        refusal = self._refusal(info, message)
        if refusal is not None:
            self._refuse_registration(info, *refusal)
            return
        if self.rules.probe_registrations:
            info.probing = message
            self._emit(Probe(info.conn, message.host, message.port))
            text = f"registration on connection {info.conn}: trying {message.host}:{message.port}"
            key = ("probing", info.host)
            self._emit(debug(text + " (its listening port) before admitting it", key))
            return
        self._admit(info, message)

    def probed(self, conn: ConnId, reachable: bool, reason: str) -> None:
        info = self.conns.get(conn)
        if info is None or info.probing is None:
            return
        message, info.probing = info.probing, None
        if not reachable:
            self._refuse_registration(
                info,
                Refusal.OTHER,
                f"Cannot connect to your listening port {message.port}"
                + (f" ({reason})." if reason else "."),
            )
            return
        refusal = self._refusal(info, message)  # the world may have changed meanwhile
        if refusal is not None:
            self._refuse_registration(info, *refusal)
            return
        self._admit(info, message)

    def _admit(self, info: Conn, message: Registration) -> None:
        node_id = self.ids.allocate()
        kind = NodeKind.PER_MESSAGE if self.rules.per_message_nodes else NodeKind.UNKNOWN
        member = Member(node_id, info.host, message.port, info.conn, kind, info.variant)
        self.members[node_id] = member
        info.node_id = node_id
        self._uncount(info)
        count = len(self.members)
        text = SUCCESS_TEXT.format(what="Registration", count=count)
        self._emit(Send(info.conn, RegistrationStatus(node_id, text), info.variant))
        noun = "node" if count == 1 else "nodes"
        self._emit(Say(f"Registered node {node_id} at {member.address} ({count} {noun})."))
        self._joined(member)

    def _refusal(self, info: Conn, message: Registration) -> tuple[Refusal, str] | None:
        if info.node_id is not None:
            return (
                Refusal.ALREADY_REGISTERED,
                f"This connection already registered node {info.node_id}.",
            )
        if info.probing is not None and info.probing is not message:
            return Refusal.OTHER, "A registration on this connection is being checked."
        if plain_host(message.host) != info.host:
            text = (
                f"The request gives the address {message.host} but the connection comes "
                f"from {info.host}."
            )
            return Refusal.ADDRESS_MISMATCH, text
        if not 0 < message.port < 65536:
            return Refusal.OTHER, f"Port {message.port} is not a valid listening port."
        same_host = 0
        for member in self.members.values():
            if member.host == info.host:
                same_host += 1
                if member.port == message.port:
                    return (
                        Refusal.ALREADY_REGISTERED,
                        f"A node at {member.address} is already registered (id {member.node_id}).",
                    )
        for other in self.conns.values():
            probing = other.probing
            if (
                other is not info
                and probing is not None
                and probing.port == message.port
                and other.host == info.host
            ):
                return Refusal.ALREADY_REGISTERED, "A node at that address is registering."
        if len(self.ids) >= self.ids.space:
            return (
                Refusal.OVERLAY_FULL,
                f"The overlay is full: all {self.ids.space} identifiers are taken.",
            )
        if same_host >= self.rules.max_nodes_per_host:
            return Refusal.OVERLAY_FULL, f"{same_host} nodes are registered from {info.host}."
        return None

    def _refuse_registration(self, info: Conn, why: Refusal, text: str) -> None:
        info.refusals += 1
        self._emit(
            Log(
                logging.WARNING,
                f"Refused registration from {info.host}: {text}",
                ("refused registration", info.host),
            )
        )
        status = RegistrationStatus(
            self._refusal_status(why), self._clip("Registration request unsuccessful. " + text)
        )
        self._emit(Send(info.conn, status, info.variant))
        if info.node_id is None and info.refusals >= self.rules.max_refusals:
            self._emit(Close(info.conn, f"{info.refusals} refused registrations"))
            self.closed(info.conn)

    # --- deregistration ---------------------------------------------------------

    def deregister(self, info: Conn, message: Deregistration, variant: str | None) -> None:
        member = self.members.get(message.node_id)
        claimed = plain_host(message.host)
        why: Refusal | None = None
        text = ""
        if claimed != info.host:
            why = Refusal.ADDRESS_MISMATCH
            text = (
                f"The request gives the address {message.host} but the connection comes "
                f"from {info.host}."
            )
        elif member is None:
            why = Refusal.NOT_REGISTERED
            text = f"Node {message.node_id} is not registered (already deregistered?)."
        elif member.host != claimed or not _may_speak_for(info, member, message):
            why = Refusal.ID_MISMATCH
            text = f"Node {message.node_id} is not registered to this connection."
        answer_variant = variant or info.variant
        if why is not None:
            self._emit(Say(f"Refused deregistration from {info.host}: {text}"))
            status = DeregistrationStatus(
                self._refusal_status(why),
                self._clip("Deregistration request unsuccessful. " + text),
            )
            self._emit(Send(info.conn, status, answer_variant))
            return
        assert member is not None
        del self.members[member.node_id]
        if info.node_id == member.node_id:
            # The connection speaks for nobody now; it counts as pending
            # again (never less), and may register anew.
            info.node_id = None
            info.opened = self._now
            self._pending_by_host[info.host] += 1
        self.ids.release(member.node_id)
        remaining = len(self.members)
        answer = DeregistrationStatus(
            self._deregistered_status(member.node_id),
            SUCCESS_TEXT.format(what="Deregistration", count=remaining),
        )
        # Answered on the connection it came on: persistent nodes read their
        # session, one-message nodes read one answer on the fresh connection.
        self._emit(Send(info.conn, answer, member.variant or answer_variant))
        self._emit(Log(logging.INFO, f"node {member.node_id} deregistered"))
        self._removed(member, "left")


def _may_speak_for(info: Conn, member: Member, message: Deregistration) -> bool:
    if info.node_id == member.node_id:
        return True
    if info.node_id is not None:
        return False  # another node's session
    # No session to speak on: identity is the host (checked by the caller).
    # A node not yet known to be of that kind (it leaves before setup, as
    # the seed's Go port may) must also name its exact listening address.
    if member.kind is NodeKind.PER_MESSAGE:
        return True
    return member.kind is NodeKind.UNKNOWN and message.port == member.port


def plain_host(host: str) -> str:
    """Normalise an IP text (``::ffff:1.2.3.4`` -> ``1.2.3.4``) so the same
    address always compares equal."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _named_node(message: Message) -> int | None:
    if isinstance(message, (Deregistration, TaskFinished)):
        return message.node_id
    if isinstance(message, (TrafficSummary, ProgressReport, LoadReport)):
        return message.node_id
    if isinstance(message, OverlaySetupStatus):
        return message.status if message.status >= 0 else None
    return None
