"""Command-line options -> the services' settings (one place for both
programs and the demo)."""

from __future__ import annotations

import argparse

from trio_dht.services.config import NodeConfig, RegistryConfig
from trio_dht.wire import DEFAULT_MAX_FRAME, Dialect, get_dialect


def registry_config(args: argparse.Namespace) -> RegistryConfig:
    """The registry's settings from its options (absent ones: defaults)."""
    d = RegistryConfig()
    idle = getattr(args, "idle_timeout", d.idle_timeout)
    return RegistryConfig(
        grace=getattr(args, "grace", d.grace),
        progress_interval=getattr(args, "progress_interval", d.progress_interval),
        stall_timeout=getattr(args, "stall_timeout", d.stall_timeout),
        unresponsive_after=getattr(args, "unresponsive_after", d.unresponsive_after),
        run_timeout=getattr(args, "run_timeout", d.run_timeout),
        manifest_timeout=getattr(args, "manifest_timeout", d.manifest_timeout),
        per_message_nodes=bool(getattr(args, "per_message_nodes", False)),
        probe_registrations=not getattr(args, "no_probe", False),
        max_frame=getattr(args, "max_frame", DEFAULT_MAX_FRAME),
        idle_timeout=idle,
        frame_timeout=idle,
        max_pending=getattr(args, "max_pending", d.max_pending),
        max_pending_per_host=getattr(args, "max_pending_per_host", d.max_pending_per_host),
        max_connections=getattr(args, "max_connections", None),
    )


def node_config(args: argparse.Namespace) -> NodeConfig:
    """A node's settings from its options (absent ones: defaults)."""
    defaults = NodeConfig()
    per_message_registry = getattr(args, "per_message_registry", False)
    return NodeConfig(
        per_message_peers=bool(getattr(args, "per_message_peers", False)),
        per_message_registry=True if per_message_registry else None,
        max_frame=getattr(args, "max_frame", DEFAULT_MAX_FRAME),
        frame_timeout=getattr(args, "frame_timeout", defaults.frame_timeout),
        max_incoming=getattr(args, "max_incoming", None),
        incoming_idle_timeout=getattr(
            args, "incoming_idle_timeout", defaults.incoming_idle_timeout
        ),
        seed=getattr(args, "seed", None),
        answer_timeout=getattr(args, "answer_timeout", defaults.answer_timeout),
    )


def node_dialect(args: argparse.Namespace) -> Dialect:
    """The wire dialect a node speaks: ``--cs455-address text`` writes
    addresses as dotted text (the text-address classic variant)."""
    dialect = get_dialect(args.wire)
    if args.wire == "cs455" and getattr(args, "cs455_address", "raw") == "text":
        dialect = dialect.with_variant("text-address")
    return dialect
