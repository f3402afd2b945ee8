"""What a node says about a refusal that depends on the wire's form."""

from __future__ import annotations

import ipaddress

from trio_dht.wire import Dialect


def address_form_hint(dialect: Dialect, host: str, refusal: str) -> str:
    """A classic registry that reads addresses as text quotes our raw address
    bytes back in its refusal (captured from a real peer): say what to do."""
    if dialect.name != "cs455" or dialect.variant == "text-address":
        return ""
    try:
        raw = ipaddress.ip_address(host).packed.decode("latin-1")
    except ValueError:
        return ""
    if raw not in refusal:
        return ""
    return (
        " (the registry quoted our address back as raw bytes: it reads addresses as text; "
        "start the node with --cs455-address text)"
    )
