"""Connection caps derived from the descriptor limit (RLIMIT_NOFILE).

Every connection is a descriptor; so are the interpreter's own files, the
listening sockets, pipes to child processes, outgoing connections and the
log's duplicate of stderr. A cap above what the process may open turns a
flood into EMFILE on every accept; a cap far below it refuses peers for
nothing. The formula (``limits_from_rlimit``)::

    usable      = soft RLIMIT_NOFILE - RESERVE          (RESERVE = 64)
    connections = max(MIN_CONNECTIONS, min(usable * 3 // 4, MAX_CONNECTIONS))
    outgoing    = usable - connections

so with the common soft limit of 1024: 720 accepted connections and 240
descriptors left for outgoing connections (a node's routing-table peers
and registry, a registry's reachability checks and dialled peers) on top
of the 64 reserved. An unlimited soft limit counts as 65,536.

Memory caps it too: an accepted connection, even a silent one, costs a
node about 15 KB (its task, stream, reader and slot; 5,000 idle
connections took a node from 35 to 110 MB), so at most MAX_CONNECTIONS
(1,024) are accepted whatever the descriptor limit, which keeps a node
under 60 MB. Legitimate peers need far fewer: a node's links and a run's
one-message connections, a registry's 128 nodes and its pending strangers.

    limits = limits_from_rlimit()
    slots = ConnectionSlots(limits.connections, ...)
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

RESERVE = 64
MIN_CONNECTIONS = 16
UNLIMITED = 1 << 16
MAX_CONNECTIONS = 1024


@dataclass(frozen=True)
class ConnectionLimits:
    descriptors: int  # the soft RLIMIT_NOFILE the caps were derived from
    connections: int  # accepted connections open at once
    outgoing: int  # descriptors left for connections we open


def limits_from_descriptors(descriptors: int) -> ConnectionLimits:
    """The caps for a process that may open ``descriptors`` files."""
    usable = max(0, descriptors - RESERVE)
    connections = max(MIN_CONNECTIONS, min(usable * 3 // 4, MAX_CONNECTIONS))
    return ConnectionLimits(descriptors, connections, max(0, usable - connections))


def limits_from_rlimit() -> ConnectionLimits:
    """The caps for this process, from its soft RLIMIT_NOFILE."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft > UNLIMITED:
        soft = UNLIMITED
    return limits_from_descriptors(soft)
