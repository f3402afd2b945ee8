"""The one error the wire layer raises for bad input."""

from __future__ import annotations


class WireError(ValueError):
    """Bytes that are not a valid frame or message of the dialect.

    The message says what was wrong in words a user can act on; callers close
    the offending connection and log it, they never show a traceback.
    """
