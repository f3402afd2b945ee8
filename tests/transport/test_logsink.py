"""LogSink: emit never waits on a stuck stderr, drops are counted and
reported, repeated warnings of one kind are aggregated per interval."""

from __future__ import annotations

import logging
import threading

from trio_dht.interface.logsink import AggregatingHandler, Aggregator, LogSink, aggregate


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, extra: dict[str, object] | None = None) -> logging.LogRecord:
    rec = logging.LogRecord("t", logging.WARNING, __file__, 1, msg, args, None)
    for key, value in (extra or {}).items():
        setattr(rec, key, value)
    return rec


def texts(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records]


def closed(host: str, port: int, reason: str = "malformed input") -> logging.LogRecord:
    return record(
        "closed connection from %s:%d: %s",
        host,
        port,
        reason,
        extra=aggregate(
            ("closed", host, reason),
            f"closed {{count:,}} connections from {host} {{period}}: {reason}",
        ),
    )


def test_plain_records_pass_through() -> None:
    agg = Aggregator(1.0, FakeClock())
    assert texts(agg.offer(record("a"))) == ["a"]
    assert texts(agg.offer(record("a"))) == ["a"]


def test_first_of_a_kind_printed_then_one_count_per_interval() -> None:
    clock = FakeClock()
    agg = Aggregator(1.0, clock)
    printed = agg.offer(closed("127.0.0.2", 1000))
    assert texts(printed) == ["closed connection from 127.0.0.2:1000: malformed input"]
    for port in range(1001, 1001 + 5214):
        assert agg.offer(closed("127.0.0.2", port)) == []
    clock.now += 0.5
    assert agg.due() == []
    clock.now += 0.5
    assert texts(agg.due()) == [
        "closed 5,214 connections from 127.0.0.2 in the last second: malformed input"
    ]
    # Still flooding: no new first line, only the next interval's count.
    for port in range(3):
        assert agg.offer(closed("127.0.0.2", port)) == []
    clock.now += 1.0
    assert texts(agg.due()) == [
        "closed 3 connections from 127.0.0.2 in the last second: malformed input"
    ]
    # A quiet interval forgets the kind: the next one is printed in full.
    clock.now += 1.0
    assert agg.due() == []
    assert texts(agg.offer(closed("127.0.0.2", 7))) == [
        "closed connection from 127.0.0.2:7: malformed input"
    ]


def test_kinds_are_counted_separately() -> None:
    clock = FakeClock()
    agg = Aggregator(2.0, clock)
    assert len(agg.offer(closed("127.0.0.2", 1))) == 1
    assert len(agg.offer(closed("127.0.0.3", 1))) == 1
    assert len(agg.offer(closed("127.0.0.2", 1, "idle"))) == 1
    for _ in range(4):
        agg.offer(closed("127.0.0.2", 1))
    agg.offer(closed("127.0.0.3", 1))
    clock.now += 2.0
    assert sorted(texts(agg.due())) == [
        "closed 1 connections from 127.0.0.3 in the last 2 seconds: malformed input",
        "closed 4 connections from 127.0.0.2 in the last 2 seconds: malformed input",
    ]


def test_a_due_summary_comes_out_with_the_next_record() -> None:
    clock = FakeClock()
    agg = Aggregator(1.0, clock)
    agg.offer(record("x %d", 1, extra=aggregate("x")))
    agg.offer(record("x %d", 2, extra=aggregate("x")))
    clock.now += 1.5
    assert texts(agg.offer(record("other"))) == [
        "1 more like this in the last second: x 1",
        "other",
    ]


class Stuck(logging.Handler):
    """A target whose stream blocks (a pipe nobody reads) until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.unblock = threading.Event()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entered.set()
        assert self.unblock.wait(30)
        self.lines.append(record.getMessage())


def test_emit_never_waits_and_drops_are_reported_after_draining() -> None:
    target = Stuck()
    sink = LogSink(target, capacity=10)
    try:
        sink.handle(record("first"))
        assert target.entered.wait(10)
        # The writer is stuck inside "first": 10 fit the queue, 490 are dropped.
        for k in range(500):
            sink.handle(record("r%d", k))
        assert sink.dropped == 490
        target.unblock.set()
        assert sink.drain(10)
    finally:
        target.unblock.set()
        sink.close()
    assert target.lines == ["first"] + [f"r{k}" for k in range(10)] + [
        "490 log records dropped (stderr not keeping up)"
    ]


def test_close_writes_the_pending_summary() -> None:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    sink = LogSink(Collect(), interval=3600)
    for port in range(3):
        sink.handle(closed("127.0.0.9", port, "idle"))
    sink.close()
    assert lines == [
        "closed connection from 127.0.0.9:0: idle",
        "closed 2 connections from 127.0.0.9 in the last 3600 seconds: idle",
    ]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_terminal_handler_aggregates_in_the_callers_thread() -> None:
    clock = FakeClock()
    target = Collect()
    handler = AggregatingHandler(target, 1.0, clock)
    for port in range(1000, 1100):
        handler.handle(closed("127.0.0.2", port))
    # The first of the kind at once, the rest counted, nothing queued.
    assert texts(target.records) == ["closed connection from 127.0.0.2:1000: malformed input"]
    clock.now += 1.0
    handler.handle(record("something else"))
    assert texts(target.records)[1:] == [
        "closed 99 connections from 127.0.0.2 in the last second: malformed input",
        "something else",
    ]
    handler.handle(closed("127.0.0.2", 2000))
    handler.close()
    # What was still counted is said at the end.
    assert texts(target.records)[-1] == (
        "closed 1 connections from 127.0.0.2 in the last second: malformed input"
    )
