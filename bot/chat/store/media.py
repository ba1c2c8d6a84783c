"""Uploads kept on the bot's disk, and each person's last voice note and photo."""

from __future__ import annotations

import time
from pathlib import Path

from bot.chat.store.tables import Table
from bot.contract.ports import LastMedia


class MediaFiles(Table):
    """Uploads kept on the bot's disk, and each person's last voice note and photo."""

    async def put(self, digest: str, kind: str, size: int, mime: str, path: Path) -> None:
        async with self._writing() as db:
            await db.execute(
                "INSERT INTO media (digest, kind, size, mime, path, created) VALUES (?, ?, ?, "
                "?, ?, ?) "
                "ON CONFLICT (digest) DO NOTHING",
                (digest, kind, size, mime, str(path), time.time()),
            )

    async def path(self, digest: str) -> Path | None:
        """Where the bot keeps an upload (None: not stored, or expired by retention)."""
        row = await self._one("SELECT path FROM media WHERE digest=?", digest)
        return Path(row[0]) if row else None

    async def remember(
        self,
        platform: str,
        user_id: str,
        *,
        voice: tuple[str, float, str | None] | None = None,
        photo: str | None = None,
    ) -> None:
        async with self._writing() as db:
            await self._ensure_user(db, platform, user_id)
            if voice:
                await db.execute(
                    "UPDATE users SET last_voice_hash=?, last_voice_seconds=?, last_voice_text=? "
                    "WHERE platform=? AND user_id=?",
                    (*voice, platform, user_id),
                )
            if photo:
                await db.execute(
                    "UPDATE users SET last_photo_hash=? WHERE platform=? AND user_id=?",
                    (photo, platform, user_id),
                )

    async def last(self, platform: str, user_id: str) -> LastMedia | None:
        row = await self._one(
            "SELECT last_voice_hash, last_voice_seconds, last_voice_text, last_photo_hash "
            "FROM users WHERE platform=? AND user_id=?",
            platform,
            user_id,
        )
        return LastMedia(*row) if row is not None else None
