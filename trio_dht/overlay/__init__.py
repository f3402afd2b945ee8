"""Pure overlay logic: identifiers, routing tables and greedy clockwise routing."""

from trio_dht.overlay.ids import ID_SPACE, IdAllocator, IdSpaceFull, distance
from trio_dht.overlay.routing import mean_relays, next_hop, next_hop_map, route
from trio_dht.overlay.tables import (
    OverlayError,
    links_into,
    max_nr,
    positions_table,
    routing_tables,
    validate_nr,
)

__all__ = [
    "ID_SPACE",
    "IdAllocator",
    "IdSpaceFull",
    "OverlayError",
    "distance",
    "links_into",
    "max_nr",
    "mean_relays",
    "next_hop",
    "next_hop_map",
    "positions_table",
    "route",
    "routing_tables",
    "validate_nr",
]
