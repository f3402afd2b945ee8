"""The bench worker (``bench.py --worker SPEC``): one run inside this
process, the registry object here and the nodes either here too (in-process
runs) or as ``python -m trio_dht node`` processes (``--registry inline``).
It prints one JSON line for the parent (``runs.run_worker``)."""

from __future__ import annotations

import json
import resource
import subprocess
import time
from typing import Any

import trio

from benchkit import HOST
from benchkit.processes import REAP_GRACE, Children, proc_cpu
from benchkit.runs import node_command


def worker_main(spec_text: str) -> int:
    from trio_dht.interface.summary_formats import summary_dict

    spec = json.loads(spec_text)
    children = Children()
    procs: list[subprocess.Popen[bytes]] = []
    out: dict[str, Any] = {"registry": "inline" if spec["procs"] else "inproc"}
    status = 0
    try:
        result = trio.run(_worker_run, spec, children, procs, out)
        out["summary"] = summary_dict(result)
    except trio.TooSlowError:
        out["error"] = f"no verdict within {spec['timeout']:g} s"
        status = 3
    except Exception as exc:  # noqa: BLE001 -- reported to the parent as a failed run
        out["error"] = f"{type(exc).__name__}: {exc}"
        status = 1
    finally:
        # The registry is closed: the nodes leave by themselves.
        grace = time.monotonic() + REAP_GRACE
        usage = [children.reap(p, grace) for p in procs]
        out["node_usage"] = [(u.maxrss_mb, u.cpu_s) for u in usage]
        # This process alone (wait4 on it would add the reaped nodes).
        own = resource.getrusage(resource.RUSAGE_SELF)
        out["self_usage"] = (own.ru_maxrss / 1024, own.ru_utime + own.ru_stime)
    print(json.dumps(out), flush=True)
    return status


async def _worker_run(
    spec: dict[str, Any],
    children: Children,
    procs: list[subprocess.Popen[bytes]],
    out: dict[str, Any],
) -> Any:
    from trio_dht.services.node import MessagingNode
    from trio_dht.services.observer import Observer
    from trio_dht.services.registry import Registry
    from trio_dht.wire import get_dialect

    class SendingWatch(Observer):
        """Notes when the registry has every node's task-finished."""

        registry: Registry | None = None
        sending: float | None = None

        def say(self, text: str) -> None:
            pass

        def changed(self) -> None:
            run = self.registry.run if self.registry is not None else None
            if run is not None and self.sending is None and len(run.finished) >= len(run.node_ids):
                self.sending = time.monotonic() - run.started

    n, nr, packets = spec["nodes"], spec["nr"], spec["packets"]
    dialect = get_dialect(spec["wire"])
    watch = SendingWatch()
    registry = Registry(dialect, watch)
    watch.registry = registry
    with trio.fail_after(spec["timeout"]):
        async with trio.open_nursery() as nursery:
            launched = time.monotonic()
            port = await nursery.start(registry.serve, HOST, 0)
            if spec["procs"]:
                for _ in range(n):
                    procs.append(children.spawn(node_command(port, spec["wire"])))
            else:
                for _ in range(n):
                    node = MessagingNode(HOST, port, dialect, Observer())
                    nursery.start_soon(node.run)
            await registry.wait_for_nodes(n)
            registry.setup_overlay(nr)
            await registry.wait_ready()
            out["setup"] = time.monotonic() - launched
            out["node_cpu_at_ready"] = [proc_cpu(p.pid) for p in procs]
            before = resource.getrusage(resource.RUSAGE_SELF)
            run = registry.start(packets)
            await run.done.wait()
            after = resource.getrusage(resource.RUSAGE_SELF)
            out["cpu_run"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            out["sending"] = watch.sending
            nursery.cancel_scope.cancel()
    return run.result
