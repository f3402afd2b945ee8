"""Regenerate trio_dht/wire/minichord_pb2.py and .pyi from minichord.proto.

Usage: python tools/gen_minichord.py [--out DIR]

Runs the protobuf compiler bundled with grpcio-tools (``grpc_tools.protoc``),
so the output depends only on the grpcio-tools version, not on whatever
``protoc`` is on PATH. The generated files are committed; run this after
editing the .proto and commit the result. ``--out`` writes elsewhere (the test
suite uses it to check that the committed files are up to date).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The proto is compiled under its path relative to the repository root, so the
# descriptor registers as "trio_dht/wire/minichord.proto" in protobuf's global
# pool: a bare "minichord.proto" could clash with another copy of the schema
# loaded in the same process.
PROTO = Path("trio_dht") / "wire" / "minichord.proto"
OUTPUTS = ("minichord_pb2.py", "minichord_pb2.pyi")


def generate(out_dir: Path) -> list[Path]:
    """Compile the schema and write OUTPUTS into ``out_dir``; the paths written."""
    try:
        from grpc_tools import protoc
    except ImportError:
        sys.exit(
            "gen_minichord: grpc_tools is not installed; run `pip install grpcio-tools`"
            " in this environment and try again"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # protoc writes into a package tree mirroring PROTO's path; compile
        # into a scratch dir and copy the two files, so --out can be flat.
        args = [
            "grpc_tools.protoc",
            f"--proto_path={ROOT}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            str(ROOT / PROTO),
        ]
        status = protoc.main(args)
        if status != 0:
            sys.exit(f"gen_minichord: protoc failed with status {status} on {PROTO}")
        written = []
        for name in OUTPUTS:
            target = out_dir / name
            shutil.copyfile(Path(tmp) / PROTO.parent / name, target)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / PROTO.parent,
        help="directory to write the generated files into (default: next to the .proto)",
    )
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
