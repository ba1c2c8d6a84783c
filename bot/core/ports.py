"""What the conversation core and the safety package both need from the queue, typed once:
the gateway, a worker's verdict on an upload, and what an erasure asks the queue to remove.
(A third module, so neither side imports the other; it imports nothing of either.)"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.jobs import JobStatus, RenderJob

__all__ = ["Gateway", "MediaCheck", "ErasePlan", "Position"]


@dataclass(frozen=True)
class MediaCheck:
    """A worker's verdict on an upload."""

    ok: bool
    reason: str = ""
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Position:
    """Where a queued job stands: ``ahead`` jobs wait before it, ``running`` are rendering."""

    ahead: int
    running: int


@dataclass(frozen=True)
class ErasePlan:
    """What an erasure asks the queue to remove: the Redis copies of these uploads, these
    jobs' records (status, arq job and result records holding their scripts), anything else
    naming them, and for a whole person (``user``) their queue bookkeeping. Workers learn
    of it through tombstones (hashes, never the ids themselves) and clear their caches."""

    platform: str
    digests: tuple[str, ...] = ()
    job_ids: tuple[str, ...] = ()
    user: str | None = None  # set when the person's data goes everywhere


class Gateway(Protocol):
    async def put_media(self, digest: str, data: bytes) -> None: ...
    async def supply_media(self, digest: str, path: Path | None) -> bool: ...
    async def check_media(self, kind: str, digest: str) -> MediaCheck | None: ...
    async def transcribe(self, digest: str) -> str | None: ...
    async def enqueue(self, job: RenderJob) -> bool: ...
    async def status(self, job_id: str) -> JobStatus | None: ...
    async def cancel(self, job_id: str) -> str: ...
    async def position(self, job_id: str) -> Position | None: ...
    async def erase(self, plan: ErasePlan) -> None: ...
