"""--seed on the registry and node programs: the same seed, the same run."""

from __future__ import annotations

import json
from subprocess import DEVNULL
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Launcher

RUN_TIMEOUT = 60.0


async def seeded_run(launcher: Launcher, seed: str) -> dict[int, tuple[Any, ...]]:
    registry, port = await launcher.registry(
        "--nodes", "3", "--start", "500", "--timeout", str(RUN_TIMEOUT), "--seed", seed,
        "--summary", "json", stdin=DEVNULL, merge=False,
    )  # fmt: skip
    await launcher.nodes(port, 3, "--seed", seed, stdin=DEVNULL)
    assert await registry.wait(RUN_TIMEOUT) == 0, registry.tail()
    data = json.loads("\n".join(registry.out))
    assert data["correct"] is True
    return {
        row["node_id"]: (row["sent"], row["received"], row["sum_sent"], row["sum_received"])
        for row in data["nodes"]
    }


async def test_the_same_seed_gives_the_same_ids_and_totals(launcher: Launcher) -> None:
    first = await seeded_run(launcher, "7")
    again = await seeded_run(launcher, "7")
    other = await seeded_run(launcher, "8")
    assert first == again
    assert first != other
