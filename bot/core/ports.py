"""What the conversation core and the safety package both need from the queue, typed once:
the gateway, a worker's verdict on an upload, and what an erasure asks the queue to remove.
(A third module, so neither side imports the other; it imports nothing of either.)"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.jobs import JobStatus, RenderJob

__all__ = ["Gateway", "MediaCheck", "ErasePlan"]


@dataclass(frozen=True)
class MediaCheck:
    """A worker's verdict on an upload."""

    ok: bool
    reason: str = ""
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()

    def to_json(self) -> str:
        """The one wire form (a worker's answer through arq)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> MediaCheck:
        """Tolerant of fields it does not know; ValueError when ``raw`` is not a verdict."""
        try:
            d = json.loads(raw)
            return cls(
                ok=bool(d["ok"]),
                reason=str(d.get("reason", "")),
                seconds=float(d.get("seconds", 0.0)),
                warnings=tuple(str(w) for w in d.get("warnings", ())),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as e:
            raise ValueError(f"not a media check: {e}") from e


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
    async def position(self, job_id: str) -> Any: ...
    async def erase(self, plan: ErasePlan) -> None: ...
