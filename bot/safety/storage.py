"""The store as the safety package sees it: its own records (:class:`SafetyRecords`), the
database to compact after an erasure or a purge, and its spare for deletes on a full disk.
(Jobs are the job lifecycle's to add and move: :mod:`bot.jobs`.) Typed here so bot.safety
never imports ``bot.chat.store``; ``bot.chat.store.Store`` satisfies it (mypy checks where the
store is handed over)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from bot.safety.records import SafetyRecords

__all__ = ["SafetyStore", "Compacts"]

T = TypeVar("T")


class Compacts(Protocol):
    """What erasure and retention ask of the database itself (:class:`bot.db.Database`)."""

    async def compact(self) -> None:
        """Empty the write-ahead log, so what was deleted leaves the disk."""
        ...

    async def freeing(self, write: Callable[[], Awaitable[T]]) -> T:
        """Run a write that frees space; on a full disk, once more with the spare released."""
        ...

    async def reserve_spare(self) -> bool:
        """Make the spare again where there is room."""
        ...


class SafetyStore(Protocol):
    @property
    def safety(self) -> SafetyRecords: ...

    @property
    def database(self) -> Compacts: ...
