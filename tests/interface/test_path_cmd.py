"""``python -m trio_dht path``: routes explained offline, checked against the
spec's worked example and the overlay's router for every pair of a ring."""

from __future__ import annotations

import random
import re
import subprocess
import sys

import pytest

from trio_dht.interface.cli import main
from trio_dht.interface.figure_options import console_path
from trio_dht.overlay import route, routing_tables

RING_B = "4,18,19,33,60,82,97,119"
ROUTE_LINE = re.compile(r"^Route (\d+) -> (\d+) on (\d+) nodes, NR (\d+): ([\d >-]+) \(")


def run_path(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trio_dht", "path", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_spec_example_from_the_command_line() -> None:
    done = run_path("--ids", RING_B, "--nr", "3", "97", "82")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Route 97 -> 82 on 8 nodes, NR 3: 97 -> 19 -> 60 -> 82 (3 hops, 2 relays)"
    assert len(lines) == 7  # two lines per hop
    assert lines[1].split()[:6] == ["97", "->", "19", "113", "left", "to"]
    assert "the farthest is 60; 97 (+78) would pass it" in lines[4]
    assert "82 is in the table: straight to it" in lines[6]
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ids", RING_B, "--nr", "3", "5", "82"], "source 5 is not on the ring"),
        (["--ids", RING_B, "--nr", "3", "97", "81"], "destination 81 is not on the ring"),
        (["--ids", RING_B, "--nr", "4", "97", "82"], "routing-table size 4 is not valid"),
        (["--ids", RING_B, "--nr", "0", "97", "82"], "routing-table size 0 is not valid"),
        (["--ids", "4,18,x", "4", "18"], "'x' is not an identifier"),
        (["--ids", "4,18,18", "--nr", "1", "4", "18"], "these repeat: [18]"),
        (["--ids", "4,180", "--nr", "1", "4", "180"], "must lie in 0..127"),
        (["4", "18"], "the following arguments are required: --ids"),
    ],
)
def test_errors_are_one_clear_line(args: list[str], message: str) -> None:
    done = run_path(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_help_shows_an_example() -> None:
    done = run_path("--help")
    assert done.returncode == 0
    assert "python -m trio_dht path --ids 4,18,19,33,60,82,97,119 --nr 3 97 82" in done.stdout


def test_every_pair_of_a_random_ring_matches_the_router(capsys: pytest.CaptureFixture[str]) -> None:
    ids = random.Random(1414).sample(range(128), 23)
    text = " ".join(str(i) for i in ids)  # spaces work as well as commas
    for nr in (2, 5):
        tables = routing_tables(ids, nr)
        for s in ids:
            for d in ids:
                if s == d:
                    continue
                assert main(["path", "--ids", text, "--nr", str(nr), str(s), str(d)]) == 0
                out = capsys.readouterr().out.splitlines()
                match = ROUTE_LINE.match(out[0])
                assert match is not None, out[0]
                assert (int(match[1]), int(match[2]), int(match[3]), int(match[4])) == (
                    s,
                    d,
                    len(ids),
                    nr,
                )
                path = [int(p) for p in match[5].split(" -> ")]
                assert path == route(s, d, tables)
                assert len(out) == 1 + 2 * (len(path) - 1)


def test_the_registry_console_path_uses_its_tables() -> None:
    ids = [int(i) for i in RING_B.split(",")]
    tables = routing_tables(ids, 3)
    lines = console_path(tables, 3, ["97", "82"])
    assert lines[0].startswith("Route 97 -> 82 on 8 nodes, NR 3: 97 -> 19 -> 60 -> 82")
    for words, message in [
        (["97"], "usage: path SRC DST"),
        (["97", "x"], "path takes two node ids"),
        (["97", "5"], "destination 5 is not on the ring"),
    ]:
        with pytest.raises(ValueError, match=message):
            console_path(tables, 3, words)
    with pytest.raises(ValueError, match="no overlay is set up now"):
        console_path({}, None, ["97", "82"])
