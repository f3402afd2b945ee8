"""A node process frozen mid-run (SIGSTOP) is named, is not called a loss,
and nothing of that run counts in the next one (issue 9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import trio

from trio_dht.services.config import RegistryConfig
from trio_dht.services.observer import WatchingObserver
from trio_dht.services.registry import CommandError, Registry
from trio_dht.wire import get_dialect

HOST = "127.0.0.1"


async def test_a_frozen_node_is_waited_for_named_and_cannot_poison_the_next_run() -> None:
    config = RegistryConfig(unresponsive_after=2.5, run_timeout=4.0, summary_timeout=2.0)
    observer = WatchingObserver()
    registry = Registry(get_dialect("cs455"), observer, config)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, HOST, 0)
            procs = [
                await trio.lowlevel.open_process(
                    [sys.executable, "-m", "trio_dht", "node", f"{HOST}:{port}"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                )
                for _ in range(4)
            ]
            try:
                await registry.wait_for_nodes(4)
                registry.setup_overlay(2)
                await registry.wait_ready()
                run = registry.start(400_000)
                # Once traffic flows everywhere, one node stops dead.
                await observer.wait_until(
                    lambda: all(
                        m.progress is not None and m.progress.relayed > 0
                        for m in registry.nodes.values()
                    )
                )
                victim = procs[1]
                victim.send_signal(signal.SIGSTOP)
                await run.done.wait()
                result = run.result
                assert result is not None
                assert not result.correct
                assert len(result.unresponsive) == 1, result.verdict()
                silent = result.unresponsive[0]
                assert f"node {silent} stopped answering" in result.verdict()
                assert not result.gone, "a stopped node is not a vanished one"
                assert any(f"Waiting for node {silent}" in line for line in observer.lines)

                # It wakes up with packets of the old run in its buffers.
                victim.send_signal(signal.SIGCONT)
                try:
                    registry.start(20_000)
                except CommandError as exc:
                    assert "setup-overlay again" in str(exc)
                else:
                    raise AssertionError("a start right after an INCORRECT run must be refused")
                registry.setup_overlay(2)
                await registry.wait_ready()
                again = registry.start(20_000)
                await again.done.wait()
                assert again.result is not None
                assert again.result.correct, again.result.verdict()
                assert again.result.received == 80_000
            finally:
                for proc in procs:
                    proc.send_signal(signal.SIGCONT)
                    proc.kill()
                with trio.CancelScope(shield=True):
                    for proc in procs:
                        await proc.wait()
                nursery.cancel_scope.cancel()
