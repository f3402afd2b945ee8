"""Node options reach the node's settings."""

from __future__ import annotations

from trio_dht.interface.cli import build_parser
from trio_dht.interface.service_config import node_config
from trio_dht.services.config import NodeConfig


def parse(*argv: str) -> NodeConfig:
    args = build_parser(list(argv)).parse_args(list(argv))
    return node_config(args)


def test_answer_timeout_defaults_to_fifteen_seconds_and_can_be_set() -> None:
    assert parse("node", "127.0.0.1:5000").answer_timeout == 15.0
    config = parse("node", "127.0.0.1:5000", "--answer-timeout", "2.5")
    assert config.answer_timeout == 2.5
    assert config.connect_timeout == NodeConfig().connect_timeout
