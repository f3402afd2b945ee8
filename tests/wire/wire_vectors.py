"""Loads the captured wire vectors kept in the tree (tests/vectors/), and
holds hand-built messages shared by several wire tests.

The files are copies of ../shared/vectors, so a fresh clone runs every vector
test; test_vector_copies.py checks that the copies still match the originals
whenever those are present. A missing copy is an error, never a skip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trio_dht.wire.messages import (
    Data,
    Deregistration,
    DeregistrationStatus,
    LinkLoad,
    LoadReport,
    Message,
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
    ProgressReport,
    ProgressRequest,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

VECTOR_DIR = Path(__file__).resolve().parents[1] / "vectors"

# The originals, beside the repository (only on the machines that captured or
# share them).
SHARED_VECTOR_DIR = Path(__file__).resolve().parents[3] / "shared" / "vectors"


def load_vectors(name: str) -> list[dict[str, Any]]:
    """Every vector (one JSON object per line) of tests/vectors/``name``."""
    path = VECTOR_DIR / name
    with path.open(encoding="utf-8") as stream:
        vectors = [json.loads(line) for line in stream if line.strip()]
    if not vectors:
        raise AssertionError(f"{path} holds no vectors")
    return vectors


CS455_MESSAGES: dict[str, type] = {
    "registration": Registration,
    "registration_status": RegistrationStatus,
    "deregistration": Deregistration,
    "deregistration_status": DeregistrationStatus,
    "node_manifest": NodeManifest,
    "overlay_setup_status": OverlaySetupStatus,
    "task_initiate": TaskInitiate,
    "data": Data,
    "task_finished": TaskFinished,
    "traffic_summary_request": TrafficSummaryRequest,
    "traffic_summary": TrafficSummary,
}


def cs455_message(vector: dict[str, Any]) -> Message:
    """The message a cs455 vector's decoded fields describe (field names of
    tests/vectors/README.md mapped onto trio_dht.wire.messages). A task
    finished of the int-nr variant has no port on the wire: port 0."""
    fields = dict(vector["fields"])
    if "ip" in fields:
        fields["host"] = fields.pop("ip")
    if vector["message"] == "task_finished":
        fields.setdefault("port", 0)
    if "entries" in fields:
        fields["entries"] = tuple(
            PeerEntry(node_id=entry["node_id"], host=entry["ip"], port=entry["port"])
            for entry in fields["entries"]
        )
    for key in ("node_ids", "trace"):
        if key in fields:
            fields[key] = tuple(fields[key])
    message: Message = CS455_MESSAGES[vector["message"]](**fields)
    return message


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Hand-built cs455 messages of the types and hosts the captures do not contain.
CS455_EXTRA_MESSAGES: list[Message] = [
    Registration(host="::1", port=0),
    Registration(host="2001:db8::ff00:42:8329", port=INT32_MAX),
    RegistrationStatus(status=-1, info="Registration request failed: duplicate node"),
    Deregistration(host="10.0.0.7", port=INT32_MIN, node_id=127),
    Deregistration(host="fe80::1", port=40000, node_id=0),
    DeregistrationStatus(status=-1, info=""),
    DeregistrationStatus(status=5, info="x" * 127),
    NodeManifest(entries=(), node_ids=()),
    NodeManifest(
        entries=(PeerEntry(node_id=3, host="::ffff:102:304", port=1), PeerEntry(1, "1.2.3.4", 2)),
        node_ids=(1, 3, 127),
    ),
    OverlaySetupStatus(status=9, info="ok [trio_dht:progress]"),
    TaskInitiate(packets=INT32_MIN),
    Data(destination=1, source=2, payload=INT32_MIN, trace=tuple(range(128))),
    TaskFinished(host="255.255.255.255", port=-1, node_id=-1),
    TrafficSummaryRequest(),
    TrafficSummary(
        node_id=1, sent=2, relayed=3, sum_sent=INT64_MIN, received=4, sum_received=INT64_MAX
    ),
    ProgressRequest(interval_ms=250),
    ProgressRequest(interval_ms=0),
    ProgressReport(
        node_id=1, sent=2, received=3, relayed=4, sum_sent=-5, sum_received=6, dropped=7
    ),
    ProgressReport(
        node_id=INT32_MAX,
        sent=INT32_MIN,
        received=0,
        relayed=0,
        sum_sent=INT64_MAX,
        sum_received=INT64_MIN,
    ),
    LoadReport(node_id=0, links=(), relays=()),
    LoadReport(
        node_id=127,
        links=tuple(LinkLoad(k, INT32_MAX - k) for k in range(7)),
        relays=(0,) * 127 + (INT32_MAX,),
    ),
]
