"""A logging handler that never blocks its caller and never floods stderr.

Two problems of a service under attack, solved here rather than at every
call site:

- **Blocking.** A plain StreamHandler writes to stderr in the thread that
  logs. When stderr is a pipe nobody reads, the pipe fills and the whole
  trio loop stops inside ``write``: the service answers no one. LogSink's
  ``emit`` only puts the record on a bounded queue; a writer thread hands it
  to the real handler. When the queue is full the record is counted and
  dropped, and once the queue has drained the writer reports
  ``N log records dropped (stderr not keeping up)``.
- **Flooding.** A warning per hostile connection is thousands of lines a
  second. A caller marks records of one kind with an aggregation key; the
  first record of a kind is printed, the others of the same interval are
  counted and summed up in one line when the interval ends::

      log.warning(
          "closed connection from %s: %s", peer, reason,
          extra=aggregate(("closed", host, reason),
                          f"closed {{count:,}} connections from {host} {{period}}: {reason}"),
      )

  (code below the interface layer, which must not import this module,
  writes the same two keys itself: ``extra={"aggregate": key,
  "aggregate_summary": template}``) prints the first line, then at most one
  line per interval such as
  ``closed 5,214 connections from 127.0.0.2 in the last second: malformed
  input``. ``{count}`` and ``{period}`` are filled in by the handler; without
  a summary template the line is ``N more like this {period}: <first message>``.

Install it around any handler (``setup_logging`` in screen.py does)::

    sink = LogSink(logging.StreamHandler(sys.stderr))
    logging.basicConfig(level=logging.WARNING, handlers=[sink], force=True)

The writer thread is a daemon: a process whose stderr is stuck still exits.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TextIO

# Records, not bytes: a log line is ~100-200 bytes, so ~200 KB at most.
DEFAULT_QUEUE = 1000
DEFAULT_INTERVAL = 1.0
AGGREGATE = "aggregate"
AGGREGATE_SUMMARY = "aggregate_summary"


def aggregate(key: Hashable, summary: str | None = None) -> dict[str, object]:
    """``extra=`` for a record of a kind that may repeat.

    ``key`` says which records are "the same kind" (include the peer host and
    the reason, not the port). ``summary`` is a ``str.format`` template for
    the per-interval line, with ``{count}`` and ``{period}``."""
    extra: dict[str, object] = {AGGREGATE: key}
    if summary is not None:
        extra[AGGREGATE_SUMMARY] = summary
    return extra


class _FdWriter:
    """The text-stream methods StreamHandler uses, over a raw descriptor: no
    buffer and no lock, so a writer thread stuck on a full pipe cannot make
    the interpreter's exit-time flush of sys.stderr abort the process."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, text: str) -> int:
        data = text.encode("utf-8", "backslashreplace")
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        return len(text)

    def flush(self) -> None:
        pass


def stderr_handler() -> logging.StreamHandler[TextIO]:
    """A StreamHandler for the process's stderr. When sys.stderr is the real
    descriptor 2 it writes to a duplicate of it directly (see _FdWriter); a
    replaced sys.stderr (a test capturing it) is used as it is."""
    stream: TextIO = sys.stderr
    try:
        real = stream is sys.__stderr__ and stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        real = False
    if real:
        return logging.StreamHandler(_FdWriter(os.dup(2)))  # type: ignore[arg-type]
    return logging.StreamHandler(stream)


def describe_period(seconds: float) -> str:
    if seconds == 1:
        return "in the last second"
    return f"in the last {seconds:g} seconds"


@dataclass
class _Kind:
    """One aggregation key's current interval."""

    ends: float
    count: int
    first: logging.LogRecord
    summary: str | None


class Aggregator:
    """Decides, per record, whether to print it now, and which summary lines
    are due. Pure logic with an injectable clock; not thread-safe by itself
    (LogSink calls it under its lock)."""

    def __init__(
        self, interval: float = DEFAULT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._kinds: dict[Hashable, _Kind] = {}

    def offer(self, record: logging.LogRecord) -> list[logging.LogRecord]:
        """Records to print for ``record`` (itself, a due summary, or nothing
        when it is counted instead)."""
        key = getattr(record, AGGREGATE, None)
        if key is None and not self._kinds:
            return [record]
        now = self.clock()
        out = self.due(now)
        if key is None:
            out.append(record)
            return out
        kind = self._kinds.get(key)
        if kind is None:
            # First of its kind (or first after a quiet interval): print it.
            summary = getattr(record, AGGREGATE_SUMMARY, None)
            self._kinds[key] = _Kind(now + self.interval, 0, record, summary)
            out.append(record)
        else:
            kind.count += 1
        return out

    def due(self, now: float | None = None) -> list[logging.LogRecord]:
        """Summary records of the intervals that have ended by ``now``. A kind
        still repeating stays counted (one summary per interval, no more first
        lines); a kind quiet for a whole interval is forgotten."""
        if now is None:
            now = self.clock()
        out: list[logging.LogRecord] = []
        for key, kind in list(self._kinds.items()):
            if kind.ends > now:
                continue
            if kind.count:
                out.append(self._summary(kind))
                kind.count = 0
                kind.ends = now + self.interval
            else:
                del self._kinds[key]
        return out

    def next_due(self) -> float | None:
        """When the earliest interval ends (None: nothing pending)."""
        return min((k.ends for k in self._kinds.values()), default=None)

    def _summary(self, kind: _Kind) -> logging.LogRecord:
        period = describe_period(self.interval)
        first = kind.first
        if kind.summary is not None:
            try:
                text = kind.summary.format(count=kind.count, period=period)
            except (KeyError, IndexError, ValueError):
                text = f"{kind.count:,} more like this {period}: {first.getMessage()}"
        else:
            text = f"{kind.count:,} more like this {period}: {first.getMessage()}"
        return logging.makeLogRecord(
            {
                "name": first.name,
                "levelno": first.levelno,
                "levelname": first.levelname,
                "msg": text,
                "args": None,
                "created": time.time(),
            }
        )


class AggregatingHandler(logging.Handler):
    """Aggregation without the thread, for a terminal: the lines go through
    the Screen (which takes the prompt and the live table out of the way),
    and that must happen in the thread that logs. A summary line is due
    when the next record comes or at the end, never lost."""

    def __init__(
        self,
        target: logging.Handler,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(level=target.level)
        self.target = target
        self.formatter = target.formatter
        self.aggregator = Aggregator(interval, clock)

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        # Kept here too, so that logging.basicConfig sees a formatter and
        # leaves the target's alone.
        self.formatter = fmt
        self.target.setFormatter(fmt)

    def emit(self, record: logging.LogRecord) -> None:
        for ready in self.aggregator.offer(record):
            self.target.handle(ready)

    def close(self) -> None:
        for summary in self.aggregator.due(float("inf")):
            self.target.handle(summary)
        super().close()


class LogSink(AggregatingHandler):
    """The same aggregation, but records are queued for ``target`` (any
    handler) and written from a daemon thread; ``emit`` never waits on I/O."""

    def __init__(
        self,
        target: logging.Handler,
        capacity: int = DEFAULT_QUEUE,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(target, interval, clock)
        self.dropped = 0
        self._queue: queue.Queue[logging.LogRecord | None] = queue.Queue(capacity)
        self._state = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._write_loop, name="log-sink", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        # Render the message now, on a copy other handlers do not see: args
        # may change (or die) before the writer thread gets to it. Exception
        # text too, for the same reason.
        record = copy.copy(record)
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        with self._state:
            for ready in self.aggregator.offer(record):
                self._put(ready)

    def _put(self, record: logging.LogRecord) -> None:
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def _write_loop(self) -> None:
        get = self._queue.get
        while True:
            with self._state:
                next_due = self.aggregator.next_due()
            wait = None if next_due is None else max(0.0, next_due - self.aggregator.clock())
            try:
                record = get(timeout=wait)
            except queue.Empty:
                record = None
                if self._closed:
                    return
            else:
                if record is None:
                    self._queue.task_done()
                    return
                self._write(record)
                self._queue.task_done()
            with self._state:
                due = self.aggregator.due()
                # Report drops once the backlog is gone: the lines before it
                # are then all written, so the count sits where it belongs.
                dropped = self.dropped if self._queue.empty() else 0
                self.dropped -= dropped
            for summary in due:
                self._write(summary)
            if dropped:
                self._write(self._dropped_record(dropped))

    def _write(self, record: logging.LogRecord) -> None:
        # A log line must never kill the writer thread.
        with contextlib.suppress(Exception):
            self.target.handle(record)

    @staticmethod
    def _dropped_record(count: int) -> logging.LogRecord:
        return logging.makeLogRecord(
            {
                "name": "trio_dht.logsink",
                "levelno": logging.WARNING,
                "levelname": "WARNING",
                "msg": f"{count:,} log records dropped (stderr not keeping up)",
                "args": None,
            }
        )

    def drain(self, timeout: float = 1.0) -> bool:
        """Wait up to ``timeout`` s for the queued records to be written;
        False if stderr is stuck."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def flush(self) -> None:
        self.drain(0.5)

    def close(self) -> None:
        """Write what is queued (waiting at most a second), then stop."""
        if not self._closed:
            self._closed = True
            try:
                self._queue.put(None, timeout=1.0)
            except queue.Full:
                pass
            self._thread.join(1.0)
            with self._state:
                due = self.aggregator.due(float("inf"))
            if not self._thread.is_alive():
                for summary in due:
                    self._write(summary)
                if self.dropped:
                    self._write(self._dropped_record(self.dropped))
                    self.dropped = 0
        # Not AggregatingHandler.close: it writes in this thread, and the
        # summaries were handled above (or dropped, if stderr is stuck).
        logging.Handler.close(self)
