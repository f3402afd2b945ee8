"""``python -m trio_dht``."""

import signal
import sys


def _exit_quietly(signum: int, frame: object) -> None:
    # Until trio takes over the signals, a Ctrl-C (or SIGTERM) during start-up
    # must end the process without a KeyboardInterrupt traceback.
    sys.exit(128 + signum)


signal.signal(signal.SIGINT, _exit_quietly)
signal.signal(signal.SIGTERM, _exit_quietly)

from trio_dht.interface.cli import main  # after the handlers, on purpose

sys.exit(main())
