"""Per-person lanes: one person's events run one at a time, in arrival order, while other
people's events run alongside. Adapters hold a lane around each event they hand the core (one
per front-end); the core holds one per person across front-ends, which a held batch's resume
pass takes too (:mod:`bot.conversation.holds`).

A lane is an :class:`asyncio.Lock` (FIFO: waiters acquire in the order they asked), created on
first use and dropped when nobody holds or waits for it, so idle people cost nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

__all__ = ["Lanes"]


@dataclass
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holders and waiters


class Lanes:
    """``async with lanes.hold(key): ...`` runs the block after every earlier block of ``key``."""

    def __init__(self) -> None:
        self._lanes: dict[Hashable, _Lane] = {}

    def pending(self, key: Hashable) -> int:
        """Events of ``key`` running or waiting now."""
        lane = self._lanes.get(key)
        return lane.users if lane else 0

    def __len__(self) -> int:
        return len(self._lanes)

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lane = self._lanes.setdefault(key, _Lane())
        lane.users += 1
        try:
            async with lane.lock:
                yield
        finally:
            lane.users -= 1
            if lane.users == 0:
                del self._lanes[key]
