"""Captured frames as the lines of ../shared/vectors/ and as one-line summaries.

``vector_fields`` names each message and its fields exactly as the vector
files do (see their README), per dialect: cs455 carries raw ``ip`` + ``port``,
minichord ``"host:port"`` strings, and minichord leaves out every field that
holds its zero value because proto3 leaves it off the wire.
"""

from __future__ import annotations

import json
from typing import Any

from trio_dht.checker.frames import FrameEvent
from trio_dht.wire.messages import (
    Data,
    Deregistration,
    DeregistrationStatus,
    LoadReport,
    Message,
    NodeManifest,
    OverlaySetupStatus,
    ProgressReport,
    ProgressRequest,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)
from trio_dht.wire.minichord import format_address

KINDS: dict[type, str] = {
    Registration: "registration",
    RegistrationStatus: "registration_status",
    Deregistration: "deregistration",
    DeregistrationStatus: "deregistration_status",
    NodeManifest: "node_manifest",
    OverlaySetupStatus: "overlay_setup_status",
    TaskInitiate: "task_initiate",
    Data: "data",
    TaskFinished: "task_finished",
    TrafficSummaryRequest: "traffic_summary_request",
    TrafficSummary: "traffic_summary",
    ProgressRequest: "progress_request",
    ProgressReport: "progress_report",
    LoadReport: "load_report",
}
# Who sends each message, so a frame names its direction whichever side of
# the proxy it was seen on.
_FROM_REGISTRY = (
    RegistrationStatus,
    DeregistrationStatus,
    NodeManifest,
    TaskInitiate,
    TrafficSummaryRequest,
    ProgressRequest,
)
MAX_LIST = 8  # longer lists are elided on the terminal


def direction_of(message: Message) -> str:
    if isinstance(message, Data):
        return "node->node"
    if isinstance(message, _FROM_REGISTRY):
        return "registry->node"
    return "node->registry"


def vector_fields(dialect: str, message: Message) -> tuple[str, dict[str, Any]]:
    """``(message, fields)`` of a vector line for ``message`` in ``dialect``."""
    kind = KINDS[type(message)]
    if dialect == "minichord":
        fields = _minichord_fields(message)
        return kind, {k: v for k, v in fields.items() if v not in (0, "", [])}
    return kind, _cs455_fields(message)


def _cs455_fields(m: Message) -> dict[str, Any]:
    if isinstance(m, Registration):
        return {"ip": m.host, "port": m.port}
    if isinstance(m, RegistrationStatus | DeregistrationStatus | OverlaySetupStatus):
        return {"status": m.status, "info": m.info}
    if isinstance(m, Deregistration | TaskFinished):
        return {"ip": m.host, "port": m.port, "node_id": m.node_id}
    if isinstance(m, NodeManifest):
        entries = [{"node_id": e.node_id, "ip": e.host, "port": e.port} for e in m.entries]
        return {"entries": entries, "node_ids": list(m.node_ids)}
    if isinstance(m, Data):
        return {
            "destination": m.destination,
            "source": m.source,
            "payload": m.payload,
            "trace": list(m.trace),
        }
    if isinstance(m, TrafficSummary):
        return {
            "node_id": m.node_id,
            "sent": m.sent,
            "relayed": m.relayed,
            "sum_sent": m.sum_sent,
            "received": m.received,
            "sum_received": m.sum_received,
        }
    return _common_fields(m)


def _minichord_fields(m: Message) -> dict[str, Any]:
    if isinstance(m, Registration):
        return {"address": format_address(m.host, m.port)}
    if isinstance(m, RegistrationStatus | DeregistrationStatus | OverlaySetupStatus):
        return {"result": m.status, "info": m.info}
    if isinstance(m, Deregistration | TaskFinished):
        return {"address": format_address(m.host, m.port), "node_id": m.node_id}
    if isinstance(m, NodeManifest):
        peers = [
            {k: v for k, v in (("address", format_address(e.host, e.port)), ("node_id", e.node_id))
             if v != 0}
            for e in m.entries
        ]  # fmt: skip
        return {"nr": len(peers), "peers": peers, "ids": list(m.node_ids),
                "no_ids": len(m.node_ids)}  # fmt: skip
    if isinstance(m, Data):
        return {
            "destination": m.destination,
            "source": m.source,
            "payload": m.payload,
            "hops": m.hops,
            "trace": list(m.trace),
        }
    if isinstance(m, TrafficSummary):
        return {
            "node_id": m.node_id,
            "sent": m.sent,
            "relayed": m.relayed,
            "received": m.received,
            "total_sent": m.sum_sent,
            "total_received": m.sum_received,
        }
    return _common_fields(m)


def _common_fields(m: Message) -> dict[str, Any]:
    if isinstance(m, TaskInitiate):
        return {"packets": m.packets}
    if isinstance(m, ProgressRequest):
        return {"interval_ms": m.interval_ms}
    if isinstance(m, ProgressReport):
        return {
            "node_id": m.node_id,
            "sent": m.sent,
            "received": m.received,
            "relayed": m.relayed,
            "sum_sent": m.sum_sent,
            "sum_received": m.sum_received,
            "dropped": m.dropped,
        }
    if isinstance(m, LoadReport):
        return {
            "node_id": m.node_id,
            "links": [[link.node_id, link.packets] for link in m.links],
            "relays": list(m.relays),
        }
    return {}  # TrafficSummaryRequest has no fields


def vector_line(dialect: str, event: FrameEvent, origin: str, direction: str) -> str:
    """One JSON line in the format of ../shared/vectors/ (same keys, sorted).

    A malformed frame is kept too, as message ``malformed`` with the decoder's
    complaint and its byte offset, so a capture holds everything that crossed."""
    if event.message is None:
        kind, fields = "malformed", {"error": event.error, "offset": event.offset}
    else:
        kind, fields = vector_fields(dialect, event.message)
    record = {
        "dialect": dialect,
        "origin": origin,
        "direction": direction,
        "frame_hex": event.frame.hex(),
        "message": kind,
        "fields": fields,
    }
    return json.dumps(record, sort_keys=True)


def describe(dialect: str, event: FrameEvent) -> str:
    """``type field=value ...`` for a terminal line; lists over MAX_LIST elided."""
    if event.message is None:
        return f"MALFORMED at byte {event.offset} ({len(event.frame)} bytes): {event.error}"
    kind, fields = vector_fields(dialect, event.message)
    parts = [kind] + [f"{key}={_short(value)}" for key, value in fields.items()]
    return " ".join(parts)


def _short(value: Any) -> str:
    if isinstance(value, list):
        shown = [_short(v) for v in value[:MAX_LIST]]
        more = len(value) - MAX_LIST
        if more > 0:
            shown.append(f"... {more} more")
        return "[" + ", ".join(shown) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)
