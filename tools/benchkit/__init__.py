"""The parts of ``tools/bench.py``, the benchmark tool (which stays the entry
point: its options and ``main``).

* ``workloads``: the workload sizes and one ``Case`` per configuration.
* ``processes``: spawning, reaping (with rusage) and killing child processes;
  their CPU from /proc; reading their output with a deadline.
* ``runs``: one measured run (``measure``): with the registry program, or
  with a bench worker; what it measured (``Sample``).
* ``worker``: the bench worker itself (``bench.py --worker SPEC``).
* ``profiling``: py-spy around a node process and the summary of its stacks.
* ``records``: the JSON record per workload and the machine's facts.
* ``table`` and ``targets``: the printed results.

Imported as ``benchkit`` (``tools/`` is the script's directory, first on
``sys.path``), like ``tools/flood.py`` imports ``flood_clients``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The entry point: bench workers are this script run with ``--worker``, so
# that a worker imports exactly what the parent did.
BENCH_SCRIPT = ROOT / "tools" / "bench.py"
HOST = "127.0.0.1"
