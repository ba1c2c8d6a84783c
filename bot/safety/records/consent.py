"""Verified consent carried by a voice, and the phrases to say in phrase mode.

A verification counts where it was given: a moderator's approval in that server (or, for an
approval of a direct-message request, in the DMs), an operator's approval and a phrase heard
in the voice note everywhere (``valid_in`` "*": the phrase is proof about the recording).
"""

from __future__ import annotations

import time

from bot.safety.authority import EVERYWHERE
from bot.safety.records.rows import (
    Table,
    VoiceConsent,
    verifying,
)


class Consents(Table):
    """Verified consent carried by a voice, and the phrases to say in phrase mode."""

    async def voice_consent(
        self, platform: str, user_id: str, digest: str, scope: str
    ) -> VoiceConsent | None:
        """The latest verification of this user's voice that counts in ``scope`` (a server
        id, "" the DMs): a heard phrase or an operator's approval, or a moderator's approval
        given in that scope. None: none counts there."""
        row = await self._one(
            "SELECT id, method, valid_in, verified_by, guild_id FROM consents "
            f"WHERE platform=? AND user_id=? AND voice_digest=? AND {verifying()} "
            "AND valid_in IN (?, ?) ORDER BY at DESC, id DESC LIMIT 1",
            platform,
            user_id,
            digest,
            scope,
            EVERYWHERE,
        )
        return VoiceConsent(row[0], row[1], row[2], row[3], row[4]) if row else None

    async def link_voice_consent(self, platform: str, user_id: str, name: str) -> None:
        """A newly saved (or replaced) voice takes the verified consents of its recording:
        the latest, and the latest per scope it counts in."""
        who = (platform, user_id, name)
        async with self._writing() as db:
            await db.execute(
                "UPDATE voice_profiles SET consent_id=NULL, consent_at=NULL "
                "WHERE platform=? AND user_id=? AND name=?",
                who,
            )
            await db.execute(
                "UPDATE voice_profiles SET consent_id=c.id, consent_at=c.at FROM "
                "(SELECT id, at FROM consents WHERE platform=? AND user_id=? AND "
                f"{verifying()} AND voice_digest=(SELECT media_digest FROM voice_profiles "
                "WHERE platform=? AND user_id=? AND name=?) ORDER BY at DESC LIMIT 1) AS c "
                "WHERE platform=? AND user_id=? AND name=?",
                (*who[:2], *who, *who),
            )
            await db.execute(
                "DELETE FROM voice_consents WHERE platform=? AND user_id=? AND name=?", who
            )
            await db.execute(
                "INSERT INTO voice_consents (platform, user_id, name, scope, consent_id) "
                "SELECT v.platform, v.user_id, v.name, c.valid_in, MAX(c.id) "
                "FROM voice_profiles v JOIN consents c ON c.platform=v.platform "
                "AND c.user_id=v.user_id AND c.voice_digest=v.media_digest "
                f"WHERE v.platform=? AND v.user_id=? AND v.name=? AND {verifying('c')} "
                "GROUP BY v.platform, v.user_id, v.name, c.valid_in",
                who,
            )

    async def saved_voice_consents(
        self, platform: str, user_id: str, name: str
    ) -> dict[str, VoiceConsent]:
        """A saved voice's consents, by the scope each counts in ("*": everywhere)."""
        cur = await self._db.execute(
            "SELECT l.scope, c.id, c.method, c.valid_in, c.verified_by, c.guild_id "
            "FROM voice_consents l JOIN consents c ON c.id=l.consent_id "
            "WHERE l.platform=? AND l.user_id=? AND l.name=? ORDER BY l.scope",
            (platform, user_id, name),
        )
        return {r[0]: VoiceConsent(r[1], r[2], r[3], r[4], r[5]) for r in await cur.fetchall()}

    # ---- consent phrases -------------------------------------------------------------
    async def put_phrase(
        self,
        platform: str,
        user_id: str,
        chat_id: str,
        draft_id: str,
        phrase: str,
        language: str = "en",
    ) -> None:
        """The phrase a draft's voice note must say, and the language it is in (the voice
        note is recognised in that language)."""
        async with self._writing() as db:
            await db.execute(
                "INSERT INTO consent_phrases (platform, user_id, chat_id, draft_id, phrase, "
                "created, language) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (platform, user_id, chat_id) "
                "DO UPDATE SET draft_id=excluded.draft_id, phrase=excluded.phrase, "
                "created=excluded.created, language=excluded.language",
                (platform, user_id, chat_id, draft_id, phrase, time.time(), language),
            )

    async def phrase_for(
        self, platform: str, user_id: str, chat_id: str, draft_id: str
    ) -> str | None:
        entry = await self.phrase_entry(platform, user_id, chat_id, draft_id)
        return entry[0] if entry else None

    async def phrase_entry(
        self, platform: str, user_id: str, chat_id: str, draft_id: str
    ) -> tuple[str, str] | None:
        """The draft's phrase and its language (phrases made before languages: English)."""
        row = await self._one(
            "SELECT phrase, language FROM consent_phrases WHERE platform=? AND user_id=? "
            "AND chat_id=? AND draft_id=?",
            platform,
            user_id,
            chat_id,
            draft_id,
        )
        return (str(row[0]), str(row[1] or "en")) if row else None
