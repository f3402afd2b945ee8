"""Registry and nodes on separate hosts: Linux network namespaces that this
test creates, joined by veth links to a bridge, each with its own address.

A full run must be exact, and every node must register with its own
namespace's address -- proof that nothing assumes 127.0.0.1. All traffic
stays inside the namespaces made here; they are removed afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import trio

SUBNET = "10.213.77"
REGISTRY_ADDRESS = f"{SUBNET}.1"
NODE_HOSTS = 3
NODES_PER_HOST = 2


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _namespaces_possible() -> str | None:
    """Why this test cannot run here, or None if it can."""
    if sys.platform != "linux":
        return "network namespaces exist only on Linux"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"tdprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"this system does not allow creating network namespaces ({exc})"
    _ip("netns", "del", probe)
    return None


@pytest.fixture
def hosts() -> list[str]:
    """The namespaces: [registry, node host 1, node host 2, ...]."""
    why = _namespaces_possible()
    if why is not None:
        pytest.skip(why)
    tag = os.getpid() % 100000
    names = [f"tdreg{tag}"] + [f"tdn{i}x{tag}" for i in range(NODE_HOSTS)]
    try:
        for name in names:
            _ip("netns", "add", name)
            _ip("-n", name, "link", "set", "lo", "up")
        registry_ns = names[0]
        _ip("-n", registry_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", registry_ns, "addr", "add", f"{REGISTRY_ADDRESS}/24", "dev", "br0")
        _ip("-n", registry_ns, "link", "set", "br0", "up")
        for i, name in enumerate(names[1:]):
            port = f"vb{i}"
            _ip("-n", registry_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                "netns", name)  # fmt: skip
            _ip("-n", registry_ns, "link", "set", port, "master", "br0", "up")
            _ip("-n", name, "addr", "add", f"{SUBNET}.{10 + i}/24", "dev", "eth0")
            _ip("-n", name, "link", "set", "eth0", "up")
        yield names
    finally:
        for name in names:
            subprocess.run(
                ["ip", "netns", "del", name], capture_output=True, timeout=10, check=False
            )


async def _read_until(stream: trio.abc.ReceiveStream, pattern: str, seen: list[str]) -> str:
    """Read lines into ``seen`` until one matches ``pattern``; returns it."""
    buffer = b""
    while True:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise AssertionError(f"output ended before {pattern!r}:\n" + "\n".join(seen))
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace")
            seen.append(line)
            if re.search(pattern, line):
                return line


async def test_run_across_separate_network_namespaces(hosts: list[str]) -> None:
    registry_ns, *node_namespaces = hosts
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    total = NODE_HOSTS * NODES_PER_HOST
    lines: list[str] = []
    processes: list[trio.Process] = []
    try:
        with trio.fail_after(90):
            registry = await trio.lowlevel.open_process(
                ["ip", "netns", "exec", registry_ns, sys.executable, "-m", "trio_dht",
                 "registry", "--host", REGISTRY_ADDRESS, "--nodes", str(total), "--nr", "2",
                 "--start", "3000", "--timeout", "60"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
            processes.append(registry)
            assert registry.stdout is not None
            ready = await _read_until(registry.stdout, r"listening on port \d+", lines)
            port = re.search(r"port (\d+)", ready).group(1)  # type: ignore[union-attr]
            for namespace in node_namespaces:
                for _ in range(NODES_PER_HOST):
                    node_command = [
                        "ip", "netns", "exec", namespace, sys.executable, "-m", "trio_dht",
                        "node", f"{REGISTRY_ADDRESS}:{port}",
                    ]  # fmt: skip
                    node = await trio.lowlevel.open_process(
                        node_command,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        env=env,
                    )
                    processes.append(node)
            verdict = await _read_until(registry.stdout, r"^(CORRECT|INCORRECT)", lines)
            assert verdict == f"CORRECT: {total * 3000} sent, {total * 3000} received, sums match"
            assert await registry.wait() == 0
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    registered = [re.search(r"Registered node \d+ at ([\d.]+):", line) for line in lines]
    addresses = sorted(m.group(1) for m in registered if m)
    expected = sorted(
        f"{SUBNET}.{10 + i}" for i in range(NODE_HOSTS) for _ in range(NODES_PER_HOST)
    )
    # Each node registered with the address of its own host, not loopback.
    assert addresses == expected, "\n".join(lines)
