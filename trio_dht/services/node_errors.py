"""Why a messaging node could not join, as a type programs can act on."""

from __future__ import annotations

import enum


class NodeErrorKind(enum.Enum):
    """Why a node could not join, for programs that act on it (exit
    statuses, retrying, hints) without reading the text."""

    # No connection to the registry (not up yet, wrong address): retryable.
    UNREACHABLE = "unreachable"
    # Our own listening port could not be opened.
    CANNOT_LISTEN = "cannot-listen"
    # The registry hung up, or sent what we cannot decode, before answering
    # the registration: typically a registry that speaks another --wire.
    HUNG_UP = "hung-up"
    # The registry answered the registration with a refusal.
    REFUSED = "refused"
    # The connection stayed open but no answer came in time.
    NO_ANSWER = "no-answer"


class NodeError(Exception):
    """The node cannot go on (registry unreachable, registration refused);
    ``kind`` says which."""

    def __init__(self, kind: NodeErrorKind, text: str) -> None:
        super().__init__(text)
        self.kind = kind
