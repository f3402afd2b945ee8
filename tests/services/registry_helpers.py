"""What the registry tests over raw cs455 clients share: the addresses they
register from, the registry's success answers, and a cluster without the
registration probe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trio_dht.services.config import RegistryConfig

LOCAL = "127.0.0.1"
SPOOF = "127.0.0.2"
REG_OK = (
    "Registration request successful. The number of messaging nodes currently "
    "constituting the overlay is ({})"
)
DEREG_OK = (
    "Deregistration request successful. The number of messaging nodes currently "
    "constituting the overlay is ({})"
)


def without_probe(cluster: Callable[..., Any]) -> Callable[..., Any]:
    """The ``cluster`` fixture with the registration probe off: these tests
    register fake nodes at made-up ports, which the probe (tested in
    test_admission.py) would refuse."""

    def start(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("config", RegistryConfig(probe_registrations=False))
        return cluster(*args, **kwargs)

    return start
