"""The errors the wire layer raises, split by whose fault they are.

As in h11 (LocalProtocolError / RemoteProtocolError): bytes a peer sent that
are not a valid frame or message are the peer's fault, and the caller closes
that connection and logs the peer; a message of ours that the dialect cannot
express is our own bug or our own too-long text, and must never be logged as
the peer's malformed input. Both derive from ``WireError`` so code that only
needs "the wire refused this" catches one class.
"""

from __future__ import annotations


class WireError(ValueError):
    """The wire layer refused something: never raised itself, only as one of
    the two subclasses below.

    The message says what was wrong in words a user can act on; callers close
    the offending connection and log it, they never show a traceback.
    """


class RemoteWireError(WireError):
    """Bytes a peer sent are not a valid frame or message of the dialect
    (raised by every framing and decoding path)."""


class LocalWireError(WireError):
    """A message of ours cannot be expressed in the dialect (raised by every
    encoding path): a text too long or not ASCII for cs455, an integer out of
    its field's range, a host name where an IP literal is needed."""
