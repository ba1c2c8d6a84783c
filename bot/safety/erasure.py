"""Data that really goes away: ``/forget``, ``/mod purge`` and ``/mod takedown`` reach every
copy, not only the database rows; a takedown also the video and status message the bot
posted in the chat (deleted there by a worker, :meth:`Eraser.take_down`).

On the bot's side (:class:`Eraser`): the upload files, rendered videos and the temporary
files a killed render left beside them (``data/out/.<job>.*``), deleted first; SQLite (rows
deleted or scrubbed by :meth:`~bot.safety.records.Erasures.erase`, zeroed by secure delete,
the write-ahead log truncated), and through the gateway everything in Redis: upload copies,
job records, arq's job and result records holding scripts or upload hashes. On a full disk
the files make room for the rows' delete, and the database's spare is released when they are
not enough (:meth:`bot.db.Database.freeing`): a person's ``/forget`` still erases them.

On each worker's side (:func:`sweep_forgotten`): its cache of uploads, the rendered videos
and leftovers in its own ``data/out``, and the speech backend's codes made from a forgotten
voice (the engine's reference cache). The bot reaches workers on other hosts through
*tombstones* in Redis: SHA-256 tokens of the forgotten upload hashes and job ids
(:func:`~bot.contract.jobs.forget_token`), never the ids themselves. Each worker compares them with
the names of what it holds, every few seconds and once at start-up (its caches live in one
known folder, so a restarted worker still finds what an earlier run kept).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.contract.jobs import LIVE_STATES, Keys, forget_token
from bot.contract.ports import ErasePlan, Gateway, JobControl, Unposted
from bot.safety.records import ForgetResult, JobPlace
from bot.safety.retention import settle, unlink_all
from bot.safety.storage import SafetyStore

__all__ = [
    "Eraser",
    "Removed",
    "VoiceCache",
    "PhotoMemory",
    "SweepState",
    "sweep_forgotten",
    "remove_job_files",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Removed:
    """What an erasure removed, for the answer: drafts, saved voices, upload files, videos,
    and the jobs whose words were erased."""

    drafts: int
    voices: int
    media: int
    outputs: int
    jobs: int


class VoiceCache(Protocol):
    """What a worker's engine offers about what it derived from reference voices
    (``engine.Engine.voice_cache``): codes on disk by the SHA-256 of the voice file they
    were made from, and analyses in memory that no file names."""

    def sources(self) -> set[str]: ...

    def forget(self, source: str) -> int: ...

    def clear_memory(self) -> None: ...


class PhotoMemory(Protocol):
    """What a worker's engine keeps in memory per photo (``engine.Engine``: an avatar's decoded
    face, the lip-sync backend's crop and reference latents), by the photo file's SHA-256."""

    def photo_sources(self) -> set[str]: ...

    def forget_photos(self, digests: Iterable[str]) -> int: ...


def remove_job_files(out_dir: Path, job_ids: tuple[str, ...]) -> tuple[int, int]:
    """Delete the jobs' videos and the temporary files a killed render left beside them
    (the encoder writes ``.<job>.<random>.wav|.mp4`` next to the video). Returns (videos,
    leftovers) removed."""
    if not out_dir.is_dir():
        return 0, 0
    videos = unlink_all([out_dir / f"{job_id}.mp4" for job_id in job_ids])
    leftovers = unlink_all([p for job_id in job_ids for p in out_dir.glob(f".{job_id}.*")])
    return videos, leftovers


class Eraser:
    """Runs an erasure everywhere the bot can reach; workers follow through tombstones."""

    def __init__(
        self, store: SafetyStore, gateway: Gateway, jobs: JobControl, out_dir: Path | None
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.jobs = jobs
        self.out_dir = out_dir

    async def erase(
        self,
        platform: str,
        user_id: str,
        scope: str | None = None,
        *,
        actor: str | None = None,
        action: str = "forget",
    ) -> Removed:
        """A person's data in one scope (a server moderator's purge), or everywhere (None:
        their /forget, an operator's purge)."""
        removed = [0, 0]  # upload files, videos: over both tries of a full disk

        async def files_first(paths: tuple[Path, ...], job_ids: tuple[str, ...]) -> None:
            removed[0] += await asyncio.to_thread(unlink_all, list(paths))
            if self.out_dir is not None:
                videos, _ = await asyncio.to_thread(remove_job_files, self.out_dir, job_ids)
                removed[1] += videos

        # 1. Files on the bot's disk (and on a data volume shared with workers), then the
        # SQLite rows in the same transaction: rows go, job rows keep ids, times and the
        # consent fingerprints only. On a full disk the files make room for the delete.
        async def rows() -> ForgetResult:
            return await self.store.safety.erasure.erase(
                platform, user_id, scope, actor=actor, action=action, files_first=files_first
            )

        result = await self.store.database.freeing(rows)
        # 2. Open jobs leave the queue; a running one stops at its next frame.
        for job_id in result.open_job_ids:
            await self.jobs.cancel(job_id)
        media, outputs = removed
        # 3. Redis: copies, records, arq's job/result records; tombstones for the workers.
        await self.gateway.erase(
            ErasePlan(
                platform,
                result.media_digests,
                result.job_ids,
                user_id if scope is None else None,
            )
        )
        # 4. The database file itself: erased rows leave the write-ahead log; the spare a
        # full disk took is made again where there is room.
        await settle(self.store)
        log.info("erased", extra={"platform": platform, "scope": scope, "jobs": result.jobs})
        return Removed(result.drafts, result.voices, media, outputs, result.jobs)

    async def take_down(self, place: JobPlace, by: str, reason: str) -> tuple[Unposted, ...]:
        """One video: its file (here and, by tombstone, on every worker) goes, and the
        messages the bot posted for it in the chat (the video, its status message) are
        deleted there by a worker; the job record and its audit entry stay and say so, with
        what could not be removed from the chat and why. Returns what became of each
        message. Taking a video down again retries the messages still in the chat."""
        if place.status in LIVE_STATES:
            await self.jobs.cancel(place.job_id)
        # what was posted: the history's (kept when the job closed, not removed yet) and the
        # live record's (read before it is erased: a status message posted since)
        posted = await self.store.safety.places.posted(place.job_id)
        posted += [m for m in await self.gateway.posted(place.job_id) if m not in posted]
        if self.out_dir is not None:
            await asyncio.to_thread(remove_job_files, self.out_dir, (place.job_id,))
        await self.gateway.erase(ErasePlan(place.platform, (), (place.job_id,)))
        unposted = await self.gateway.unpost(place.platform, place.chat_id, tuple(posted))
        if unposted and not all(o.removed for o in unposted):
            log.warning(
                "taken down, but messages are still in the chat",
                extra={"job_id": place.job_id, "kept": sum(not o.removed for o in unposted)},
            )

        async def record() -> None:
            await self.store.safety.places.take_down(place.job_id, by, reason, unposted)

        await self.store.database.freeing(record)  # the video went first: room for its row
        return unposted


# ---- the worker's side ---------------------------------------------------------------
@dataclass
class SweepState:
    """The tombstone sequence a worker has swept up to (-1: never, so it sweeps at start)."""

    seq: int = -1


async def sweep_forgotten(
    redis: Any,
    state: SweepState,
    *,
    cache_dir: Path,
    out_dir: Path,
    voices: VoiceCache | None = None,
    photos: PhotoMemory | None = None,
    force: bool = False,
) -> int:
    """Delete what this worker holds of forgotten uploads and jobs; how many files went.

    Cheap when nothing was forgotten since the last sweep (one Redis read); ``force``
    sweeps anyway (a video finished after its job was forgotten)."""
    seq = int(await redis.get(Keys.FORGOTTEN_SEQ) or 0)
    if seq == state.seq and not force:
        return 0
    raw = await redis.zrange(Keys.FORGOTTEN, 0, -1)
    state.seq = seq
    tokens = {t.decode() if isinstance(t, bytes) else str(t) for t in raw}
    if not tokens:
        return 0
    removed = await asyncio.to_thread(_remove_matching, tokens, cache_dir, out_dir, voices, photos)
    if removed:
        log.info("forgotten copies removed", extra={"files": removed})
    return removed


def _remove_matching(
    tokens: set[str],
    cache_dir: Path,
    out_dir: Path,
    voices: VoiceCache | None,
    photos: PhotoMemory | None = None,
) -> int:
    """Files named after a tombstoned hash or job id: ``<digest>.audio`` in the upload
    cache, ``<job>.mp4`` and ``.<job>.*`` in the output folder; the engine's cached codes of
    a tombstoned voice file, and what it keeps in memory of a tombstoned photo (not counted:
    no file)."""
    doomed = []
    for folder in (cache_dir, out_dir):
        if folder.is_dir():
            for path in folder.iterdir():
                key = path.name.lstrip(".").split(".")[0]
                if key and forget_token(key) in tokens:
                    doomed.append(path)
    removed = unlink_all(doomed)
    if voices is not None:
        for source in voices.sources():
            if forget_token(source) in tokens:
                removed += voices.forget(source)
        voices.clear_memory()  # something was erased: in-memory analyses go too
    if photos is not None:
        erased = [d for d in photos.photo_sources() if forget_token(d) in tokens]
        if erased:
            photos.forget_photos(erased)
    return removed
