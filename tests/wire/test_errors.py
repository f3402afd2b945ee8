"""Whose fault: a peer's bad bytes raise RemoteWireError, a message of ours the
dialect cannot carry raises LocalWireError; and ``clip`` makes any text
sendable."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trio_dht.wire import (
    DIALECT_NAMES,
    Dialect,
    LocalWireError,
    RemoteWireError,
    WireError,
    get_dialect,
)
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
)

DIALECTS = [get_dialect(name) for name in DIALECT_NAMES]
STATUSES = (RegistrationStatus, DeregistrationStatus, OverlaySetupStatus)


def only_body(dialect: Dialect, frame: bytes) -> bytes:
    (body,) = dialect.framer().feed(frame)
    return body


def test_both_errors_are_wire_errors() -> None:
    assert issubclass(LocalWireError, WireError)
    assert issubclass(RemoteWireError, WireError)
    assert not issubclass(LocalWireError, RemoteWireError)
    assert not issubclass(RemoteWireError, LocalWireError)


def test_max_text_of_each_dialect() -> None:
    assert get_dialect("cs455").max_text == 127
    assert get_dialect("minichord").max_text == 1024


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("cls", STATUSES, ids=lambda c: c.__name__)
def test_status_text_up_to_max_text_round_trips(dialect: Dialect, cls: type) -> None:
    message = cls(status=-1, info="y" * dialect.max_text)
    assert dialect.decode(only_body(dialect, dialect.encode(message))) == message


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("cls", STATUSES, ids=lambda c: c.__name__)
def test_too_long_status_is_a_local_error(dialect: Dialect, cls: type) -> None:
    with pytest.raises(LocalWireError):
        dialect.encode(cls(status=-1, info="y" * (dialect.max_text + 1)))


def test_the_ipv6_refusal_of_issue_9_is_local() -> None:
    # A registry refusal naming an IPv6 address ran to 139 characters and was
    # logged as the peer's malformed input.
    dialect = get_dialect("cs455")
    info = (
        "Registration request unsuccessful: the address in the request "
        "(2001:db8:85a3:8d3:1319:8a2e:370:7348) does not match the connection's "
        "(2001:db8:85a3:8d3:1319:8a2e:370:7349)"
    )
    assert len(info) > 127
    with pytest.raises(LocalWireError):
        dialect.encode(RegistrationStatus(-1, info))
    clipped = dialect.clip(info)
    assert len(clipped) == 127 and clipped.endswith("...")
    assert info.startswith(clipped[:-3])
    dialect.encode(RegistrationStatus(-1, clipped))


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@settings(max_examples=200, deadline=None)
@given(text=st.text(st.characters(), max_size=1500))
@example(text="\ud800" * 5)  # lone surrogates: no UTF-8 for them
@example(text="\u00e9" * 2000)  # 2-byte characters across the cut
@example(text="x" * 127 + "\u00e9")
def test_clip_output_always_encodes(dialect: Dialect, text: str) -> None:
    clipped = dialect.clip(text)
    for cls in STATUSES:
        message = cls(status=7, info=clipped)
        assert dialect.decode(only_body(dialect, dialect.encode(message))) == message
    assert len(clipped.encode("utf-8")) <= dialect.max_text
    # A text that already fits comes back as it was.
    with contextlib.suppress(LocalWireError):
        dialect.encode(OverlaySetupStatus(7, text))
        assert clipped == text


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_clip_keeps_the_start(dialect: Dialect) -> None:
    text = "setup failed: " + "z" * 5000
    clipped = dialect.clip(text)
    assert clipped.endswith("...")
    assert text.startswith(clipped[:-3])
    assert len(clipped.encode()) == dialect.max_text


def test_cs455_clip_replaces_non_ascii() -> None:
    assert get_dialect("cs455").clip("caf\u00e9 \u2603") == "caf? ?"


LOCAL_FAULTS: list[Message] = [
    Registration("bad host", 1),
    Registration("127.0.0.1", 2**40),
    Deregistration("::1", 1, 2**31),
    TaskFinished("", 1, 1),
    TaskInitiate(2**40),
    Data(1, 2, 3, trace=(2**33,)),
    NodeManifest(entries=(PeerEntry(2**31, "127.0.0.1", 1),), node_ids=(1,)),
    OverlaySetupStatus(1, "\ud800"),
]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("message", LOCAL_FAULTS, ids=repr)
def test_encode_faults_are_local(dialect: Dialect, message: Message) -> None:
    with pytest.raises(LocalWireError):
        dialect.encode(message)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_encode_of_a_non_message_is_local(dialect: Dialect) -> None:
    with pytest.raises(LocalWireError):
        dialect.encode("hello")  # type: ignore[arg-type]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_data_path_faults_of_ours_are_local(dialect: Dialect) -> None:
    with pytest.raises(LocalWireError):
        dialect.encode_data(2**31, 0, 0)
    body = only_body(dialect, dialect.encode_data(1, 2, 3))
    assert dialect.data_head(body) == (1, 3)
    with pytest.raises(LocalWireError):
        dialect.relay(body, 2**40)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize(
    "body",
    [b"", b"\x00", b"\xff" * 40, b"\x06\x7f", b"\x02\x09127.0.0.1", b"\x7a\x05\x0d"],
    ids=["empty", "zero", "ff", "manifest-count", "text-ip-no-port", "data-tag-truncated"],
)
def test_garbage_decodes_to_a_remote_error(dialect: Dialect, body: bytes) -> None:
    with pytest.raises(RemoteWireError):
        dialect.decode(body)
    with pytest.raises(RemoteWireError):
        dialect.detect_variant(body)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_raise_only_remote_errors(dialect: Dialect, data: bytes) -> None:
    """Framing and decoding a peer's bytes never blames us."""
    framer = dialect.framer()
    try:
        bodies = framer.feed(data)
    except RemoteWireError:
        return
    for body in bodies:
        with contextlib.suppress(RemoteWireError):
            dialect.decode(body)
        with contextlib.suppress(RemoteWireError):
            dialect.detect_variant(body)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_framer_errors_are_remote(dialect: Dialect) -> None:
    prefix = dialect.length_prefix
    with pytest.raises(RemoteWireError):
        dialect.framer().feed(prefix.pack(0))
    with pytest.raises(RemoteWireError):
        dialect.framer().feed(prefix.pack(dialect.max_body + 1))
