"""Uploads on the bot's side: stored once on its disk (content-addressed, atomically, under
``media/<digest[:2]>/<digest><ext>``) and in SQLite, and handed to the workers through the
gateway.

Three hand-offs. On one box (``MOUTHPIECE_SHARED_MEDIA``), bot and workers share the data
folder and a worker reads the bot's file in place (:func:`stored_media`): one copy, kept as
long as retention keeps it. Fetch (``MOUTHPIECE_MEDIA_URL``): a worker on another machine
GETs the bot's file from its media server (:mod:`bot.chat.media_server`) with a signed link
for one upload and one job (:mod:`bot.jobs.media_links`) that the gateway puts in Redis, and
signs again each time a job is supplied; the worker keeps no copy past the render. Otherwise
the gateway copies the bytes into Redis for the workers (kept
``MOUTHPIECE_MEDIA_TTL_SECONDS``), and copies them there again when a job needs a file whose
Redis copy expired (a saved voice used after a day, a review approved after a day).
Either way the bot's own copy lives as long as retention keeps it (saved voices and open jobs
keep theirs), so the bot's file, not a Redis copy, is what a later job relies on.

A full disk: an upload is refused (:class:`~bot.contract.errors.DiskFull`) while the disk
holding the upload folder has less than ``min_free_bytes`` free after it, and when the file or
its row cannot be written (ENOSPC, the database's "disk is full"); nothing of it is kept then:
no half-written file (:func:`write_atomically`), no file without a row.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

from bot.contract.errors import DiskFull, is_disk_full
from bot.contract.events import Media
from bot.contract.jobs import RenderJob
from bot.contract.ports import Gateway, MediaStore

__all__ = ["DIGEST", "Uploads", "MEDIA_NAMES", "free_bytes", "stored_media", "write_atomically"]

_PLAIN = re.compile(r"[^a-z0-9]")
DIGEST = re.compile(r"[0-9a-f]{64}")  # a SHA-256 in hex: the only name a stored upload has
#: what each of a job's uploads is called in a reply
MEDIA_NAMES = {"voice": "voice note", "photo": "photo"}


class Uploads:
    """``keep`` a new upload; ``supply`` a job's uploads to the workers."""

    def __init__(
        self, files: MediaStore, gateway: Gateway, media_dir: Path, min_free_bytes: int = 0
    ) -> None:
        self.files = files
        self.gateway = gateway
        self.media_dir = media_dir
        self.min_free_bytes = min_free_bytes

    async def has_room(self, size: int) -> bool:
        """Whether ``size`` more bytes leave the upload folder's disk above the floor."""
        if self.min_free_bytes <= 0:
            return True
        return await asyncio.to_thread(self._room, size)

    async def keep(self, event: Media, data: bytes) -> str:
        """Store the upload (disk and database, Redis for the workers); its content hash.
        Raises :class:`DiskFull` with nothing kept when the disk has no room for it."""
        try:
            digest, path, new = await asyncio.to_thread(self._save, data, event)  # hash, I/O
        except OSError as e:
            if is_disk_full(e):
                raise DiskFull(str(e)) from e
            raise
        try:
            await self.files.put(digest, event.kind, len(data), event.mime, path)
        except OSError as e:
            if not is_disk_full(e):
                raise
            # no row: the file this call wrote goes too (unless another upload of the same
            # bytes recorded it meanwhile)
            if new and await self.files.path(digest) is None:
                await asyncio.to_thread(path.unlink, missing_ok=True)
            raise DiskFull(str(e)) from e
        await self.gateway.put_media(digest, data)
        return digest

    async def supply(self, job: RenderJob) -> str | None:
        """Make sure the workers can fetch the job's voice note and photo (a fresh Redis copy
        from the bot's own file when the first one expired; fetching, a fresh link for this
        job). None when both are there, else the name of the missing one (the bot no longer
        has it either). Runs before each submit and when a lost job is queued again."""
        for name, digest in (("voice", job.voice_hash), ("photo", job.photo_hash)):
            path = await self.files.path(digest)
            if not await self.gateway.supply_media(digest, path, job.job_id):
                return MEDIA_NAMES[name]
        return None

    def _room(self, size: int) -> bool:
        return free_bytes(self.media_dir) - size >= self.min_free_bytes

    def _save(self, data: bytes, event: Media) -> tuple[str, Path, bool]:
        """Content-addressed copy under data/media, written atomically (runs in a thread);
        whether this call wrote it. The same bytes sent before keep their file (its time
        renewed: the orphan sweep leaves young files alone while their row is written)."""
        digest = hashlib.sha256(data).hexdigest()
        existing = stored_media(self.media_dir, digest)
        if existing is not None:
            with contextlib.suppress(OSError):
                os.utime(existing)
            return digest, existing, False
        # the name is the sender's: keep only a plain extension ("x.\x00/.." must not reach a path)
        ext = _PLAIN.sub("", Path(event.filename).suffix.lower())[:7]
        ext = f".{ext}" if ext else {"audio": ".ogg", "image": ".jpg"}.get(event.kind, "")
        path = _folder(self.media_dir, digest) / f"{digest}{ext}"
        if self.min_free_bytes > 0 and not self._room(len(data)):
            raise DiskFull("free space below MOUTHPIECE_MIN_FREE_BYTES")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)
        return digest, path, True


def stored_media(media_dir: Path, digest: str) -> Path | None:
    """The bot's file of the upload ``digest`` under ``media_dir`` (what a worker sharing the
    data folder reads in place); None when there is none (erased, expired by retention) or
    ``digest`` is not a SHA-256 in hex (nothing else may become a path)."""
    if not DIGEST.fullmatch(digest):
        return None
    for path in sorted(_folder(media_dir, digest).glob(f"{digest}*")):
        named = path.name == digest or path.name.startswith(f"{digest}.")
        if named and path.is_file() and not path.is_symlink():
            return path
    return None


def free_bytes(folder: Path) -> int:
    """Bytes an unprivileged writer may still put on the file system holding ``folder`` (or
    its nearest existing parent). Blocking: call it in a thread."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


def _folder(media_dir: Path, digest: str) -> Path:
    return media_dir / digest[:2]


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a temporary file beside it, then a
    rename (two writers of one content-addressed file each write their own, and one wins)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
