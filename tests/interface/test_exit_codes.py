"""Exit statuses come from the error's kind, never from its text."""

from __future__ import annotations

from trio_dht.interface import exit_codes
from trio_dht.services.node import NodeErrorKind


def test_every_node_error_kind_has_an_exit_status() -> None:
    assert set(exit_codes.NODE_ERROR) == set(NodeErrorKind)
    # Each is listed in --help (which every subcommand shows).
    for status in exit_codes.NODE_ERROR.values():
        assert f"  {status}  " in exit_codes.HELP
