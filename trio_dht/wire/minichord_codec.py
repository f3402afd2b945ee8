"""Message codec of the ``minichord`` dialect: dialect-neutral messages to
protobuf ``MiniChord`` messages and back.

Encoders raise LocalWireError for values the wire cannot carry; decoders and
``parse`` raise RemoteWireError for a peer's bytes that make no message.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from types import MappingProxyType

from google.protobuf.message import DecodeError

from trio_dht.wire import minichord_pb2 as pb
from trio_dht.wire.errors import LocalWireError, RemoteWireError
from trio_dht.wire.messages import (
    MAX_LOAD_LINKS,
    MAX_RELAY_BINS,
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
    load_report_problem,
)
from trio_dht.wire.minichord_fields import (
    INT32,
    INT64,
    UINT32,
    check_int,
    check_text,
    format_address,
    parse_address,
)

# 8-byte big-endian unsigned length before every frame body.
LENGTH = struct.Struct(">Q")
_pack_length = LENGTH.pack
_MiniChord = pb.MiniChord


# --- message -> protobuf ------------------------------------------------------
# Each encoder returns a fresh MiniChord. Passing the sub-message to the
# constructor marks the oneof member present even when every field is zero
# (an all-zero NodeData, an empty RequestTrafficSummary), which proto3 needs.


def _enc_registration(m: Registration) -> pb.MiniChord:
    address = format_address(m.host, m.port, "Registration address")
    return _MiniChord(registration=pb.Registration(Address=address))


def _enc_registration_status(m: RegistrationStatus) -> pb.MiniChord:
    return _MiniChord(
        registrationResponse=pb.RegistrationResponse(
            Result=check_int(m.status, INT32, "RegistrationStatus.status"),
            Info=check_text(m.info, "RegistrationStatus.info"),
        )
    )


def _enc_deregistration(m: Deregistration) -> pb.MiniChord:
    return _MiniChord(
        deregistration=pb.Deregistration(
            Address=format_address(m.host, m.port, "Deregistration address"),
            Id=check_int(m.node_id, INT32, "Deregistration.node_id"),
        )
    )


def _enc_deregistration_status(m: DeregistrationStatus) -> pb.MiniChord:
    return _MiniChord(
        deregistrationResponse=pb.DeregistrationResponse(
            Result=check_int(m.status, INT32, "DeregistrationStatus.status"),
            Info=check_text(m.info, "DeregistrationStatus.info"),
        )
    )


def _enc_node_manifest(m: NodeManifest) -> pb.MiniChord:
    peers = [
        pb.Deregistration(
            Address=format_address(e.host, e.port, f"NodeManifest entry {i} address"),
            Id=check_int(e.node_id, INT32, f"NodeManifest entry {i} node_id"),
        )
        for i, e in enumerate(m.entries)
    ]
    ids = [check_int(v, INT32, f"NodeManifest node_ids[{i}]") for i, v in enumerate(m.node_ids)]
    # NR and NoIds are redundant counts on this wire; they always equal the
    # list lengths (decode insists on it).
    return _MiniChord(
        nodeRegistry=pb.NodeRegistry(NR=len(peers), Peers=peers, Ids=ids, NoIds=len(ids))
    )


def _enc_overlay_setup_status(m: OverlaySetupStatus) -> pb.MiniChord:
    return _MiniChord(
        nodeRegistryResponse=pb.NodeRegistryResponse(
            Result=check_int(m.status, INT32, "OverlaySetupStatus.status"),
            Info=check_text(m.info, "OverlaySetupStatus.info"),
        )
    )


def _enc_task_initiate(m: TaskInitiate) -> pb.MiniChord:
    return _MiniChord(
        initiateTask=pb.InitiateTask(Packets=check_int(m.packets, UINT32, "TaskInitiate.packets"))
    )


def _enc_data(m: Data) -> pb.MiniChord:
    return _MiniChord(
        nodeData=pb.NodeData(
            Destination=check_int(m.destination, INT32, "Data.destination"),
            Source=check_int(m.source, INT32, "Data.source"),
            Payload=check_int(m.payload, INT32, "Data.payload"),
            Hops=check_int(m.hops, UINT32, "Data.hops"),
            Trace=[check_int(v, INT32, f"Data.trace[{i}]") for i, v in enumerate(m.trace)],
        )
    )


def _enc_task_finished(m: TaskFinished) -> pb.MiniChord:
    return _MiniChord(
        taskFinished=pb.TaskFinished(
            Address=format_address(m.host, m.port, "TaskFinished address"),
            Id=check_int(m.node_id, INT32, "TaskFinished.node_id"),
        )
    )


def _enc_traffic_summary_request(m: TrafficSummaryRequest) -> pb.MiniChord:
    return _MiniChord(requestTrafficSummary=pb.RequestTrafficSummary())


def _enc_traffic_summary(m: TrafficSummary) -> pb.MiniChord:
    return _MiniChord(
        reportTrafficSummary=pb.TrafficSummary(
            Id=check_int(m.node_id, INT32, "TrafficSummary.node_id"),
            Sent=check_int(m.sent, UINT32, "TrafficSummary.sent"),
            Relayed=check_int(m.relayed, UINT32, "TrafficSummary.relayed"),
            Received=check_int(m.received, UINT32, "TrafficSummary.received"),
            TotalSent=check_int(m.sum_sent, INT64, "TrafficSummary.sum_sent"),
            TotalReceived=check_int(m.sum_received, INT64, "TrafficSummary.sum_received"),
        )
    )


def _enc_progress_request(m: ProgressRequest) -> pb.MiniChord:
    return _MiniChord(
        progressRequest=pb.ProgressRequest(
            IntervalMs=check_int(m.interval_ms, UINT32, "ProgressRequest.interval_ms")
        )
    )


def _enc_progress_report(m: ProgressReport) -> pb.MiniChord:
    return _MiniChord(
        progressReport=pb.ProgressReport(
            Id=check_int(m.node_id, INT32, "ProgressReport.node_id"),
            Sent=check_int(m.sent, UINT32, "ProgressReport.sent"),
            Received=check_int(m.received, UINT32, "ProgressReport.received"),
            Relayed=check_int(m.relayed, UINT32, "ProgressReport.relayed"),
            TotalSent=check_int(m.sum_sent, INT64, "ProgressReport.sum_sent"),
            TotalReceived=check_int(m.sum_received, INT64, "ProgressReport.sum_received"),
            Dropped=check_int(m.dropped, UINT32, "ProgressReport.dropped"),
        )
    )


def _enc_load_report(m: LoadReport) -> pb.MiniChord:
    problem = load_report_problem(m)
    if problem is not None:
        raise LocalWireError(f"LoadReport cannot be sent: {problem}")
    links = [
        pb.LinkLoad(
            Id=check_int(link.node_id, INT32, "LoadReport.links.node_id"),
            Packets=check_int(link.packets, UINT32, "LoadReport.links.packets"),
        )
        for link in m.links
    ]
    relays = [check_int(count, UINT32, "LoadReport.relays") for count in m.relays]
    return _MiniChord(
        loadReport=pb.LoadReport(
            Id=check_int(m.node_id, INT32, "LoadReport.node_id"), Links=links, Relays=relays
        )
    )


ENCODERS: Mapping[type, Callable[..., pb.MiniChord]] = MappingProxyType(
    {
        Registration: _enc_registration,
        RegistrationStatus: _enc_registration_status,
        Deregistration: _enc_deregistration,
        DeregistrationStatus: _enc_deregistration_status,
        NodeManifest: _enc_node_manifest,
        OverlaySetupStatus: _enc_overlay_setup_status,
        TaskInitiate: _enc_task_initiate,
        Data: _enc_data,
        TaskFinished: _enc_task_finished,
        TrafficSummaryRequest: _enc_traffic_summary_request,
        TrafficSummary: _enc_traffic_summary,
        ProgressRequest: _enc_progress_request,
        ProgressReport: _enc_progress_report,
        LoadReport: _enc_load_report,
    }
)


# --- protobuf -> message ------------------------------------------------------
# Wire types already bound every integer to its proto range, so the only
# unmappable values are address strings and inconsistent manifest counts.


def _dec_registration(p: pb.Registration) -> Registration:
    host, port = parse_address(p.Address, "Registration address")
    return Registration(host=host, port=port)


def _dec_registration_response(p: pb.RegistrationResponse) -> RegistrationStatus:
    return RegistrationStatus(status=p.Result, info=p.Info)


def _dec_deregistration(p: pb.Deregistration) -> Deregistration:
    host, port = parse_address(p.Address, "Deregistration address")
    return Deregistration(host=host, port=port, node_id=p.Id)


def _dec_deregistration_response(p: pb.DeregistrationResponse) -> DeregistrationStatus:
    return DeregistrationStatus(status=p.Result, info=p.Info)


def _dec_node_registry(p: pb.NodeRegistry) -> NodeManifest:
    # Both Go ports always send NR == len(Peers) and NoIds == len(Ids) (every
    # captured vector agrees), so a mismatch means a corrupt or truncated
    # frame; refusing it beats guessing which of the two to believe.
    if p.NR != len(p.Peers):
        raise RemoteWireError(
            f"NodeRegistry says NR={p.NR} but carries {len(p.Peers)} peers;"
            " the Go ports always send them equal, so the frame is inconsistent"
        )
    if p.NoIds != len(p.Ids):
        raise RemoteWireError(
            f"NodeRegistry says NoIds={p.NoIds} but carries {len(p.Ids)} ids;"
            " the Go ports always send them equal, so the frame is inconsistent"
        )
    entries = []
    for i, peer in enumerate(p.Peers):
        host, port = parse_address(peer.Address, f"NodeRegistry peer {i} address")
        entries.append(PeerEntry(node_id=peer.Id, host=host, port=port))
    return NodeManifest(entries=tuple(entries), node_ids=tuple(p.Ids))


def _dec_node_registry_response(p: pb.NodeRegistryResponse) -> OverlaySetupStatus:
    return OverlaySetupStatus(status=p.Result, info=p.Info)


def _dec_initiate_task(p: pb.InitiateTask) -> TaskInitiate:
    return TaskInitiate(packets=p.Packets)


def _dec_node_data(p: pb.NodeData) -> Data:
    # Hops is kept as received: one Go port leaves it 0, another counts the
    # source; both must re-encode to the bytes they sent.
    return Data(
        destination=p.Destination,
        source=p.Source,
        payload=p.Payload,
        trace=tuple(p.Trace),
        hops=p.Hops,
    )


def _dec_task_finished(p: pb.TaskFinished) -> TaskFinished:
    host, port = parse_address(p.Address, "TaskFinished address")
    return TaskFinished(host=host, port=port, node_id=p.Id)


def _dec_request_traffic_summary(p: pb.RequestTrafficSummary) -> TrafficSummaryRequest:
    return TrafficSummaryRequest()


def _dec_traffic_summary(p: pb.TrafficSummary) -> TrafficSummary:
    return TrafficSummary(
        node_id=p.Id,
        sent=p.Sent,
        relayed=p.Relayed,
        sum_sent=p.TotalSent,
        received=p.Received,
        sum_received=p.TotalReceived,
    )


def _dec_progress_request(p: pb.ProgressRequest) -> ProgressRequest:
    return ProgressRequest(interval_ms=p.IntervalMs)


def _dec_progress_report(p: pb.ProgressReport) -> ProgressReport:
    return ProgressReport(
        node_id=p.Id,
        sent=p.Sent,
        received=p.Received,
        relayed=p.Relayed,
        sum_sent=p.TotalSent,
        sum_received=p.TotalReceived,
        dropped=p.Dropped,
    )


def _dec_load_report(p: pb.LoadReport) -> LoadReport:
    # The frame limit bounds the repeated fields; the counts are checked
    # before building anything from them.
    if len(p.Links) > MAX_LOAD_LINKS or len(p.Relays) > MAX_RELAY_BINS:
        raise RemoteWireError(
            f"LoadReport with {len(p.Links)} links and {len(p.Relays)} relay bins "
            f"(at most {MAX_LOAD_LINKS} and {MAX_RELAY_BINS})"
        )
    links = tuple(LinkLoad(link.Id, link.Packets) for link in p.Links)
    report = LoadReport(node_id=p.Id, links=links, relays=tuple(p.Relays))
    problem = load_report_problem(report)
    if problem is not None:
        raise RemoteWireError(f"LoadReport: {problem}")
    return report


# Keyed by oneof member name, as MiniChord.WhichOneof("message") returns it.
DECODERS: Mapping[str, Callable[..., Message]] = MappingProxyType(
    {
        "registration": _dec_registration,
        "registrationResponse": _dec_registration_response,
        "deregistration": _dec_deregistration,
        "deregistrationResponse": _dec_deregistration_response,
        "nodeRegistry": _dec_node_registry,
        "nodeRegistryResponse": _dec_node_registry_response,
        "initiateTask": _dec_initiate_task,
        "nodeData": _dec_node_data,
        "taskFinished": _dec_task_finished,
        "requestTrafficSummary": _dec_request_traffic_summary,
        "reportTrafficSummary": _dec_traffic_summary,
        "progressRequest": _dec_progress_request,
        "progressReport": _dec_progress_report,
        "loadReport": _dec_load_report,
    }
)


# upb (the default backend) reports every parse failure as DecodeError; the
# pure-Python backend raises UnicodeDecodeError for a string that is not UTF-8.
PARSE_ERRORS = (DecodeError, UnicodeDecodeError)


def parse(body: bytes) -> pb.MiniChord:
    try:
        message: pb.MiniChord = _MiniChord.FromString(body)
    except PARSE_ERRORS as exc:
        raise RemoteWireError(
            f"minichord frame of {len(body)} bytes is not valid protobuf: {exc}"
        ) from exc
    return message


def frame(proto: pb.MiniChord) -> bytes:
    body: bytes = proto.SerializeToString()
    return _pack_length(len(body)) + body
