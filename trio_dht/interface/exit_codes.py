"""Exit statuses, the same for every subcommand, so scripts can tell a wrong
result from a mistyped command from a registry that is not there."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from types import MappingProxyType

from trio_dht.services.node_errors import NodeErrorKind

OK = 0
# The run finished but its totals do not add up.
INCORRECT = 1
# A command-line mistake (argparse uses 2 as well).
USAGE = 2
# --timeout ran out, or the overlay was not ready in time.
TIMEOUT = 3
# The network said no: the registry cannot be reached or refused us, a node
# could not join, or the registry cannot listen on its port.
NETWORK = 4

# Why a node could not join -> its status. Every kind is the network's
# answer (nobody there, a hang-up, a refusal, silence, or no port of our
# own); the table is total so that a new kind has to choose here.
NODE_ERROR: Mapping[NodeErrorKind, int] = MappingProxyType(
    {
        NodeErrorKind.UNREACHABLE: NETWORK,
        NodeErrorKind.CANNOT_LISTEN: NETWORK,
        NodeErrorKind.HUNG_UP: NETWORK,
        NodeErrorKind.REFUSED: NETWORK,
        NodeErrorKind.NO_ANSWER: NETWORK,
    }
)

# The statuses a shell gives to processes ended by these signals.
SIGNAL_EXIT: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}


def signal_exit(group: BaseExceptionGroup[BaseException]) -> int | None:
    """The status of a signal exit that reached the top inside exception
    groups, or None if the group holds anything else. (A SIGTERM that lands
    while trio's signal receiver is closing is raised again there, so the
    quiet-exit handler's SystemExit leaves through the nurseries.)"""
    exits, rest = group.split((SystemExit, KeyboardInterrupt))
    if exits is None or rest is not None:
        return None
    first = _leaves(exits)[0]
    if isinstance(first, SystemExit) and isinstance(first.code, int):
        return first.code
    return SIGNAL_EXIT[signal.SIGINT] if isinstance(first, KeyboardInterrupt) else 1


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        leaves.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return leaves


HELP = """\
exit status:
  0  success (a run's totals are correct)
  1  a run's totals are not correct
  2  usage error (bad option or argument)
  3  timeout (--timeout, or the overlay was not ready in time)
  4  network: registry unreachable or refusing, a node could not join,
     or the port cannot be listened on
  130, 143  ended by Ctrl-C (SIGINT), SIGTERM"""
