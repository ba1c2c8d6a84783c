"""The store as the safety package sees it: its own records (:class:`SafetyRecords`), the
database to compact after an erasure or a purge, and jobs to add and update. Typed here so
bot.safety never imports ``bot.store``; ``bot.store.Store`` satisfies it (mypy checks where
the store is handed over)."""

from __future__ import annotations

from typing import Protocol

from bot.jobs import JobState, RenderJob
from bot.safety.policy import RateLimits
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

    async def add_job(
        self,
        job: RenderJob,
        guild_id: str | None,
        consent_mode: str = "attest",
        *,
        limits: RateLimits | None = None,
        status: str = JobState.QUEUED,
        verified: str = "",
        now: float | None = None,
    ) -> bool: ...

    async def update_job(
        self,
        job_id: str,
        status: str,
        *,
        error: str = "",
        output_bytes: int = 0,
        timings: dict[str, float] | None = None,
    ) -> None: ...
