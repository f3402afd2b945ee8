"""Child processes of the benchmark: spawn them with a clean environment,
reap them with their resource usage (wait4), sample their CPU from /proc,
read their output with a deadline, and kill every one on exit."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from benchkit import ROOT

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Node processes that outlive their registry by this much are killed.
REAP_GRACE = 10.0


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    for name in ("FORCE_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE", "COLUMNS", "LINES"):
        env.pop(name, None)
    return env


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.returncode is None:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class Reaped:
    status: int | None  # exit status (negative: killed by that signal)
    maxrss_mb: float
    cpu_s: float
    killed: bool = False


class Children:
    """The child processes one bench process started and has not reaped yet:
    passed to whatever spawns, so that ``kill_all`` (at exit, on an error or
    an interrupt) leaves none running."""

    def __init__(self) -> None:
        self.running: dict[int, subprocess.Popen[bytes]] = {}

    def spawn(
        self, argv: list[str], *, stdout: Any = subprocess.DEVNULL, stderr: Any = None
    ) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr if stderr is not None else subprocess.DEVNULL,
            env=child_env(),
        )
        self.running[process.pid] = process
        return process

    def reap(self, process: subprocess.Popen[bytes], deadline: float) -> Reaped:
        """Wait for ``process`` (until ``deadline``, then kill it) and collect
        its resource usage with wait4 (Popen.wait would throw it away)."""
        killed = False
        while True:
            try:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: no usage to report
                self.running.pop(process.pid, None)
                return Reaped(process.returncode, 0.0, 0.0)
            if pid:
                break
            if time.monotonic() >= deadline and not killed:
                kill(process)
                killed = True
                deadline = time.monotonic() + 5.0
            time.sleep(0.005)
        process.returncode = os.waitstatus_to_exitcode(status)
        self.running.pop(process.pid, None)
        # Linux: ru_maxrss in KiB.
        return Reaped(
            process.returncode, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, killed
        )

    def kill_all(self) -> None:
        for process in list(self.running.values()):
            kill(process)
        for process in list(self.running.values()):
            self.reap(process, time.monotonic() + 2.0)


def proc_cpu(pid: int) -> float | None:
    """user+system CPU seconds of a running process so far (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM as SystemExit: the finally blocks and atexit then kill the
    children (the default action would leave them running)."""
    raise SystemExit(128 + signum)


class LineReader:
    """Lines from a child's stdout pipe, each with its arrival time, read
    with a deadline (a stuck child never hangs the benchmark)."""

    def __init__(self, pipe: Any) -> None:
        self.fd = pipe.fileno()
        os.set_blocking(self.fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.fd, selectors.EVENT_READ)
        self.lines: list[tuple[float, str]] = []
        self.eof = False
        self._buffer = b""

    def _pump(self, deadline: float) -> bool:
        """Read what is there (waiting until ``deadline``); False on timeout."""
        timeout = deadline - time.monotonic()
        if timeout <= 0 or not self.selector.select(timeout):
            return False
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return True
            if not chunk:
                self.eof = True
                if self._buffer:
                    self.lines.append((time.monotonic(), self._buffer.decode(errors="replace")))
                    self._buffer = b""
                return True
            now = time.monotonic()
            *complete, self._buffer = (self._buffer + chunk).split(b"\n")
            self.lines.extend((now, line.decode(errors="replace")) for line in complete)

    def wait_for(
        self, match: Callable[[str], Any], deadline: float, since: int = 0
    ) -> tuple[int, float, Any] | None:
        """The first line from ``since`` on for which ``match`` is truthy:
        (index, arrival time, match result); None at EOF or deadline."""
        index = since
        while True:
            while index < len(self.lines):
                at, line = self.lines[index]
                result = match(line)
                if result:
                    return index, at, result
                index += 1
            if self.eof or not self._pump(deadline):
                return None

    def read_to_end(self, deadline: float) -> bool:
        while not self.eof:
            if not self._pump(deadline):
                return False
        return True

    def close(self) -> None:
        self.selector.close()

    def tail(self, n: int = 12) -> str:
        return "\n".join(line for _, line in self.lines[-n:])


def file_tail(handle: IO[bytes], limit: int = 1500) -> str:
    """The end of what a child wrote to ``handle`` (its stderr file)."""
    handle.flush()
    handle.seek(0)
    data = handle.read().decode(errors="replace").strip()
    return data[-limit:]
