"""tools/fuzz.py in CI with a modest frame count, so it never rots and the
behaviour it checks (one closing line per offending connection, no leaked
task, bounded memory, an exact run afterwards) stays true."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "fuzz.py"


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
def test_fuzz_tool_finds_the_registry_and_node_intact(wire: str) -> None:
    done = subprocess.run(
        [sys.executable, str(TOOL), "--frames", "3000", "--wire", wire, "--json", "--seed", "7"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["wire"] == wire
    assert record["frames"] == 3000
    # One line per connection at most; random bytes that happen to form an
    # acceptable request or packet are answered or routed instead.
    assert 0.99 * 3000 <= record["closing_log_lines"] <= 3000
    assert record["tasks_after"] == record["tasks_before"]
    assert all(record["checks"].values()), record["checks"]
    assert record["verdict"].startswith("CORRECT")
    # Every category of malformed input was exercised.
    assert set(record["categories"]) == {
        "random", "truncated", "unknown type", "absurd length",
        "trailing bytes", "huge claimed length", "wrong state",
    }  # fmt: skip
