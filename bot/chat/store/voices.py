"""Saved voices (a voice note, its transcript, the consent it carries)."""

from __future__ import annotations

import time

from bot.chat.store.tables import Table
from bot.contract.ports import VoiceProfile


class Voices(Table):
    """Saved voices (a voice note, its transcript, the consent it carries)."""

    async def save(
        self,
        platform: str,
        user_id: str,
        name: str,
        digest: str,
        seconds: float,
        transcript: str | None,
        *,
        max_voices: int = -1,
    ) -> bool:
        """Save (or replace) a named voice; False when the user already has ``max_voices``
        others (negative: no cap). Counted and written in one transaction."""
        async with self._writing() as db:
            if max_voices >= 0:
                row = await self._one(
                    "SELECT COUNT(*) FROM voice_profiles WHERE platform=? AND user_id=? "
                    "AND name<>?",
                    platform,
                    user_id,
                    name,
                )
                if row is not None and int(row[0]) >= max_voices:
                    return False
            await self._ensure_user(db, platform, user_id)
            await db.execute(
                "INSERT INTO voice_profiles (platform, user_id, name, media_digest, seconds, "
                "transcript, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (platform, user_id, name) DO UPDATE SET "
                "media_digest=excluded.media_digest, seconds=excluded.seconds, "
                "transcript=excluded.transcript",
                (platform, user_id, name, digest, seconds, transcript, time.time()),
            )
            return True

    async def delete(self, platform: str, user_id: str, name: str) -> bool:
        """Forget one saved voice (its upload ages out with the other media); False: none."""
        async with self._writing() as db:
            cur = await db.execute(
                "DELETE FROM voice_profiles WHERE platform=? AND user_id=? AND name=?",
                (platform, user_id, name),
            )
            return (cur.rowcount or 0) > 0

    async def list(self, platform: str, user_id: str) -> list[VoiceProfile]:
        cur = await self._db.execute(
            "SELECT name, media_digest, seconds, transcript FROM voice_profiles "
            "WHERE platform=? AND user_id=? ORDER BY name",
            (platform, user_id),
        )
        return [VoiceProfile(r[0], r[1], r[2], r[3]) for r in await cur.fetchall()]
