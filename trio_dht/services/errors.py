"""Errors shared by the services."""

from __future__ import annotations


class ProtocolViolation(Exception):
    """A peer sent something that makes no sense here (a message this side
    never accepts, or one in the wrong state). The connection it came on is
    closed with one log line naming the peer and this reason."""
