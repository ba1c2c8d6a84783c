"""Uploads on the bot's side: stored once on its disk (content-addressed, atomically, under
``media/<digest[:2]>/<digest><ext>``) and in SQLite, and handed to the workers through the
gateway.

Two hand-offs (``MOUTHPIECE_SHARED_MEDIA``): on one box, bot and workers share the data
folder and a worker reads the bot's file in place (:func:`stored_media`): one copy, kept as
long as retention keeps it. Otherwise the gateway copies the bytes into Redis for the workers
(kept ``MOUTHPIECE_MEDIA_TTL_SECONDS``), and copies them there again when a job needs a file
whose Redis copy expired (a saved voice used after a day, a review approved after a day).
Either way the bot's own copy lives as long as retention keeps it (saved voices and open jobs
keep theirs), so the bot's file, not a Redis copy, is what a later job relies on.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path

from bot.contract.events import Media
from bot.contract.jobs import RenderJob
from bot.contract.ports import Gateway, MediaStore

__all__ = ["Uploads", "MEDIA_NAMES", "stored_media", "write_atomically"]

_PLAIN = re.compile(r"[^a-z0-9]")
_DIGEST = re.compile(r"[0-9a-f]{64}")  # a SHA-256 in hex: the only name a stored upload has
#: what each of a job's uploads is called in a reply
MEDIA_NAMES = {"voice": "voice note", "photo": "photo"}


class Uploads:
    """``keep`` a new upload; ``supply`` a job's uploads to the workers."""

    def __init__(self, files: MediaStore, gateway: Gateway, media_dir: Path) -> None:
        self.files = files
        self.gateway = gateway
        self.media_dir = media_dir

    async def keep(self, event: Media, data: bytes) -> str:
        """Store the upload (disk and database, Redis for the workers); its content hash."""
        digest, path = await asyncio.to_thread(self._save, data, event)  # hashing, file I/O
        await self.files.put(digest, event.kind, len(data), event.mime, path)
        await self.gateway.put_media(digest, data)
        return digest

    async def supply(self, job: RenderJob) -> str | None:
        """Make sure the workers can fetch the job's voice note and photo (a fresh Redis copy
        from the bot's own file when the first one expired). None when both are there, else
        the name of the missing one (the bot no longer has it either)."""
        for name, digest in (("voice", job.voice_hash), ("photo", job.photo_hash)):
            if not await self.gateway.supply_media(digest, await self.files.path(digest)):
                return MEDIA_NAMES[name]
        return None

    def _save(self, data: bytes, event: Media) -> tuple[str, Path]:
        """Content-addressed copy under data/media, written atomically (runs in a thread)."""
        digest = hashlib.sha256(data).hexdigest()
        # the name is the sender's: keep only a plain extension ("x.\x00/.." must not reach a path)
        ext = _PLAIN.sub("", Path(event.filename).suffix.lower())[:7]
        ext = f".{ext}" if ext else {"audio": ".ogg", "image": ".jpg"}.get(event.kind, "")
        path = _folder(self.media_dir, digest) / f"{digest}{ext}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data)
        return digest, path


def stored_media(media_dir: Path, digest: str) -> Path | None:
    """The bot's file of the upload ``digest`` under ``media_dir`` (what a worker sharing the
    data folder reads in place); None when there is none (erased, expired by retention) or
    ``digest`` is not a SHA-256 in hex (nothing else may become a path)."""
    if not _DIGEST.fullmatch(digest):
        return None
    for path in sorted(_folder(media_dir, digest).glob(f"{digest}*")):
        named = path.name == digest or path.name.startswith(f"{digest}.")
        if named and path.is_file() and not path.is_symlink():
            return path
    return None


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
