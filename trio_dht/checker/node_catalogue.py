"""The cases and settings of ``check node``: number, one-line title, strict or not.

Numbers group by topic (1 registration, 2 setup, 3 routing, 4 origination,
5 task, 6 summary, 7 leaving, 8 robustness); they never change meaning, so
reports of different versions compare case by case.
"""

from __future__ import annotations

import attrs

NODE_CASES: tuple[tuple[str, str, bool], ...] = (
    ("1.1", "registration arrives and is byte-exact", True),
    ("1.2", "registration carries the connection's real address", True),
    ("1.3", "the registered listening port accepts connections", True),
    ("2.1", "on its manifest it connects to exactly its entries", True),
    ("2.2", "reports setup success with its own id, byte-exact", True),
    ("2.3", "reports setup failure (negative status, a reason) for an unreachable entry", True),
    ("3.1", "delivers packets for itself and forwards none of them", True),
    ("3.2", "never forwards a packet past its destination", True),
    ("3.3", "forwards to the entry the routing rule picks", True),
    ("3.4", "never sends to a node outside its routing table", True),
    ("3.5", "appends its own id to the trace and changes nothing else", True),
    ("3.6", "relays every packet for another node", True),
    ("3.7", "data frames are byte-exact", True),
    ("4.1", "originated packets go to other nodes of the overlay, never itself", True),
    ("4.2", "originated packets carry its id as source and an empty trace", True),
    ("4.3", "payloads span the signed 32-bit range", True),
    ("4.4", "sinks are uniform over the other nodes (chi-square)", False),
    ("5.1", "originates exactly the packets the task asks for", True),
    ("5.2", "reports task finished with its id and address, byte-exact", True),
    ("5.3", "keeps relaying after it finished", True),
    ("6.1", "sends its traffic summary only when asked", True),
    ("6.2", "summary counters equal what the checker observed", True),
    ("6.3", "counters reset right after the summary; the second run is exact", True),
    ("7.1", "deregistration is byte-exact with its id and address", True),
    ("7.2", "waits for the deregistration answer before closing", True),
    ("7.3", "exits after the deregistration answer", False),
    ("8.1", "survives a truncated frame and keeps relaying", False),
    ("8.2", "survives a frame of an unknown type and keeps relaying", False),
    ("8.3", "survives a data packet for an id outside the overlay", False),
)


ROBUSTNESS = ("8.1", "8.2", "8.3")


SUCCESS = ("Registration request successful. The number of messaging nodes currently "
           "constituting the overlay is ({})")  # fmt: skip
HOLD_ANSWER = 0.5  # how long the deregistration answer is held back (case 7.2)
SETTLE = 0.3  # quiet time after the expected originations, to catch extra ones
HANDED = (150, 60, 60, 100)  # packets handed over: task 1, after it, between runs, task 2


# Three copies: the fewest for a route from one copy through a second to a
# third, so foreign-to-foreign relaying is graded too, while the checker's own
# seven nodes still surround them; each copy costs one process start.
DEFAULT_COUNT = 3
MIN_NODES = 10  # the overlay: at least this many nodes, the copies among them


def overlay_size(count: int) -> int:
    """Nodes in the overlay for ``count`` copies: at least one is the checker's,
    which is where the checker sends the packets it uses to prove a copy has
    read everything before a summary request."""
    return max(MIN_NODES, count + 1)


@attrs.frozen
class NodeCheckConfig:
    command: tuple[str, ...]
    wire: str = "cs455"
    host: str = "127.0.0.1"
    nr: int = 3
    packets: int = 3000
    second_packets: int = 500
    timeout: float = 10.0
    startup_timeout: float = 20.0
    exit_command: str = "exit-overlay"
    seed: int | None = None
    per_message: bool = False  # dial the node for each control message and packet
    count: int = DEFAULT_COUNT  # copies of the node under test in the overlay
