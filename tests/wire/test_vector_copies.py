"""The vectors kept in tests/vectors/ are exact copies of ../shared/vectors."""

from __future__ import annotations

import pytest
from wire_vectors import SHARED_VECTOR_DIR, VECTOR_DIR, load_vectors

COPIED = ("cs455.jsonl", "cs455-variants.jsonl", "minichord.jsonl")


def test_the_copies_are_in_the_tree() -> None:
    for name in COPIED:
        assert load_vectors(name), name
    assert (VECTOR_DIR / "README.md").is_file()
    assert (VECTOR_DIR / "minichord-per-message-transcript.md").is_file()


def test_copies_are_byte_identical_to_the_shared_originals() -> None:
    if not SHARED_VECTOR_DIR.is_dir():
        pytest.skip(
            f"{SHARED_VECTOR_DIR} (../shared/vectors beside the repository) is not on this "
            "machine; nothing to compare the copies in tests/vectors/ with"
        )
    originals = sorted(p.name for p in SHARED_VECTOR_DIR.iterdir() if p.suffix in (".jsonl", ".md"))
    assert originals, f"{SHARED_VECTOR_DIR} holds no vector files"
    for name in originals:
        copy = VECTOR_DIR / name
        assert copy.is_file(), f"{name} is in {SHARED_VECTOR_DIR} but not copied to {VECTOR_DIR}"
        assert copy.read_bytes() == (SHARED_VECTOR_DIR / name).read_bytes(), (
            f"tests/vectors/{name} differs from {SHARED_VECTOR_DIR / name}: copy it again"
        )
