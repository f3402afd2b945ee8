"""Whose fault a protocol error is.

As in h11: a ``RemoteProtocolError`` is something a peer sent that makes no
sense where it arrived; the service logs it once, names the peer, and closes
or ignores, never more. A ``LocalProtocolError`` is something we were asked
to do that the protocol does not allow (a console command in the wrong
phase); it goes back to whoever asked, never to the peer.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of the two below; the text is meant for a person."""


class RemoteProtocolError(ProtocolError):
    """A peer sent a message that is not acceptable from it here and now."""


class LocalProtocolError(ProtocolError):
    """We were asked for something the protocol does not allow now (a
    command typed at the wrong time, or a value the wire cannot carry)."""
