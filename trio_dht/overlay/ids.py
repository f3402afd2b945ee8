"""Node identifiers: the clockwise distance on the ring and the registry's allocator."""

from __future__ import annotations

import random

ID_SPACE: int = 128
"""Identifiers are 7-bit: 0..127."""


def distance(a: int, b: int, space: int = ID_SPACE) -> int:
    """Clockwise distance from ``a`` to ``b`` on a ring of ``space`` identifiers."""
    return (b - a) % space


class IdSpaceFull(Exception):
    """Every identifier is taken; the registration must be refused."""


class IdAllocator:
    """Hands out unique identifiers drawn uniformly at random from the unused ones.

    The registry owns one instance; passing a seeded ``rng`` makes runs repeatable.
    """

    def __init__(self, space: int = ID_SPACE, rng: random.Random | None = None) -> None:
        if space < 1:
            raise ValueError(f"the identifier space must hold at least one id, got {space}")
        self._space = space
        # A private Random by default so allocation never disturbs the global generator.
        self._rng = rng if rng is not None else random.Random()
        self._used: set[int] = set()

    @property
    def space(self) -> int:
        return self._space

    def allocate(self) -> int:
        """Return a random identifier that is not in use and mark it used."""
        if len(self._used) >= self._space:
            raise IdSpaceFull(
                f"the identifier space is full: all {self._space} identifiers "
                f"(0..{self._space - 1}) are taken"
            )
        # The space is tiny (128), so listing the free ids each time is cheap and
        # keeps the draw uniform and deterministic for a seeded rng.
        free = [i for i in range(self._space) if i not in self._used]
        node_id = self._rng.choice(free)
        self._used.add(node_id)
        return node_id

    def release(self, node_id: int) -> None:
        """Make ``node_id`` available again; it must currently be allocated."""
        if node_id not in self._used:
            raise ValueError(f"identifier {node_id} is not allocated, so it cannot be released")
        self._used.remove(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._used

    def __len__(self) -> int:
        return len(self._used)

    def ids(self) -> list[int]:
        """The allocated identifiers in ring order (ascending)."""
        return sorted(self._used)
