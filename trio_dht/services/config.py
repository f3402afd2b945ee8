"""The services' settings, and how they become the cores' rules.

Defaults are chosen for a loopback overlay of up to 128 nodes; every one
has a command-line flag.
"""

from __future__ import annotations

import attrs

from trio_dht.protocol.registry_admission import AdmissionRules
from trio_dht.protocol.registry_rules import RegistryRules
from trio_dht.protocol.registry_run import RunTimers
from trio_dht.transport import DEFAULT_BUDGET
from trio_dht.wire import DEFAULT_MAX_FRAME, Dialect


@attrs.define
class RegistryConfig:
    # How often trio_dht nodes report progress during a run.
    progress_interval: float = 0.05
    # With classic peers (no progress reports): how long to wait after the
    # last task-finished report before asking for summaries.
    grace: float = 15.0
    # Every node answering, nothing moving this long short of the total:
    # take the rest as lost and ask for summaries. Not shorter: packets wait
    # in the kernel while a flooded node's listen backlog holds the links
    # (5,000 idle strangers on a node with 1,024 slots: about 5 s).
    stall_timeout: float = 10.0
    # A trio_dht node silent this long during a run is named unresponsive.
    unresponsive_after: float = 5.0
    # Give up on a run after this long without any progress anywhere.
    run_timeout: float = 60.0
    # How long to wait for traffic summaries once requested.
    summary_timeout: float = 10.0
    # A node that does not answer its manifest on its registration
    # connection within this time is dialled for every message.
    manifest_timeout: float = 1.5
    # Treat every node as one that takes one message per connection.
    per_message_nodes: bool = False
    writer_capacity: int = 64
    # How long a reachability probe of a node may take.
    probe_timeout: float = 1.0
    # Probe a registering node's listening port before admitting it.
    probe_registrations: bool = True
    # Limits against broken or hostile peers.
    max_frame: int = DEFAULT_MAX_FRAME
    # A connection must register within this time of opening.
    idle_timeout: float = 10.0
    # A frame that has begun must complete within this time.
    frame_timeout: float = 10.0
    # Connections that have not registered a node, in total and per host.
    max_pending: int = 256
    max_pending_per_host: int = 160
    # Refused registrations after which a connection is closed.
    max_refusals: int = 3
    max_nodes_per_host: int = 128
    # Accepted connections at once (None: from RLIMIT_NOFILE, see
    # transport/limits.py); beyond it accepting waits (the kernel's backlog
    # holds the dialler) while the longest-idle stranger makes room.
    max_connections: int | None = None
    # Bytes all readers together may hold in partial frames.
    read_budget: int = DEFAULT_BUDGET


def registry_rules(config: RegistryConfig, dialect: Dialect) -> RegistryRules:
    classic = dialect.name == "cs455"
    return RegistryRules(
        admission=AdmissionRules(
            max_pending=config.max_pending,
            max_pending_per_host=config.max_pending_per_host,
            max_refusals=config.max_refusals,
            idle_timeout=config.idle_timeout,
            probe_registrations=config.probe_registrations,
            max_nodes_per_host=config.max_nodes_per_host,
            per_message_nodes=config.per_message_nodes,
        ),
        timers=RunTimers(
            unresponsive_after=config.unresponsive_after,
            grace=config.grace,
            stall_timeout=config.stall_timeout,
            run_timeout=config.run_timeout,
            summary_timeout=config.summary_timeout,
        ),
        manifest_timeout=config.manifest_timeout,
        progress_interval=config.progress_interval,
        # Java reads the manifest's id count as a signed byte.
        max_manifest_ids=127 if classic else 128,
        # Counters are int32 in cs455, fixed32 in minichord.
        max_counter=2**31 - 1 if classic else 2**32 - 1,
        refusal_status=dialect.refusal_status,
        deregistered_status=dialect.deregistered_status,
        clip=dialect.clip,
    )


@attrs.define
class NodeConfig:
    connect_timeout: float = 5.0
    # How long the registry may take to answer the registration. Longer than
    # connecting: under a flood of 5,000 connections our registry took more
    # than 5 s to accept a node out of its listen backlog (then 6.8 s in all).
    answer_timeout: float = 15.0
    leave_timeout: float = 5.0
    writer_capacity: int = 64
    # Send data to routing-table peers on a fresh connection per packet, for
    # overlays that mix in nodes of the one-message-per-connection kind (they
    # read one frame per connection). Nothing in the traffic can tell us a
    # peer is of that kind before we send to it, hence a setting.
    per_message_peers: bool = False
    # Force the registry's connection model: None learns it from the
    # traffic; True: it dials control in and is dialled for answers.
    per_message_registry: bool | None = None
    # How long the liveness probe of a registry that closed our connection
    # may take.
    probe_timeout: float = 1.0
    # How long an opened link is watched for being closed at once by a peer
    # that refuses it, before setup success is reported.
    link_proof: float = 0.05
    # Limits against broken or hostile peers: the largest frame accepted,
    # how long a started frame may take to arrive, and how many incoming
    # connections may be open at once.
    max_frame: int = DEFAULT_MAX_FRAME
    frame_timeout: float = 10.0
    # Incoming connections at once (None: from RLIMIT_NOFILE). When all are
    # taken the node stops accepting (the dialler waits in the backlog:
    # nothing is accepted and dropped) and closes the longest-idle one that
    # never carried a frame to make room for someone waiting.
    max_incoming: int | None = None
    # A connection that has said nothing for this long is closed, except
    # the overlay's own links (LinkKeeper: they may be silent until the run).
    incoming_idle_timeout: float = 30.0
    read_budget: int = DEFAULT_BUDGET
    # Reproducible traffic: when set, sinks and payloads are drawn from a
    # generator seeded with (seed, own id) once the id is known, so a run's
    # totals do not depend on which process got which id.
    seed: int | None = None
