"""The store as the safety package sees it: its own records (:class:`SafetyRecords`), the
database to compact after an erasure or a purge. (Jobs are the job lifecycle's to add and
move: :mod:`bot.jobs`.) Typed here so bot.safety never imports ``bot.chat.store``;
``bot.chat.store.Store`` satisfies it (mypy checks where the store is handed over)."""

from __future__ import annotations

from typing import Protocol

from bot.safety.records import SafetyRecords

__all__ = ["SafetyStore", "Compacts"]


class Compacts(Protocol):
    async def compact(self) -> None:
        """Empty the write-ahead log, so what was deleted leaves the disk."""
        ...


class SafetyStore(Protocol):
    @property
    def safety(self) -> SafetyRecords: ...

    @property
    def database(self) -> Compacts: ...
