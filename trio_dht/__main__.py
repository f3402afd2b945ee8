"""``python -m trio_dht``."""

import sys

from trio_dht.interface.cli import main

sys.exit(main())
