from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MiniChord(_message.Message):
    __slots__ = ("registration", "registrationResponse", "deregistration", "deregistrationResponse", "nodeRegistry", "nodeRegistryResponse", "initiateTask", "nodeData", "taskFinished", "requestTrafficSummary", "reportTrafficSummary", "progressRequest", "progressReport", "loadReport")
    REGISTRATION_FIELD_NUMBER: _ClassVar[int]
    REGISTRATIONRESPONSE_FIELD_NUMBER: _ClassVar[int]
    DEREGISTRATION_FIELD_NUMBER: _ClassVar[int]
    DEREGISTRATIONRESPONSE_FIELD_NUMBER: _ClassVar[int]
    NODEREGISTRY_FIELD_NUMBER: _ClassVar[int]
    NODEREGISTRYRESPONSE_FIELD_NUMBER: _ClassVar[int]
    INITIATETASK_FIELD_NUMBER: _ClassVar[int]
    NODEDATA_FIELD_NUMBER: _ClassVar[int]
    TASKFINISHED_FIELD_NUMBER: _ClassVar[int]
    REQUESTTRAFFICSUMMARY_FIELD_NUMBER: _ClassVar[int]
    REPORTTRAFFICSUMMARY_FIELD_NUMBER: _ClassVar[int]
    PROGRESSREQUEST_FIELD_NUMBER: _ClassVar[int]
    PROGRESSREPORT_FIELD_NUMBER: _ClassVar[int]
    LOADREPORT_FIELD_NUMBER: _ClassVar[int]
    registration: Registration
    registrationResponse: RegistrationResponse
    deregistration: Deregistration
    deregistrationResponse: DeregistrationResponse
    nodeRegistry: NodeRegistry
    nodeRegistryResponse: NodeRegistryResponse
    initiateTask: InitiateTask
    nodeData: NodeData
    taskFinished: TaskFinished
    requestTrafficSummary: RequestTrafficSummary
    reportTrafficSummary: TrafficSummary
    progressRequest: ProgressRequest
    progressReport: ProgressReport
    loadReport: LoadReport
    def __init__(self, registration: _Optional[_Union[Registration, _Mapping]] = ..., registrationResponse: _Optional[_Union[RegistrationResponse, _Mapping]] = ..., deregistration: _Optional[_Union[Deregistration, _Mapping]] = ..., deregistrationResponse: _Optional[_Union[DeregistrationResponse, _Mapping]] = ..., nodeRegistry: _Optional[_Union[NodeRegistry, _Mapping]] = ..., nodeRegistryResponse: _Optional[_Union[NodeRegistryResponse, _Mapping]] = ..., initiateTask: _Optional[_Union[InitiateTask, _Mapping]] = ..., nodeData: _Optional[_Union[NodeData, _Mapping]] = ..., taskFinished: _Optional[_Union[TaskFinished, _Mapping]] = ..., requestTrafficSummary: _Optional[_Union[RequestTrafficSummary, _Mapping]] = ..., reportTrafficSummary: _Optional[_Union[TrafficSummary, _Mapping]] = ..., progressRequest: _Optional[_Union[ProgressRequest, _Mapping]] = ..., progressReport: _Optional[_Union[ProgressReport, _Mapping]] = ..., loadReport: _Optional[_Union[LoadReport, _Mapping]] = ...) -> None: ...

class Registration(_message.Message):
    __slots__ = ("Address",)
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    Address: str
    def __init__(self, Address: _Optional[str] = ...) -> None: ...

class RegistrationResponse(_message.Message):
    __slots__ = ("Result", "Info")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    Result: int
    Info: str
    def __init__(self, Result: _Optional[int] = ..., Info: _Optional[str] = ...) -> None: ...

class Deregistration(_message.Message):
    __slots__ = ("Address", "Id")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    Address: str
    Id: int
    def __init__(self, Address: _Optional[str] = ..., Id: _Optional[int] = ...) -> None: ...

class DeregistrationResponse(_message.Message):
    __slots__ = ("Result", "Info")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    Result: int
    Info: str
    def __init__(self, Result: _Optional[int] = ..., Info: _Optional[str] = ...) -> None: ...

class NodeRegistry(_message.Message):
    __slots__ = ("NR", "Peers", "Ids", "NoIds")
    NR_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    NOIDS_FIELD_NUMBER: _ClassVar[int]
    NR: int
    Peers: _containers.RepeatedCompositeFieldContainer[Deregistration]
    Ids: _containers.RepeatedScalarFieldContainer[int]
    NoIds: int
    def __init__(self, NR: _Optional[int] = ..., Peers: _Optional[_Iterable[_Union[Deregistration, _Mapping]]] = ..., Ids: _Optional[_Iterable[int]] = ..., NoIds: _Optional[int] = ...) -> None: ...

class NodeRegistryResponse(_message.Message):
    __slots__ = ("Result", "Info")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    Result: int
    Info: str
    def __init__(self, Result: _Optional[int] = ..., Info: _Optional[str] = ...) -> None: ...

class InitiateTask(_message.Message):
    __slots__ = ("Packets",)
    PACKETS_FIELD_NUMBER: _ClassVar[int]
    Packets: int
    def __init__(self, Packets: _Optional[int] = ...) -> None: ...

class NodeData(_message.Message):
    __slots__ = ("Destination", "Source", "Payload", "Hops", "Trace")
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    HOPS_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    Destination: int
    Source: int
    Payload: int
    Hops: int
    Trace: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, Destination: _Optional[int] = ..., Source: _Optional[int] = ..., Payload: _Optional[int] = ..., Hops: _Optional[int] = ..., Trace: _Optional[_Iterable[int]] = ...) -> None: ...

class TaskFinished(_message.Message):
    __slots__ = ("Address", "Id")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    Address: str
    Id: int
    def __init__(self, Address: _Optional[str] = ..., Id: _Optional[int] = ...) -> None: ...

class RequestTrafficSummary(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TrafficSummary(_message.Message):
    __slots__ = ("Id", "Sent", "Relayed", "Received", "TotalSent", "TotalReceived")
    ID_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    RELAYED_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    TOTALSENT_FIELD_NUMBER: _ClassVar[int]
    TOTALRECEIVED_FIELD_NUMBER: _ClassVar[int]
    Id: int
    Sent: int
    Relayed: int
    Received: int
    TotalSent: int
    TotalReceived: int
    def __init__(self, Id: _Optional[int] = ..., Sent: _Optional[int] = ..., Relayed: _Optional[int] = ..., Received: _Optional[int] = ..., TotalSent: _Optional[int] = ..., TotalReceived: _Optional[int] = ...) -> None: ...

class ProgressRequest(_message.Message):
    __slots__ = ("IntervalMs",)
    INTERVALMS_FIELD_NUMBER: _ClassVar[int]
    IntervalMs: int
    def __init__(self, IntervalMs: _Optional[int] = ...) -> None: ...

class ProgressReport(_message.Message):
    __slots__ = ("Id", "Sent", "Received", "Relayed", "TotalSent", "TotalReceived", "Dropped")
    ID_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    RELAYED_FIELD_NUMBER: _ClassVar[int]
    TOTALSENT_FIELD_NUMBER: _ClassVar[int]
    TOTALRECEIVED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    Id: int
    Sent: int
    Received: int
    Relayed: int
    TotalSent: int
    TotalReceived: int
    Dropped: int
    def __init__(self, Id: _Optional[int] = ..., Sent: _Optional[int] = ..., Received: _Optional[int] = ..., Relayed: _Optional[int] = ..., TotalSent: _Optional[int] = ..., TotalReceived: _Optional[int] = ..., Dropped: _Optional[int] = ...) -> None: ...

class LinkLoad(_message.Message):
    __slots__ = ("Id", "Packets")
    ID_FIELD_NUMBER: _ClassVar[int]
    PACKETS_FIELD_NUMBER: _ClassVar[int]
    Id: int
    Packets: int
    def __init__(self, Id: _Optional[int] = ..., Packets: _Optional[int] = ...) -> None: ...

class LoadReport(_message.Message):
    __slots__ = ("Id", "Links", "Relays")
    ID_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    RELAYS_FIELD_NUMBER: _ClassVar[int]
    Id: int
    Links: _containers.RepeatedCompositeFieldContainer[LinkLoad]
    Relays: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, Id: _Optional[int] = ..., Links: _Optional[_Iterable[_Union[LinkLoad, _Mapping]]] = ..., Relays: _Optional[_Iterable[int]] = ...) -> None: ...
