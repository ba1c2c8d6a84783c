"""Data retention: uploads expire after ``MOUTHPIECE_MEDIA_RETENTION_HOURS``, rendered videos
after ``MOUTHPIECE_OUTPUT_RETENTION_DAYS``, reviews nobody decided after
``MOUTHPIECE_REVIEW_HOURS`` (the requester is told and their slot frees up); saved voices
stay until their owner deletes them.

:func:`purge` is one pass with an explicit clock (tests pass fake ``now`` values); the
chat processes run it periodically, one at a time (:func:`bot.jobs.locks.leased_every`).
Videos are files under ``data/out``
written by the workers: where bot and workers share the data volume the bot's pass covers
them (and the temporary files a killed render left there); a worker on another host runs
:func:`purge_dir` on its own folders.

Files go first, rows after (in one transaction, before its commit): on a full disk the
deleted files make the room the delete needs, and the database's spare is released when they
are not enough (:meth:`bot.db.Database.freeing`). The pass also sweeps the upload folder
(:func:`sweep_orphans`): ``.part`` files a crash left in the middle of a write and upload
files no ``media`` row names (a row that could not be written), once they are older than
``Retention.orphan_seconds`` (a file being written now, or waiting for its row, is young).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.contract import texts
from bot.contract.errors import is_disk_full
from bot.safety.records import PurgeRows
from bot.safety.storage import SafetyStore

__all__ = [
    "Retention",
    "PurgeReport",
    "Orphans",
    "Notify",
    "purge",
    "purge_dir",
    "settle",
    "sweep_orphans",
    "unlink_all",
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
    orphan_seconds: float = 600.0  # an unfinished upload write, or a file without a row
    audit_days: float = 365.0  # the audit log's entries are kept this long
    avatar_days: float = 90.0  # an avatar nobody rendered with for this long is deleted

    @property
    def avatar_seconds(self) -> float:
        return self.avatar_days * 86_400.0

    @property
    def audit_seconds(self) -> float:
        return self.audit_days * 86_400.0

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
    orphans: int = 0  # upload files without a row, and unfinished writes, deleted


@dataclass(frozen=True)
class Orphans:
    """What :func:`sweep_orphans` deleted: unfinished writes (``.part.*``), upload files no
    row names, and their bytes."""

    parts: int = 0
    files: int = 0
    bytes: int = 0
    names: tuple[str, ...] = ()  # paths under the upload folder (content hashes, not content)

    @property
    def count(self) -> int:
        return self.parts + self.files


#: an upload's file name: its SHA-256, and a plain extension (bot.jobs.media names them)
_UPLOAD = re.compile(r"[0-9a-f]{64}(?:\.[a-z0-9]{1,7})?")
_PART = ".part."  # tempfile prefix of write_atomically
_LOGGED_NAMES = 50


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
    *,
    media_dir: Path | None = None,
) -> PurgeReport:
    """One retention pass over the videos, the upload folder's orphans (``media_dir``), the
    database and the media files it names: files first, so that a full disk has room for the
    rows' delete. The file work (thousands of unlinks, a directory walk) runs in a thread:
    the bot's event loop keeps answering while it runs. Requesters of expired reviews are
    told (``notify``)."""
    outputs = leftovers = 0
    if out_dir is not None:
        outputs = await asyncio.to_thread(purge_dir, out_dir, rules.output_seconds, now, "*.mp4")
        leftovers = await asyncio.to_thread(purge_dir, out_dir, rules.leftover_seconds, now, ".*")
    orphans = Orphans()
    if media_dir is not None:
        orphans = await sweep_orphans(store, media_dir, rules.orphan_seconds, now)
    media = 0

    async def files_first(paths: tuple[Path, ...], job_ids: tuple[str, ...]) -> None:
        nonlocal media
        media += await asyncio.to_thread(unlink_all, list(paths))

    async def expire() -> PurgeRows:
        return await store.safety.erasure.purge_rows(
            media_before=now - rules.media_seconds,
            scripts_before=now - rules.output_seconds,
            reviews_before=now - rules.review_seconds,
            audit_before=now - rules.audit_seconds,
            avatars_before=now - rules.avatar_seconds,
            files_first=files_first,
        )

    rows = await store.database.freeing(expire)
    for review in rows.expired:
        if notify is not None:
            text = texts.REVIEW_EXPIRED.format(job=review.job_id[:8], hours=rules.review_hours)
            await notify(review.platform, review.chat_id, text, review.job_id)
    # what expired leaves the write-ahead log too; the spare a full disk took comes back
    await settle(store, compact=bool(rows.media_paths or rows.scripts or rows.expired))
    report = PurgeReport(
        media,
        rows.drafts,
        rows.scripts,
        outputs,
        len(rows.expired),
        leftovers,
        orphans.count,
    )
    log.info("retention purge", extra={"purged": report.__dict__})
    return report


async def settle(store: SafetyStore, *, compact: bool = True) -> None:
    """After deletes: empty the write-ahead log (a full disk only postpones it to the next
    pass: the rows are deleted already) and make the database's spare again where there is
    room."""
    if compact:
        try:
            await store.database.compact()
        except OSError as e:
            if not is_disk_full(e):
                raise
            log.warning("disk full: the write-ahead log is emptied at the next pass")
    await store.database.reserve_spare()


async def sweep_orphans(store: SafetyStore, media_dir: Path, min_age: float, now: float) -> Orphans:
    """Delete, under ``media_dir``, unfinished writes (``.part.*``) and upload files no
    ``media`` row names, both last modified more than ``min_age`` s before ``now``; one log
    line says what went. Files named otherwise are not the bot's and stay. The final check
    (age, row) and the unlink run with the database's writer held, so an upload recording
    its row now cannot lose its file."""
    candidates = await asyncio.to_thread(_orphan_candidates, media_dir, min_age, now)
    if not candidates:
        return Orphans()
    async with store.safety.erasure.media_held() as named:
        orphans = await asyncio.to_thread(_remove_orphans, candidates, named, min_age, now)
    if orphans.count:
        log.info(
            "orphan files removed",
            extra={
                "folder": str(media_dir),
                "parts": orphans.parts,
                "files": orphans.files,
                "bytes": orphans.bytes,
                "names": [os.path.relpath(n, media_dir) for n in orphans.names[:_LOGGED_NAMES]],
            },
        )
    return orphans


def _old_file(path: str, min_age: float, now: float) -> os.stat_result | None:
    """``path``'s stat when it is a plain file (not a link) older than ``min_age``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    regular = st.st_mode & 0o170000 == 0o100000
    return st if regular and now - st.st_mtime > min_age else None


def _orphan_candidates(media_dir: Path, min_age: float, now: float) -> list[str]:
    """Old unfinished writes and old upload files under ``media_dir`` (absolute paths): the
    ones a row names are told apart later, with the writer held."""
    found = []
    for folder, _, names in os.walk(media_dir):  # links to folders are not followed
        for name in names:
            if name.startswith(_PART) or _UPLOAD.fullmatch(name):
                path = os.path.abspath(os.path.join(folder, name))
                if _old_file(path, min_age, now) is not None:
                    found.append(path)
    return found


def _remove_orphans(candidates: list[str], named: set[str], min_age: float, now: float) -> Orphans:
    parts = files = size = 0
    gone = []
    for path in candidates:
        part = os.path.basename(path).startswith(_PART)
        if not part and path in named:
            continue
        st = _old_file(path, min_age, now)  # again: written to (or touched) since the walk?
        if st is None:
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        parts, files = (parts + 1, files) if part else (parts, files + 1)
        size += st.st_size
        gone.append(path)
    return Orphans(parts, files, size, tuple(gone))
