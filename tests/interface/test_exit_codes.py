"""Exit statuses come from the error's kind, never from its text."""

from __future__ import annotations

import pytest

from trio_dht.interface import cli, exit_codes
from trio_dht.services.node import NodeErrorKind


def test_every_node_error_kind_has_an_exit_status() -> None:
    assert set(exit_codes.NODE_ERROR) == set(NodeErrorKind)
    # Each is listed in --help (which every subcommand shows).
    for status in exit_codes.NODE_ERROR.values():
        assert f"  {status}  " in exit_codes.HELP


def test_a_signal_exit_inside_exception_groups_keeps_its_status() -> None:
    # What a SIGTERM redelivered while trio's signal receiver closes looks
    # like at the top: the handler's SystemExit, wrapped by nurseries.
    nested = BaseExceptionGroup("outer", [BaseExceptionGroup("inner", [SystemExit(143)])])
    assert exit_codes.signal_exit(nested) == 143
    assert exit_codes.signal_exit(BaseExceptionGroup("g", [KeyboardInterrupt()])) == 130
    # Anything else in the group is a real failure: no status, re-raised.
    mixed = BaseExceptionGroup("g", [SystemExit(143), ValueError("bug")])
    assert exit_codes.signal_exit(mixed) is None


def test_main_exits_quietly_when_a_signal_exit_comes_wrapped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def wrapped(argv: object) -> int:
        raise BaseExceptionGroup("nursery", [SystemExit(143)])

    monkeypatch.setattr(cli, "_main", wrapped)
    assert cli.main(["node"]) == 143
    assert capsys.readouterr() == ("", "")

    def failing(argv: object) -> int:
        raise BaseExceptionGroup("nursery", [RuntimeError("a bug")])

    monkeypatch.setattr(cli, "_main", failing)
    with pytest.raises(BaseExceptionGroup):
        cli.main(["node"])
