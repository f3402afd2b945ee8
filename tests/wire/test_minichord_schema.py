"""The minichord schema: field numbers and types as the spec and the Go ports
have them, and generated code that matches the .proto."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf.descriptor import FieldDescriptor  # type: ignore[import-untyped]

from trio_dht.wire import get_dialect
from trio_dht.wire import minichord_pb2 as pb
from trio_dht.wire.minichord import MinichordDialect

REPO = Path(__file__).resolve().parents[2]
DIALECT = MinichordDialect()


# --- schema ------------------------------------------------------------------

_TYPE_NAMES = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_MESSAGE: "message",
}

# WIRE-MINICHORD.md's tables plus the three trio_dht extensions.
SCHEMA: dict[str, dict[str, tuple[int, str]]] = {
    "MiniChord": {
        "registration": (17, "Registration"),
        "registrationResponse": (18, "RegistrationResponse"),
        "deregistration": (19, "Deregistration"),
        "deregistrationResponse": (20, "DeregistrationResponse"),
        "nodeRegistry": (21, "NodeRegistry"),
        "nodeRegistryResponse": (22, "NodeRegistryResponse"),
        "initiateTask": (23, "InitiateTask"),
        "nodeData": (15, "NodeData"),
        "taskFinished": (24, "TaskFinished"),
        "requestTrafficSummary": (25, "RequestTrafficSummary"),
        "reportTrafficSummary": (26, "TrafficSummary"),
        "progressRequest": (100, "ProgressRequest"),
        "progressReport": (101, "ProgressReport"),
        "loadReport": (102, "LoadReport"),
    },
    "Registration": {"Address": (1, "string")},
    "RegistrationResponse": {"Result": (2, "sfixed32"), "Info": (3, "string")},
    "Deregistration": {"Address": (1, "string"), "Id": (2, "sfixed32")},
    "DeregistrationResponse": {"Result": (2, "sfixed32"), "Info": (3, "string")},
    "NodeRegistry": {
        "NR": (4, "fixed32"),
        "Peers": (5, "repeated Deregistration"),
        "Ids": (6, "repeated sfixed32"),
        "NoIds": (7, "fixed32"),
    },
    "NodeRegistryResponse": {"Result": (2, "sfixed32"), "Info": (3, "string")},
    "InitiateTask": {"Packets": (13, "fixed32")},
    "NodeData": {
        "Destination": (1, "sfixed32"),
        "Source": (2, "sfixed32"),
        "Payload": (3, "sfixed32"),
        "Hops": (4, "fixed32"),
        "Trace": (5, "repeated sfixed32"),
    },
    "TaskFinished": {"Address": (1, "string"), "Id": (2, "sfixed32")},
    "RequestTrafficSummary": {},
    "TrafficSummary": {
        "Id": (2, "sfixed32"),
        "Sent": (11, "fixed32"),
        "Relayed": (12, "fixed32"),
        "Received": (13, "fixed32"),
        "TotalSent": (14, "sfixed64"),
        "TotalReceived": (15, "sfixed64"),
    },
    "ProgressRequest": {"IntervalMs": (1, "fixed32")},
    "ProgressReport": {
        "Id": (1, "sfixed32"),
        "Sent": (2, "fixed32"),
        "Received": (3, "fixed32"),
        "Relayed": (4, "fixed32"),
        "TotalSent": (5, "sfixed64"),
        "TotalReceived": (6, "sfixed64"),
        "Dropped": (7, "fixed32"),
    },
    "LinkLoad": {"Id": (1, "sfixed32"), "Packets": (2, "fixed32")},
    "LoadReport": {
        "Id": (1, "sfixed32"),
        "Links": (2, "repeated LinkLoad"),
        "Relays": (3, "repeated fixed32"),
    },
}


def _describe(field: FieldDescriptor) -> str:
    kind = field.message_type.name if field.message_type else _TYPE_NAMES[field.type]
    # Descriptor label API differs across protobuf versions; is_repeated is
    # the current one, label the older.
    repeated = getattr(field, "is_repeated", None)
    if repeated is None:
        repeated = field.label == FieldDescriptor.LABEL_REPEATED
    if field.containing_oneof is None and repeated:
        return f"repeated {kind}"
    return kind


def test_schema_matches_spec() -> None:
    got = {
        name: {f.name: (f.number, _describe(f)) for f in desc.fields}
        for name, desc in pb.DESCRIPTOR.message_types_by_name.items()
    }
    assert got == SCHEMA
    oneof = pb.MiniChord.DESCRIPTOR.oneofs_by_name["message"]
    assert {f.name for f in oneof.fields} == set(SCHEMA["MiniChord"])
    # Packed repeated scalars, as the Go ports send them (proto3 default).
    assert pb.NodeData(Trace=[1, 2]).SerializeToString() == bytes.fromhex("2a080100000002000000")


def test_get_dialect() -> None:
    dialect = get_dialect("minichord")
    assert isinstance(dialect, MinichordDialect)
    assert dialect.name == "minichord"


# --- generated code --------------------------------------------------------------


def test_generator_reproduces_committed_files(tmp_path: Path) -> None:
    if importlib.util.find_spec("grpc_tools") is None:
        pytest.skip("grpc_tools is not installed (pip install grpcio-tools) to regenerate with")
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "gen_minichord.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("minichord_pb2.py", "minichord_pb2.pyi"):
        committed = (REPO / "trio_dht" / "wire" / name).read_bytes()
        fresh = (tmp_path / name).read_bytes()
        if fresh != committed and name.endswith(".py"):
            version = re.compile(rb"^# Protobuf Python Version: (\S+)$", re.MULTILINE)
            ours, theirs = version.search(committed), version.search(fresh)
            if ours and theirs and ours.group(1) != theirs.group(1):
                pytest.skip(
                    f"installed grpcio-tools generates protobuf {theirs.group(1).decode()} code;"
                    f" the committed file is {ours.group(1).decode()}: compare with that version"
                )
        assert fresh == committed, f"{name} is stale: run tools/gen_minichord.py and commit"
