"""Loads the captured wire vectors kept in the tree (tests/vectors/).

The files are copies of ../shared/vectors, so a fresh clone runs every vector
test; test_vector_copies.py checks that the copies still match the originals
whenever those are present. A missing copy is an error, never a skip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTOR_DIR = Path(__file__).resolve().parents[1] / "vectors"

# The originals, beside the repository (only on the machines that captured or
# share them).
SHARED_VECTOR_DIR = Path(__file__).resolve().parents[3] / "shared" / "vectors"


def load_vectors(name: str) -> list[dict[str, Any]]:
    """Every vector (one JSON object per line) of tests/vectors/``name``."""
    path = VECTOR_DIR / name
    with path.open(encoding="utf-8") as stream:
        vectors = [json.loads(line) for line in stream if line.strip()]
    if not vectors:
        raise AssertionError(f"{path} holds no vectors")
    return vectors
