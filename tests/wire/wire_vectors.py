"""Loads the captured wire vectors kept in the tree (tests/vectors/).

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
    Message,
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
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
