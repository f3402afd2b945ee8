"""The variants of the classic ``cs455`` dialect: the layouts that differ.

Variants ("Variants" in WIRE-CS455.md; frames in cs455-variants.jsonl). Each
is a ``Variant`` below, used to *encode*; decoding reads every one of them:

- ``canonical``: raw ip fields, byte NR.
- ``text-address``: every ip field as text (registration, deregistration,
  task finished, manifest entries); byte NR. (Its registry also leaves the
  receiver's own id out of the manifest's id list: that is content, which
  the registry decides, not layout.)
- ``int-nr``: canonical registration and deregistration; the manifest has a
  4-byte int NR and text addresses; task finished has no port field (type,
  ip, int id). Decoding such a task finished gives ``port`` 0, and encoding
  one in this variant leaves the port out. Its registration is the canonical
  one, so a registration never reveals this variant.

Every body parses without trailing bytes under exactly one layout: an ip
field's length says its form (see ``cs455_primitives``); a task finished is
followed by 8 bytes (port, id) or 4 (id only); and a manifest read with a
byte NR and with an int NR cannot both end exactly at the body's end (an int
NR of at most 128 starts with two zero bytes, which as a byte NR and an id
count make a 3-byte manifest, while an int-NR manifest is at least 6 bytes).
Mixing raw and text addresses within one message is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

from trio_dht.wire.cs455_primitives import MIN_IP_FIELD, Reader, Writer
from trio_dht.wire.errors import LocalWireError, RemoteWireError
from trio_dht.wire.messages import Message, NodeManifest, PeerEntry, TaskFinished


@attrs.frozen
class Variant:
    """How one family of peers writes the fields that differ."""

    name: str
    text_in_reports: bool  # ip of registration, deregistration, task finished
    text_in_manifest: bool  # ip of every manifest entry
    int_nr: bool  # manifest NR as a 4-byte int
    port_in_task_finished: bool


CANONICAL = Variant("canonical", False, False, False, True)
TEXT_ADDRESS = Variant("text-address", True, True, False, True)
INT_NR = Variant("int-nr", False, True, True, False)
VARIANTS: Mapping[str, Variant] = MappingProxyType(
    {v.name: v for v in (CANONICAL, TEXT_ADDRESS, INT_NR)}
)

# A manifest lists at most one entry per routing-table row; an int NR above
# this is corrupt (a byte NR stops at 127 anyway).
MAX_MANIFEST_ENTRIES = 128
# Smallest manifest entry (int id, shortest ip field, int port): lets a
# decoder refuse an absurd entry count before looping over it.
_MIN_ENTRY_SIZE = 4 + MIN_IP_FIELD + 4


Decoded = tuple[Message, str | None]


def address_form(r: Reader) -> str | None:
    """The variant the ip fields read so far reveal."""
    if r.raw_addresses and r.text_addresses:
        raise r.fail("mixes raw and text addresses; a peer writes all of them one way")
    if r.text_addresses:
        return TEXT_ADDRESS.name
    return CANONICAL.name if r.raw_addresses else None


def encode_task_finished(w: Writer, m: TaskFinished, v: Variant) -> None:
    w.put_ip("host", m.host, v.text_in_reports)
    if v.port_in_task_finished:
        w.put_int("port", m.port)
    w.put_int("node_id", m.node_id)


def encode_manifest(w: Writer, m: NodeManifest, v: Variant) -> None:
    why = "a 128-node overlay cannot be described to a classic peer"
    if v.int_nr and len(m.entries) > MAX_MANIFEST_ENTRIES:
        raise LocalWireError(
            f"NodeManifest has {len(m.entries)} entries; a manifest lists at most "
            f"{MAX_MANIFEST_ENTRIES}"
        )
    w.put_count("entries", len(m.entries), why, wide=v.int_nr)
    for index, entry in enumerate(m.entries):
        w.put_int(f"entries[{index}].node_id", entry.node_id)
        w.put_ip(f"entries[{index}].host", entry.host, v.text_in_manifest)
        w.put_int(f"entries[{index}].port", entry.port)
    w.put_count("node_ids", len(m.node_ids), why)
    w.put_ints("node_ids", m.node_ids)


def decode_task_finished(r: Reader) -> Decoded:
    host = r.read_ip("host")
    form = address_form(r)
    if r.remaining == 4:
        # The int-nr variant writes no port: only the id follows.
        return TaskFinished(host=host, port=0, node_id=r.read_int("node_id")), INT_NR.name
    if r.remaining != 8:
        raise r.fail(
            f"{r.remaining} bytes follow the address; a task finished has 8 (port and "
            "node id) or 4 (node id only, the int-nr form)"
        )
    port = r.read_int("port")
    return TaskFinished(host=host, port=port, node_id=r.read_int("node_id")), form


def read_manifest(r: Reader, int_nr: bool) -> NodeManifest:
    """The manifest in the rest of ``r``'s body with a byte or an int NR,
    through its last byte (raises if any remain)."""
    if int_nr:
        count = r.read_int("entry count (NR, a 4-byte int)")
        if not 0 <= count <= MAX_MANIFEST_ENTRIES:
            raise r.fail(f"entry count (NR) {count} is outside 0..{MAX_MANIFEST_ENTRIES}")
    else:
        count = r.read_count("entry count (NR)")
    if count * _MIN_ENTRY_SIZE > r.remaining:
        raise RemoteWireError(
            f"truncated node manifest: {count} entries need at least "
            f"{count * _MIN_ENTRY_SIZE} bytes but only {r.remaining} remain"
        )
    entries = []
    for index in range(count):
        node_id = r.read_int(f"entries[{index}].node_id")
        host = r.read_ip(f"entries[{index}].host")
        entries.append(
            PeerEntry(node_id=node_id, host=host, port=r.read_int(f"entries[{index}].port"))
        )
    id_count = r.read_count("id count")
    manifest = NodeManifest(entries=tuple(entries), node_ids=r.read_ints("node_ids", id_count))
    r.finish()
    return manifest


def decode_manifest(body: bytes) -> Decoded:
    """A manifest body under whichever layout it parses: byte NR or int NR
    (see the module docstring for why at most one can)."""
    found: list[Decoded] = []
    errors: list[RemoteWireError] = []
    for int_nr in (False, True):
        reader = Reader(body, "NodeManifest")
        try:
            manifest = read_manifest(reader, int_nr)
            form = address_form(reader)
        except RemoteWireError as exc:
            errors.append(exc)
            continue
        found.append((manifest, INT_NR.name if int_nr else form))
    if len(found) == 1:
        return found[0]
    if found:
        raise RemoteWireError("node manifest parses both with a byte NR and an int NR")
    if body[1:3] != b"\x00\x00":
        # An int NR of 0..128 starts with two zero bytes: this was meant as
        # a byte NR, and the other reading's complaint would only confuse.
        raise errors[0]
    raise RemoteWireError(f"{errors[0]} (read with a 4-byte int NR instead: {errors[1]})")
