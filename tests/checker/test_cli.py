"""``python -m trio_dht check`` and ``sniff`` as real processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import trio

from trio_dht.checker.node_catalogue import NODE_CASES
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import Data, TaskInitiate

SCRIPTED = str(Path(__file__).with_name("scripted_node.py"))
LOCAL = "127.0.0.1"


def trio_dht(*args: str) -> list[str]:
    return [sys.executable, "-m", "trio_dht", *args]


async def test_check_node_prints_the_table_writes_json_and_exits_0(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    capture = tmp_path / "capture.jsonl"
    node = [sys.executable, SCRIPTED, "{host}", "{port}"]
    with trio.fail_after(60):
        done = await trio.run_process(
            trio_dht("check", "node", "--seed", "3", "--json", str(report),
                     "--capture", str(capture), "--", *node),
            capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
    out = done.stdout.decode()
    assert done.returncode == 0, out + done.stderr.decode()
    assert "PASSED: 27 passed, 0 failed, 0 non-strict, 2 informational" in out
    data = json.loads(report.read_text())
    assert [c["case"] for c in data["cases"]] == [n for n, _, _ in NODE_CASES]
    assert data["exit_status"] == 0 and data["totals"]["fail"] == 0
    lines = [json.loads(line) for line in capture.read_text().splitlines()]
    kinds = {line["message"] for line in lines}
    assert {"registration", "node_manifest", "data", "traffic_summary"} <= kinds


async def test_check_node_exits_1_on_a_strict_failure_and_2_on_usage(tmp_path: Path) -> None:
    node = [sys.executable, SCRIPTED, "--flaw", "wrong_entry", "{host}", "{port}"]
    with trio.fail_after(60):
        done = await trio.run_process(trio_dht("check", "node", "--", *node),
                                      capture_stdout=True, check=False)  # fmt: skip
        assert done.returncode == 1
        assert "FAILED: 26 passed, 1 failed" in done.stdout.decode()
        usage = await trio.run_process(trio_dht("check", "node", "--", "true"),
                                       capture_stderr=True, check=False)  # fmt: skip
    assert usage.returncode == 2
    assert "{port}" in usage.stderr.decode()


async def _target(
    received: list[bytes],
    done: trio.Event,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    listeners = await trio.open_tcp_listeners(0, host=LOCAL)
    task_status.started(int(listeners[0].socket.getsockname()[1]))
    async with await listeners[0].accept() as stream:
        while data := await stream.receive_some(65536):
            received.append(data)
    done.set()


async def test_sniff_prints_every_frame_saves_jsonl_and_stops_on_sigint(tmp_path: Path) -> None:
    cs455 = get_dialect("cs455")
    frames = cs455.encode(TaskInitiate(4)) + cs455.encode(Data(3, 1, -7, (2,))) + b"\0\0\0\x01\x63"
    capture = tmp_path / "sniff.jsonl"
    received: list[bytes] = []
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            done = trio.Event()
            port = await nursery.start(_target, received, done)
            process = await trio.lowlevel.open_process(
                trio_dht("sniff", "--listen", "0", "--to", f"{LOCAL}:{port}",
                         "--jsonl", str(capture)),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            assert process.stderr is not None and process.stdout is not None
            banner = b""
            while b"\n" not in banner:
                banner += await process.stderr.receive_some(4096)
            proxy_port = int(banner.split(b"listening on 127.0.0.1:")[1].split(b",")[0])
            async with await trio.open_tcp_stream(LOCAL, proxy_port) as client:
                await client.send_all(frames)
            # The target's reader ends when the proxy passes the close on.
            await done.wait()
            assert b"".join(received) == frames
            process.send_signal(signal.SIGINT)
            out = b""
            while chunk := await process.stdout.receive_some(65536):
                out += chunk
            assert await process.wait() == 128 + signal.SIGINT
    lines = out.decode().splitlines()
    assert len(lines) == 3
    assert "task_initiate packets=4" in lines[0] and "registry->node" in lines[0]
    assert "data destination=3 source=1 payload=-7 trace=[2]" in lines[1]
    assert "MALFORMED at byte" in lines[2]
    records = [json.loads(line) for line in capture.read_text().splitlines()]
    assert [r["message"] for r in records] == ["task_initiate", "data", "malformed"]
    assert records[1]["fields"] == {"destination": 3, "source": 1, "payload": -7, "trace": [2]}


async def test_check_registry_spawn_passes_and_usage_errors_exit_2(tmp_path: Path) -> None:
    report = tmp_path / "registry.json"
    registry = trio_dht("registry", "--grace", "1.5", "{port}")
    with trio.fail_after(60):
        done = await trio.run_process(
            trio_dht("check", "registry", "--hold", "1", "--json", str(report), "--spawn",
                     "--", *registry),
            capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
        assert "PASSED: 14 passed, 0 failed, 0 non-strict, 1 informational" in done.stdout.decode()
        assert json.loads(report.read_text())["kind"] == "registry"
        usage = await trio.run_process(trio_dht("check", "registry"), capture_stderr=True,
                                       check=False)  # fmt: skip
    assert usage.returncode == 2
    assert "HOST:PORT" in usage.stderr.decode()
