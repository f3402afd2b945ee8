"""Socket addresses of trio streams, and host:port parsing."""

from __future__ import annotations

import ipaddress

import trio


def local_host(stream: trio.SocketStream) -> str:
    """The IP address of our side of ``stream`` (what a node registers)."""
    return str(stream.socket.getsockname()[0])


def peer_host(stream: trio.SocketStream) -> str:
    """The IP address the other side of ``stream`` really uses."""
    return str(stream.socket.getpeername()[0])


def peer_address(stream: trio.SocketStream) -> str:
    """``host:port`` of the other side, for log lines."""
    try:
        host, port = stream.socket.getpeername()[:2]
    except OSError:
        return "?"
    return format_address(str(host), int(port))


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or a bare ``PORT`` -> (host, port).

    Raises ValueError with a message fit for a user."""
    text = text.strip()
    if text.isdigit():
        host, port_text = default_host, text
    elif text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{text!r} is not [IPv6]:PORT")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{text!r} is not HOST:PORT")
        if ":" in host and not _is_ipv6(host):
            raise ValueError(f"{text!r} is not HOST:PORT; write an IPv6 address as [V6]:PORT")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"port {port_text!r} in {text!r} is not a number from 1 to 65535")
    return host, int(port_text)


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True
