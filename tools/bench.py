#!/usr/bin/env python3
"""Benchmark trio_dht: run the standard workloads, print one table and write
one JSON record per workload.

Workloads (``--workload``):

* ``classic``: 10 nodes, NR 3, 25,000 packets per node, one OS process per
  node (the assignment's run).
* ``steady``: 10 nodes, NR 3, 100,000 packets per node (in one process and
  one process per node).
* ``scale``: N = 10, 32, 64, 128 nodes with the largest NR that N allows and
  with NR 3, 10,000 packets per node, in one process and one process per node.

Each in both wire dialects (``--wire both``), each repeated (``--repeats``,
default 3) and summarised as median and spread (min..max).

How each number is measured
---------------------------

*start -> verdict*: the registry's own clock, from the ``start`` command to
the moment the verdict is known (``RunResult.elapsed``, the "X s from start to
summary" figure the registry prints). In per-process runs the registry is the
real unattended program (``python -m trio_dht registry ... --start N
--summary json``) and the figure is read from its output.

*sending*: from ``start`` to the registry receiving the last node's
task-finished message: the time the nodes spent originating their packets
(plus one control message's trip). The unattended registry program does not
print it (if its ``--summary json`` document ever carries a
``sending_elapsed`` field, that is used), so it is measured when the registry
runs inside a process the benchmark controls: in-process runs, and
per-process runs with ``--registry inline`` (the registry object in a bench
worker, the nodes as ``python -m trio_dht node`` processes). Otherwise null.

*delivered/s*: packets received / start->verdict seconds. *hops*: relayed +
received (links traversed). *relays/packet*: relayed / received next to the
exact mean for that ring (``trio_dht.overlay.mean_relays`` on the run's ids).

*peak RSS*: per-process runs: the largest ``ru_maxrss`` of the node processes
(reaped with ``os.wait4``); in-process runs: the peak of the one process that
holds the registry and every node. *CPU*: user+system seconds of the node
processes (or the one process) during the run (``cpu_run_s``: sampled from
/proc when the overlay is ready and at exit; exact for in-process runs), and
over their whole life including start-up (``cpu_s``).

Every run has a deadline (``--run-timeout``); a stuck run is killed and
reported as failed. Every child process is killed on exit. The exit status is
0 only if every run was correct.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchkit import ROOT

# trio_dht from this checkout, whatever is installed.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchkit.processes import Children, exit_on_sigterm
from benchkit.profiling import profile_text, py_spy_binary, summarise_profile
from benchkit.records import RECORD_KEYS, machine_facts, make_record, skipped_record
from benchkit.runs import Sample, measure
from benchkit.table import print_table
from benchkit.targets import print_targets
from benchkit.worker import worker_main
from benchkit.workloads import (
    MODES,
    QUICK_PACKETS,
    QUICK_SCALE_NODES,
    SCALE_NODES,
    WIRES,
    WORKLOADS,
    Case,
    build_cases,
    default_timeout,
    unsupported,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tools/bench.py",
        description="Run trio_dht's standard benchmark workloads; print a table and "
        "(with --json) write one JSON record per workload. Exit status 0 only if every "
        "run was correct. Numbers are never asserted: see docs/BENCHMARKS.md.",
        epilog="examples:\n"
        "  python tools/bench.py                          # everything, 3 repeats (long)\n"
        "  python tools/bench.py --workload classic --wire cs455\n"
        "  python tools/bench.py --workload classic --registry inline   # + sending time\n"
        "  python tools/bench.py --workload scale --scale-nodes 10,32 --repeats 1\n"
        "  python tools/bench.py --quick --json /tmp/bench.jsonl    # tiny counts (CI)\n"
        "  python tools/bench.py --workload classic --wire cs455 --profile /tmp/prof\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workload", choices=(*WORKLOADS, "all"), default="all",
                        help="which workload (default all)")  # fmt: skip
    parser.add_argument("--wire", choices=(*WIRES, "both"), default="both",
                        help="wire dialect (default both)")  # fmt: skip
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both",
                        help="inproc: registry and nodes in one process; procs: a process "
                        "per node (default both; classic is always procs)")  # fmt: skip
    parser.add_argument("--registry", choices=("cli", "inline"), default="cli",
                        help="per-process runs: cli = the unattended registry program "
                        "(default); inline = the registry object inside a bench worker, which "
                        "also measures the sending time")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs per workload (default 3; 1 with --quick)")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny counts ({QUICK_PACKETS} packets, scale N in "
                        f"{{{', '.join(map(str, QUICK_SCALE_NODES))}}}, 1 repeat): "
                        "proves the tool works (CI)")  # fmt: skip
    parser.add_argument("--scale-nodes", default=None, metavar="N,N,...",
                        help="node counts of the scale workload (default "
                        f"{','.join(map(str, SCALE_NODES))})")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="write one JSON record per workload (JSON lines)")  # fmt: skip
    parser.add_argument("--run-timeout", type=float, default=None, metavar="SECONDS",
                        help="give up on a run after this long (default: from its size)",
                        )  # fmt: skip
    parser.add_argument("--plain", action="store_true", help="a plain-text table instead of rich")
    parser.add_argument("--markdown", action="store_true", help="the table in Markdown")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="also run each per-process workload once more (not counted) with "
                        "one node under py-spy; raw stacks and a summary go to DIR")  # fmt: skip
    parser.add_argument("--profile-nodes", type=int, default=1, metavar="K",
                        help="with --profile: how many node processes to sample (each "
                        "costs CPU of its own; default 1); the summary adds them up")  # fmt: skip
    parser.add_argument("--from-json", type=Path, nargs="+", default=None, metavar="FILE",
                        help="run nothing: print the table and targets of records written "
                        "earlier with --json (several files are joined)")  # fmt: skip
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.worker is not None:
        signal.signal(signal.SIGTERM, exit_on_sigterm)
        return worker_main(args.worker)
    style = "markdown" if args.markdown else "plain" if args.plain else "rich"
    if args.from_json is not None:
        return show_saved(args.from_json, style)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    scale_nodes: list[int] | None = None
    if args.scale_nodes:
        try:
            scale_nodes = [int(x) for x in args.scale_nodes.split(",") if x.strip()]
        except ValueError:
            parser.error("--scale-nodes takes whole numbers separated by commas")
        if not all(2 <= n <= 128 for n in scale_nodes):
            parser.error("--scale-nodes: each N must be between 2 and 128")
    if args.profile_nodes < 1:
        parser.error("--profile-nodes must be at least 1")
    if args.profile is not None and py_spy_binary() is None:
        parser.error("--profile needs py-spy (pip install py-spy)")
    cases = build_cases(
        WORKLOADS if args.workload == "all" else (args.workload,),
        WIRES if args.wire == "both" else (args.wire,),
        MODES if args.mode == "both" else (args.mode,),
        quick=args.quick,
        scale_nodes=scale_nodes,
    )
    if not cases:
        parser.error("that selection has no workloads (classic runs only as processes)")

    signal.signal(signal.SIGTERM, exit_on_sigterm)
    # Interruptible even when started in the background (which ignores SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    children = Children()
    atexit.register(children.kill_all)
    machine = machine_facts()
    records: list[dict[str, Any]] = []
    profiles: list[str] = []
    out = args.json.open("w") if args.json is not None else None
    log = sys.stderr
    busy = machine["cpu_busy_at_start"]
    print(
        f"{len(cases)} workloads x {repeats} repeats on {machine['cores']} cores "
        f"({'?' if busy is None else f'{busy:.0%}'} busy before the start)",
        file=log,
    )
    if busy is not None and busy > 0.25:
        print(
            "warning: the machine is busy: every timing will be worse than on an idle machine",
            file=log,
        )
    try:
        for number, case in enumerate(cases, 1):
            timeout = args.run_timeout or default_timeout(case)
            why_not = unsupported(case)
            if why_not is not None:
                print(f"[{number}/{len(cases)}] {case.label}: skipped: {why_not}", file=log)
                record = skipped_record(case, why_not, machine)
                records.append(record)
                if out is not None:
                    out.write(json.dumps(record) + "\n")
                    out.flush()
                continue
            samples: list[Sample] = []
            for k in range(repeats):
                sample = measure(children, case, args.registry, timeout)
                samples.append(sample)
                status = (
                    f"{sample.elapsed:.2f} s, {sample.verdict.split(':')[0]}, "
                    f"quiet by {sample.quiescence}"
                    if sample.elapsed is not None
                    else "FAILED"
                )
                print(
                    f"[{number}/{len(cases)}] {case.label} #{k + 1}: {status}", file=log, flush=True
                )
                if sample.error:
                    print("    " + sample.error.strip().replace("\n", "\n    "), file=log)
            # Other work on the machine skews every number: keep the load.
            loadavg = [round(x, 2) for x in os.getloadavg()]
            record = make_record(case, samples, machine | {"loadavg_at_record": loadavg})
            if args.profile is not None and case.mode == "procs":
                record_profile = profile_case(
                    children, case, timeout, args.profile, args.profile_nodes
                )
                if record_profile is not None:
                    profiles.append(record_profile)
            records.append(record)
            if out is not None:
                out.write(json.dumps(record) + "\n")
                out.flush()
    except KeyboardInterrupt:
        print("interrupted", file=log)
        return 130
    finally:
        if out is not None:
            out.close()
        children.kill_all()
    print_table(records, machine, style)
    print_targets(records)
    for text in profiles:
        print("\n" + text)
    return 0 if all(r["correct"] or r["skipped"] for r in records) else 1


def show_saved(files: Sequence[Path], style: str) -> int:
    records = [
        dict.fromkeys(RECORD_KEYS) | json.loads(line)
        for path in files
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    if not records:
        print("no records in " + ", ".join(map(str, files)), file=sys.stderr)
        return 2
    print_table(records, records[0]["machine"], style)
    print_targets(records)
    return 0 if all(r["correct"] or r["skipped"] for r in records) else 1


def profile_case(
    children: Children, case: Case, timeout: float, directory: Path, count: int
) -> str | None:
    directory.mkdir(parents=True, exist_ok=True)
    name = f"node-{case.workload}-{case.wire}-N{case.nodes}-NR{case.nr}"
    raws = [directory / f"{name}-node{k}.txt" for k in range(min(count, case.nodes))]
    for raw in raws:
        raw.unlink(missing_ok=True)
    sample = measure(children, case, "cli", timeout, profile=raws)
    raws = [raw for raw in raws if raw.exists()]
    if sample.error or not raws:
        print(f"profile of {case.label} failed: {sample.error}", file=sys.stderr)
        return None
    text = profile_text(case, summarise_profile(raws))
    (directory / f"{name}.summary.txt").write_text(text + "\n")
    return text


if __name__ == "__main__":
    sys.exit(main())
