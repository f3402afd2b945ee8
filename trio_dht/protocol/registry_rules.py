"""What the registry core must know that no message tells it: limits,
timers, and what the wire dialect can carry."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from trio_dht.protocol.registry_admission import AdmissionRules
from trio_dht.protocol.registry_run import RunTimers
from trio_dht.wire.dialect import Refusal


@attrs.define
class RegistryRules:
    """Everything the core needs to know that is not a message."""

    admission: AdmissionRules = attrs.field(factory=AdmissionRules)
    timers: RunTimers = attrs.field(factory=RunTimers)
    # A node that does not answer its manifest on its registration
    # connection within this time is dialled from then on.
    manifest_timeout: float = 1.5
    # A node that answers no manifest at all, dialled or not, within this
    # time is removed: it holds the overlay not ready for ever otherwise (a
    # fake member that passed the reachability check by listening, or a
    # frozen node).
    unanswered_after: float = 10.0
    progress_interval: float = 0.05
    # What the dialect can carry: ids in one manifest, a counter's maximum.
    max_manifest_ids: int = 128
    max_counter: int = 2**31 - 1
    refusal_status: Callable[[Refusal], int] = lambda _why: -1
    deregistered_status: Callable[[int], int] = lambda node_id: node_id
    clip: Callable[[str], str] = lambda text: text
