"""Data retention: uploads expire after ``MOUTHPIECE_MEDIA_RETENTION_HOURS``, rendered videos
after ``MOUTHPIECE_OUTPUT_RETENTION_DAYS``, reviews nobody decided after
``MOUTHPIECE_REVIEW_HOURS`` (the requester is told and their slot frees up); saved voices
stay until their owner deletes them.

:func:`purge` is one pass with an explicit clock (tests pass fake ``now`` values);
:func:`run_periodically` runs it in the bot process. Videos are files under ``data/out``
written by the workers: where bot and workers share the data volume the bot's pass covers
them (and the temporary files a killed render left there); a worker on another host runs
:func:`purge_dir` on its own folders.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.contract import texts
from bot.safety.storage import SafetyStore

__all__ = [
    "Retention",
    "PurgeReport",
    "Notify",
    "purge",
    "purge_dir",
    "unlink_all",
    "run_periodically",
]

#: tells a chat something outside any conversation: (platform, chat id, text, job id)
Notify = Callable[[str, str, str, str], Awaitable[None]]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    media_hours: float = 24.0
    output_days: float = 7.0
    review_hours: float = 48.0  # a review nobody decided expires (the slot frees up)
    leftover_seconds: float = 6 * 3600.0  # a render's temporary file older than its timeout

    @property
    def media_seconds(self) -> float:
        return self.media_hours * 3600.0

    @property
    def output_seconds(self) -> float:
        return self.output_days * 86_400.0

    @property
    def review_seconds(self) -> float:
        return self.review_hours * 3600.0


@dataclass(frozen=True)
class PurgeReport:
    media: int  # upload files deleted
    drafts: int  # idle drafts dropped
    scripts: int  # finished jobs whose script text was erased
    outputs: int  # rendered videos deleted
    reviews: int = 0  # reviews expired undecided
    leftovers: int = 0  # temporary files of killed renders deleted


def purge_dir(folder: Path, max_age: float, now: float, pattern: str = "*") -> int:
    """Delete files in ``folder`` (recursively) last modified more than ``max_age`` s ago."""
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.rglob(pattern):
        try:
            if path.is_file() and now - path.stat().st_mtime > max_age:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # a concurrent purge or /forget got there first
            continue
    return removed


def unlink_all(paths: list[Path]) -> int:
    """Delete ``paths``; how many existed."""
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:  # a concurrent purge or /forget got there first
            continue
    return removed


async def purge(
    store: SafetyStore,
    out_dir: Path | None,
    rules: Retention,
    now: float,
    notify: Notify | None = None,
) -> PurgeReport:
    """One retention pass over the database, the media files it names, and the videos.
    The file work (thousands of unlinks, a directory walk) runs in a thread: the bot's event
    loop keeps answering while it runs. Requesters of expired reviews are told (``notify``)."""
    rows = await store.safety.erasure.purge_rows(
        media_before=now - rules.media_seconds,
        scripts_before=now - rules.output_seconds,
        reviews_before=now - rules.review_seconds,
    )
    media = await asyncio.to_thread(unlink_all, list(rows.media_paths))
    outputs = leftovers = 0
    if out_dir is not None:
        outputs = await asyncio.to_thread(purge_dir, out_dir, rules.output_seconds, now, "*.mp4")
        leftovers = await asyncio.to_thread(purge_dir, out_dir, rules.leftover_seconds, now, ".*")
    for review in rows.expired:
        if notify is not None:
            text = texts.REVIEW_EXPIRED.format(job=review.job_id[:8], hours=rules.review_hours)
            await notify(review.platform, review.chat_id, text, review.job_id)
    if rows.media_paths or rows.scripts or rows.expired:
        await store.database.compact()  # what expired leaves the write-ahead log too
    report = PurgeReport(media, rows.drafts, rows.scripts, outputs, len(rows.expired), leftovers)
    log.info("retention purge", extra={"purged": report.__dict__})
    return report


async def run_periodically(
    store: SafetyStore,
    out_dir: Path | None,
    rules: Retention,
    interval: float,
    clock: Callable[[], float] = time.time,
    notify: Notify | None = None,
) -> None:
    """Purge now and then every ``interval`` seconds until cancelled; errors are logged."""
    while True:
        try:
            await purge(store, out_dir, rules, clock(), notify)
        except Exception:
            log.exception("retention purge failed")
        await asyncio.sleep(interval)
