"""A text stream for stderr whose ``write`` never blocks.

LogSink keeps log records from blocking, but a service also prints events
on stderr (registrations, progress) through its console. When stderr is a
pipe nobody reads, the first such print after the pipe fills stops the
whole trio loop. NonBlockingStream takes the text, keeps at most ``limit``
characters of it, and a daemon thread writes it out; text beyond the limit
is dropped and counted, and once the backlog has been written the thread
adds ``N lines dropped (stderr not keeping up)``.

    err = NonBlockingStream(sys.stderr)
    console = Console(file=err)

At exit it runs logging.shutdown() (so LogSink writes its last records
through it) and then waits up to a second for the backlog.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import threading
import time
from collections import deque
from typing import TextIO, cast

DEFAULT_LIMIT = 256 << 10


class NonBlockingStream(io.TextIOBase):
    """Buffers up to ``limit`` characters for ``target``; never waits."""

    def __init__(self, target: TextIO, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        self.target = target
        self.limit = limit
        self.dropped_lines = 0
        self._chunks: deque[str] = deque()
        self._size = 0
        self._busy = False
        self._cond = threading.Condition()
        try:
            # Write to a duplicate descriptor: no buffer and no lock shared
            # with sys.stderr, so a write stuck on a full pipe cannot make
            # the interpreter's exit-time flush of sys.stderr abort.
            self._fd: int | None = os.dup(target.fileno())
        except (AttributeError, OSError, ValueError):
            self._fd = None
        self._thread = threading.Thread(target=self._write_loop, name="stderr-writer", daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    # --- the TextIO surface a Console and a StreamHandler use ---------------

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def write(self, text: str) -> int:
        with self._cond:
            if self._size + len(text) > self.limit:
                self.dropped_lines += max(1, text.count("\n"))
            else:
                self._chunks.append(text)
                self._size += len(text)
                self._cond.notify()
        return len(text)

    def flush(self) -> None:
        # Never waits: a console flushes after every print.
        pass

    # --- the writer thread --------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._chunks:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait()
                self._busy = True
                text = "".join(self._chunks)
                self._chunks.clear()
                self._size = 0
            self._emit(text)
            with self._cond:
                dropped = self.dropped_lines if not self._chunks else 0
                self.dropped_lines -= dropped
            if dropped:
                self._emit(f"{dropped:,} lines dropped (stderr not keeping up)\n")

    def _emit(self, text: str) -> None:
        data = text.encode("utf-8", "backslashreplace")
        try:
            if self._fd is None:
                self.target.write(text)
                self.target.flush()
                return
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except (OSError, ValueError):
            pass  # stderr is gone: nothing left to tell

    def drain(self, timeout: float = 1.0) -> bool:
        """Wait up to ``timeout`` s until everything written so far is out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._chunks or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _at_exit(self) -> None:
        logging.shutdown()
        self.drain(1.0)


def nonblocking(target: TextIO, limit: int = DEFAULT_LIMIT) -> TextIO:
    """``target`` behind a NonBlockingStream, typed as the TextIO it stands for."""
    return cast(TextIO, NonBlockingStream(target, limit))
