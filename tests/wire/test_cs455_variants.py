"""The classic variants (issue 10): text addresses, int NR, task finished
without a port. Decoding reads every form; ``with_variant`` encodes in one;
``detect_variant`` tells which form a peer used."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_vectors import cs455_message, load_vectors

from trio_dht.wire import RemoteWireError, get_dialect
from trio_dht.wire.cs455 import Cs455Dialect
from trio_dht.wire.cs455_primitives import Reader
from trio_dht.wire.cs455_variants import read_manifest
from trio_dht.wire.messages import (
    Deregistration,
    Message,
    NodeManifest,
    PeerEntry,
    Registration,
    RegistrationStatus,
    TaskFinished,
)

DIALECT = Cs455Dialect()
VARIANT_VECTORS = load_vectors("cs455-variants.jsonl")
CANONICAL_VECTORS = load_vectors("cs455.jsonl")
# Which variant each origin of the capture speaks.
ORIGIN_VARIANT = {
    "java-variant-text-address": "text-address",
    "java-variant-int-nr": "int-nr",
}
# What detect_variant says for each origin and message that carries an
# address. The int-nr peers write registration and deregistration canonically,
# so those cannot reveal their variant.
DETECTED = {
    ("java-variant-text-address", "registration"): "text-address",
    ("java-variant-text-address", "deregistration"): "text-address",
    ("java-variant-text-address", "task_finished"): "text-address",
    ("java-variant-text-address", "node_manifest"): "text-address",
    ("java-variant-int-nr", "registration"): "canonical",
    ("java-variant-int-nr", "deregistration"): "canonical",
    ("java-variant-int-nr", "task_finished"): "int-nr",
    ("java-variant-int-nr", "node_manifest"): "int-nr",
}


def body_of(frame: bytes) -> bytes:
    framer = DIALECT.framer()
    (body,) = framer.feed(frame)
    assert framer.buffered == 0
    return body


def params(vectors: list[dict[str, Any]]) -> list[Any]:
    return [
        pytest.param(v, id=f"{i:03d}-{v['origin']}-{v['message']}") for i, v in enumerate(vectors)
    ]


def test_the_capture_has_both_origins_and_every_layout() -> None:
    assert {v["origin"] for v in VARIANT_VECTORS} == set(ORIGIN_VARIANT)
    kinds = {(v["origin"], v["message"]) for v in VARIANT_VECTORS}
    assert set(DETECTED) <= kinds


def test_variant_interface() -> None:
    assert DIALECT.variants == ("canonical", "text-address", "int-nr")
    assert DIALECT.variant == "canonical"
    for name in DIALECT.variants:
        dialect = DIALECT.with_variant(name)
        assert dialect.variant == name
        assert dialect.name == "cs455"
        assert dialect.with_variant("canonical").variant == "canonical"
    with pytest.raises(ValueError, match="text-address"):
        DIALECT.with_variant("hex")
    minichord = get_dialect("minichord")
    assert minichord.variants == ("canonical",)
    assert minichord.with_variant("canonical") is minichord
    with pytest.raises(ValueError):
        minichord.with_variant("text-address")


@pytest.mark.parametrize("vector", params(VARIANT_VECTORS))
def test_variant_vector_decodes_and_reencodes_in_its_variant(vector: dict[str, Any]) -> None:
    frame = bytes.fromhex(vector["frame_hex"])
    body = body_of(frame)
    message = DIALECT.decode(body)
    assert message == cs455_message(vector)
    answer_in_kind = DIALECT.with_variant(ORIGIN_VARIANT[vector["origin"]])
    assert answer_in_kind.encode(message) == frame
    # Decoding is the same whichever variant a dialect encodes in.
    assert answer_in_kind.decode(body) == message


@pytest.mark.parametrize(
    "vector", params([v for v in VARIANT_VECTORS if (v["origin"], v["message"]) in DETECTED])
)
def test_detect_variant_names_the_peers_form(vector: dict[str, Any]) -> None:
    body = body_of(bytes.fromhex(vector["frame_hex"]))
    assert DIALECT.detect_variant(body) == DETECTED[vector["origin"], vector["message"]]


@pytest.mark.parametrize(
    "vector", params([v for v in VARIANT_VECTORS if (v["origin"], v["message"]) not in DETECTED])
)
def test_messages_without_an_address_tell_nothing(vector: dict[str, Any]) -> None:
    assert DIALECT.detect_variant(body_of(bytes.fromhex(vector["frame_hex"]))) is None


@pytest.mark.parametrize("vector", params(CANONICAL_VECTORS))
def test_classic_vectors_are_canonical(vector: dict[str, Any]) -> None:
    body = body_of(bytes.fromhex(vector["frame_hex"]))
    carries_address = vector["message"] in {"registration", "deregistration", "task_finished"}
    if vector["message"] == "node_manifest" and vector["fields"]["entries"]:
        carries_address = True
    assert DIALECT.detect_variant(body) == ("canonical" if carries_address else None)


def test_the_spec_example_of_a_text_address() -> None:
    frame = DIALECT.with_variant("text-address").encode(Registration("127.0.0.1", 5000))
    assert frame[5:15] == bytes.fromhex("09 3132372e302e302e31")


def test_minichord_detects_canonical_where_an_address_is() -> None:
    minichord = get_dialect("minichord")
    cases: list[tuple[Message, str | None]] = [
        (Registration("127.0.0.1", 1), "canonical"),
        (TaskFinished("10.0.0.1", 2, 3), "canonical"),
        (NodeManifest((PeerEntry(1, "::1", 2),), (1,)), "canonical"),
        (NodeManifest((), ()), None),
        (RegistrationStatus(1, "ok"), None),
    ]
    for message, expected in cases:
        (body,) = minichord.framer().feed(minichord.encode(message))
        assert minichord.detect_variant(body) == expected


# --------------------------------------------------------------------------
# every message in every variant
# --------------------------------------------------------------------------

int32 = st.integers(-(2**31), 2**31 - 1)
hosts = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
entries = st.builds(PeerEntry, node_id=int32, host=hosts, port=int32)
ADDRESSED: st.SearchStrategy[Message] = st.one_of(
    st.builds(Registration, host=hosts, port=int32),
    st.builds(Deregistration, host=hosts, port=int32, node_id=int32),
    st.builds(TaskFinished, host=hosts, port=int32, node_id=int32),
    st.builds(
        NodeManifest,
        entries=st.lists(entries, max_size=127).map(tuple),
        node_ids=st.lists(int32, max_size=127).map(tuple),
    ),
)


@settings(max_examples=300, deadline=None)
@given(message=ADDRESSED, variant=st.sampled_from(DIALECT.variants))
def test_every_variant_round_trips(message: Message, variant: str) -> None:
    dialect = DIALECT.with_variant(variant)
    body = body_of(dialect.encode(message))
    decoded = dialect.decode(body)
    if isinstance(message, TaskFinished) and variant == "int-nr":
        # The int-nr task finished carries no port.
        assert decoded == TaskFinished(message.host, 0, message.node_id)
    else:
        assert decoded == message
    detected = DIALECT.detect_variant(body)
    if isinstance(message, NodeManifest) and not message.entries and variant != "int-nr":
        assert detected is None  # no address, and a byte NR either way
    elif isinstance(message, Registration | Deregistration) and variant == "int-nr":
        assert detected == "canonical"
    else:
        assert detected == variant


def manifest_layouts(body: bytes) -> int:
    """Under how many layouts (byte NR, int NR) ``body`` parses exactly."""
    count = 0
    for int_nr in (False, True):
        with contextlib.suppress(RemoteWireError):
            read_manifest(Reader(body, "NodeManifest"), int_nr)
            count += 1
    return count


@settings(max_examples=300, deadline=None)
@given(
    manifest=st.builds(
        NodeManifest,
        entries=st.lists(entries, max_size=6).map(tuple),
        node_ids=st.lists(st.integers(0, 127), max_size=8).map(tuple),
    ),
    variant=st.sampled_from(DIALECT.variants),
    extra=st.binary(max_size=8),
    cut=st.integers(0, 8),
)
def test_no_manifest_parses_under_two_layouts(
    manifest: NodeManifest, variant: str, extra: bytes, cut: int
) -> None:
    body = body_of(DIALECT.with_variant(variant).encode(manifest))
    assert manifest_layouts(body) == 1
    assert manifest_layouts(body + extra) <= 1
    assert manifest_layouts(body[: max(1, len(body) - cut)]) <= 1


# --------------------------------------------------------------------------
# address forms: what is read, what is written, what is refused
# --------------------------------------------------------------------------


def registration_body(ip_field: bytes, port: int = 7) -> bytes:
    return b"\x02" + ip_field + struct.pack(">i", port)


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("255.255.255.255", "255.255.255.255"),
        ("1.2.3.4", "1.2.3.4"),
        ("::1", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),  # Java's spelling of ::1
        ("2001:db8::ff00:42:8329", "2001:db8::ff00:42:8329"),
        ("0000:0000:0000:0000:0000:ffff:255.255.255.255", "::ffff:ffff:ffff"),
    ],
)
def test_text_addresses_are_read(text: str, host: str) -> None:
    raw = text.encode()
    body = registration_body(bytes((len(raw),)) + raw)
    assert DIALECT.decode(body) == Registration(host, 7)
    assert DIALECT.detect_variant(body) == "text-address"


@pytest.mark.parametrize("host", ["1::2", "2001:db8::1:2:3a", "::ab"])
def test_ipv6_text_that_would_look_raw_is_written_exploded(host: str) -> None:
    dialect = DIALECT.with_variant("text-address")
    body = body_of(dialect.encode(Registration(host, 1)))
    assert body[1] not in (4, 16)
    assert dialect.decode(body) == Registration(host, 1)


@pytest.mark.parametrize(
    "ip_field",
    [
        b"\x09127.0.0.x",
        b"\x09127.0.0.\xff",
        b"\x0b127.0.0.256",
        b"\x0cfe80::1%eth0",
        b"\x01x",
        b"\x2e" + b"1" * 46,
    ],
    ids=["letter", "non-ascii", "octet-256", "scope", "length-1", "length-46"],
)
def test_bad_text_addresses_are_refused(ip_field: bytes) -> None:
    with pytest.raises(RemoteWireError, match="address length"):
        DIALECT.decode(registration_body(ip_field))


def test_mixed_address_forms_are_refused() -> None:
    canonical = body_of(DIALECT.encode(NodeManifest((PeerEntry(1, "1.2.3.4", 5),), (1,))))
    text = body_of(
        DIALECT.with_variant("text-address").encode(NodeManifest((PeerEntry(2, "1.2.3.4", 5),), ()))
    )
    # One raw entry, then one text entry, then an empty id list.
    entry_raw = canonical[2 : 2 + 13]
    entry_text = text[2:-1]
    mixed = b"\x06\x02" + entry_raw + entry_text + b"\x00"
    with pytest.raises(RemoteWireError, match="mixes raw and text"):
        DIALECT.decode(mixed)


def test_task_finished_layouts() -> None:
    head = b"\x0a\x04\x7f\x00\x00\x01"
    assert DIALECT.decode(head + struct.pack(">ii", 5000, 3)) == TaskFinished("127.0.0.1", 5000, 3)
    assert DIALECT.decode(head + struct.pack(">i", 3)) == TaskFinished("127.0.0.1", 0, 3)
    for size in (0, 1, 2, 3, 5, 7, 9, 12):
        with pytest.raises(RemoteWireError):
            DIALECT.decode(head + bytes(size))
    # The int-nr form drops the port on the way out.
    int_nr = DIALECT.with_variant("int-nr")
    assert int_nr.encode(TaskFinished("127.0.0.1", 5000, 3)) == (
        struct.pack(">i", 10) + head + struct.pack(">i", 3)
    )


@pytest.mark.parametrize("count", [129, 1000, -1, 2**31 - 1])
def test_int_nr_out_of_range_is_refused(count: int) -> None:
    body = b"\x06" + struct.pack(">i", count) + bytes(20)
    with pytest.raises(RemoteWireError):
        DIALECT.decode(body)
