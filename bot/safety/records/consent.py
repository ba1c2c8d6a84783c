"""Verified consent carried by a voice, and the phrases to say in phrase mode."""

from __future__ import annotations

import time

from bot.safety.records.rows import (
    Table,
)


class Consents(Table):
    """Verified consent carried by a voice, and the phrases to say in phrase mode."""

    async def voice_consent(self, platform: str, user_id: str, digest: str) -> str | None:
        """How this user's voice was last verified ("asr", "moderator:ID"), or None."""
        row = await self._one(
            "SELECT verified FROM consents WHERE platform=? AND user_id=? AND voice_digest=? "
            "AND verified != '' ORDER BY at DESC LIMIT 1",
            platform,
            user_id,
            digest,
        )
        return str(row[0]) if row else None

    async def link_voice_consent(self, platform: str, user_id: str, name: str) -> None:
        """A newly saved voice takes the latest verified consent for its recording."""
        async with self._writing() as db:
            await db.execute(
                "UPDATE voice_profiles SET consent_id=c.id, consent_at=c.at FROM "
                "(SELECT id, at FROM consents WHERE platform=? AND user_id=? AND verified != '' "
                " AND voice_digest=(SELECT media_digest FROM voice_profiles WHERE platform=? "
                " AND user_id=? AND name=?) ORDER BY at DESC LIMIT 1) AS c "
                "WHERE platform=? AND user_id=? AND name=?",
                (platform, user_id, platform, user_id, name, platform, user_id, name),
            )

    # ---- consent phrases -------------------------------------------------------------
    async def put_phrase(
        self, platform: str, user_id: str, chat_id: str, draft_id: str, phrase: str
    ) -> None:
        async with self._writing() as db:
            await db.execute(
                "INSERT INTO consent_phrases (platform, user_id, chat_id, draft_id, phrase, "
                "created) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform, user_id, chat_id) "
                "DO UPDATE SET draft_id=excluded.draft_id, phrase=excluded.phrase, "
                "created=excluded.created",
                (platform, user_id, chat_id, draft_id, phrase, time.time()),
            )

    async def phrase_for(
        self, platform: str, user_id: str, chat_id: str, draft_id: str
    ) -> str | None:
        row = await self._one(
            "SELECT phrase FROM consent_phrases WHERE platform=? AND user_id=? AND chat_id=? "
            "AND draft_id=?",
            platform,
            user_id,
            chat_id,
            draft_id,
        )
        return str(row[0]) if row else None
