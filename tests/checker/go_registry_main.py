"""Helper F's scripted Go per-message registry (tests/peers/) as a program,
so ``check registry --spawn --per-message`` can start it:
``go_registry_main.py [--sleep S] PORT``; stdin takes ``setup-overlay NR``,
``start N`` and ``exit``. Like the real Go port it asks for the summaries as
soon as the last node finished, unless ``--sleep`` makes it wait S seconds."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for peers.*

from peers.go_registry import GoRegistry


async def main(args: argparse.Namespace) -> None:
    wait = partial(trio.sleep, args.sleep) if args.sleep else None
    registry = GoRegistry(before_summaries=wait)
    async with trio.open_nursery() as nursery:
        await nursery.start(registry.serve, args.port)
        while line := await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True):
            words = line.split()
            if words[:1] in (["setup-overlay"], ["setup"]):
                await registry.setup(int(words[1]))
            elif words[:1] == ["start"]:
                await registry.start(int(words[1]))
            elif words[:1] == ["exit"]:
                break
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("port", type=int)
    trio.run(main, parser.parse_args())
