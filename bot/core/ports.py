"""What the conversation core and the safety package both need from the queue and the
store, typed once: the gateway, a worker's verdict on an upload, what an erasure asks the
queue to remove, the rows the store hands back, and the store's media half. (A third module,
so neither side imports the other; it imports nothing of either.) The whole store, as the
core sees it, is :class:`bot.core.storage.Store`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from bot.jobs import JobStatus, RenderJob

__all__ = [
    "Gateway",
    "MediaCheck",
    "ErasePlan",
    "Position",
    "MediaStore",
    "LastMedia",
    "VoiceProfile",
    "JobRow",
]


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


# ---- the store's rows, as the core reads them (never a database row) ---------------------
@dataclass(frozen=True)
class LastMedia:
    """The person's last voice note and photo, for "use my last photo" and /voice save."""

    voice_hash: str | None = None
    voice_seconds: float | None = None
    voice_text: str | None = None
    photo_hash: str | None = None


@dataclass(frozen=True)
class VoiceProfile:
    """A saved voice."""

    name: str
    digest: str
    seconds: float
    transcript: str | None


@dataclass(frozen=True)
class JobRow:
    """A job as the bot recorded it."""

    job_id: str
    status: str
    error: str
    created: float
    output_bytes: int


class MediaStore(Protocol):
    """Where the bot keeps uploads (bot.store.Store): the part bot.core.uploads needs."""

    async def put_media(self, digest: str, kind: str, size: int, mime: str, path: Path) -> None: ...

    async def media_path(self, digest: str) -> Path | None: ...
