"""host:port parsing and formatting, and the addresses of real sockets."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_dht.transport import format_address, local_host, parse_address, peer_address, peer_host


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5000", ("127.0.0.1", 5000)),
        ("example.org:80", ("example.org", 80)),
        ("localhost:65535", ("localhost", 65535)),
        ("10.0.0.7:1", ("10.0.0.7", 1)),
        ("[::1]:8080", ("::1", 8080)),
        ("[fe80::1:2]:443", ("fe80::1:2", 443)),
        ("5000", ("127.0.0.1", 5000)),
        ("  127.0.0.1:22  ", ("127.0.0.1", 22)),
        (" 4242\n", ("127.0.0.1", 4242)),
    ],
)
def test_parse_address_accepts(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


def test_bare_port_uses_the_default_host() -> None:
    assert parse_address("6000", default_host="10.1.2.3") == ("10.1.2.3", 6000)
    assert parse_address("6000", default_host="::1") == ("::1", 6000)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "HOST:PORT"),
        ("localhost", "HOST:PORT"),
        (":5000", "HOST:PORT"),
        ("host:", "port"),
        ("host:abc", "port"),
        ("host:-1", "port"),
        ("host:0", "port"),
        ("host:65536", "port"),
        ("0", "port"),
        ("99999", "port"),
        ("[::1]", "[IPv6]:PORT"),
        ("[::1]8080", "[IPv6]:PORT"),
        ("[::1]:", "port"),
        ("[::1]:http", "port"),
    ],
)
def test_parse_address_refuses_with_a_message(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=r".") as info:
        parse_address(text)
    message = str(info.value)
    assert words in message
    assert repr(text.strip()) in message


@pytest.mark.parametrize(
    ("host", "port", "text"),
    [
        ("127.0.0.1", 5000, "127.0.0.1:5000"),
        ("example.org", 80, "example.org:80"),
        ("::1", 8080, "[::1]:8080"),
        ("2001:db8::5", 1, "[2001:db8::5]:1"),
    ],
)
def test_format_address_and_round_trip(host: str, port: int, text: str) -> None:
    assert format_address(host, port) == text
    assert parse_address(format_address(host, port)) == (host, port)


async def test_socket_addresses_of_a_real_connection() -> None:
    with trio.fail_after(5):
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        listener = listeners[0]
        port = listener.socket.getsockname()[1]
        client = await trio.open_tcp_stream("127.0.0.1", port)
        server = await listener.accept()
        try:
            client_port = client.socket.getsockname()[1]
            assert local_host(client) == "127.0.0.1"
            assert peer_host(client) == "127.0.0.1"
            assert peer_host(server) == "127.0.0.1"
            assert peer_address(client) == f"127.0.0.1:{port}"
            assert peer_address(server) == f"127.0.0.1:{client_port}"
        finally:
            await client.aclose()
            await server.aclose()
            await listener.aclose()
        # A closed socket has no peer: the log helper says "?" instead of raising.
        assert peer_address(client) == "?"


@pytest.mark.parametrize("text", ["::1", "::", "fe80::zz:80", "1:2:80"])
def test_unbracketed_text_that_is_no_ipv6_host_is_refused(text: str) -> None:
    # "::1".rpartition(":") would give host ":" and port 1: nonsense that must
    # not reach a connect call.
    with pytest.raises(ValueError, match=r"\[V6\]:PORT"):
        parse_address(text)


def test_unbracketed_ipv6_host_with_a_port_still_parses() -> None:
    # "HOST PORT" on the node's command line is joined as HOST:PORT.
    assert parse_address("::1:5000") == ("::1", 5000)
    assert parse_address("fe80:::80") == ("fe80::", 80)
