"""Events and actions only the node's core knows: the service's reports
about links and origination, and the instructions it carries out."""

from __future__ import annotations

import enum

import attrs

from trio_dht.protocol.events import Action, Event
from trio_dht.protocol.manifest import Overlay


class RegistryModel(enum.Enum):
    """How the node's registry delivers control (NodeCore learns it)."""

    UNKNOWN = "unknown"
    PERSISTENT = "persistent"  # control both ways on the registration connection
    PER_MESSAGE = "per-message"  # it dials control in; we dial it for answers


@attrs.frozen
class OverlayReady:
    """The service opened (or failed to open) the links of overlay
    ``generation``; ``failure`` says why not."""

    generation: int
    failure: str | None = None


@attrs.frozen
class OriginationDone:
    generation: int


@attrs.frozen
class ProgressDue:
    """The stats task's interval passed."""


@attrs.frozen
class InstallOverlay:
    """Replace the peers completely: stop originating, close the old links,
    open these, then answer with ``OverlayReady``."""

    generation: int
    overlay: Overlay


@attrs.frozen
class Originate:
    generation: int
    packets: int


@attrs.frozen
class ReportProgress:
    """Run the stats task every ``interval`` seconds (0: stop it)."""

    interval: float


@attrs.frozen
class Registered:
    node_id: int
    info: str


@attrs.frozen
class Refused:
    """Registration failed; the node should stop."""

    reason: str


@attrs.frozen
class Left:
    """The registry answered our deregistration (or we give up on it)."""

    status: int
    info: str


@attrs.frozen
class Stop:
    """The registry is gone; the node should stop."""

    reason: str


NodeEvent = Event | OverlayReady | OriginationDone | ProgressDue
NodeAction = (
    Action | InstallOverlay | Originate | ReportProgress | Registered | Refused | Left | Stop
)
