"""Avatars: a person's saved photo and voice note (with its transcript) under a name, and the
consents each carries per scope (the safety package's ``avatar_consents``, written here in
the same transaction as the avatar it belongs to)."""

from __future__ import annotations

import builtins
import time

from bot.chat.store.tables import Table
from bot.contract.ports import Avatar

__all__ = ["Avatars"]

#: an avatar consent's scope, marked so that the direct messages' "" survives the join
_MARKED_SCOPE = "'#' || c.scope"


class Avatars(Table):
    """Saved avatars (``store.avatars``)."""

    async def save(
        self,
        platform: str,
        user_id: str,
        name: str,
        avatar: Avatar,
        consent: tuple[str, int] | None,
        *,
        max_avatars: int = -1,
    ) -> bool:
        """Save (or replace) a named avatar with the consent record it carries (``consent``:
        the scope it counts in and its id; None: none). Replacing one drops the consents of
        what it held before: a consent belongs to a photo and a voice, not to a name. False
        when the person already has ``max_avatars`` others (negative: no cap)."""
        who = (platform, user_id)
        async with self._writing() as db:
            if max_avatars >= 0:
                row = await self._one(
                    "SELECT COUNT(*) FROM avatars WHERE platform=? AND user_id=? AND name<>?",
                    *who,
                    name,
                )
                if row is not None and int(row[0]) >= max_avatars:
                    return False
            await self._ensure_user(db, *who)
            now = time.time()
            await db.execute(
                "INSERT INTO avatars (platform, user_id, name, photo_digest, voice_digest, "
                "voice_seconds, transcript, created, used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (platform, user_id, name) DO UPDATE SET "
                "photo_digest=excluded.photo_digest, voice_digest=excluded.voice_digest, "
                "voice_seconds=excluded.voice_seconds, transcript=excluded.transcript, "
                "created=excluded.created, used=excluded.used",
                (
                    *who,
                    name,
                    avatar.photo_digest,
                    avatar.voice_digest,
                    avatar.voice_seconds,
                    avatar.transcript,
                    now,
                    now,
                ),
            )
            await db.execute(
                "DELETE FROM avatar_consents WHERE platform=? AND user_id=? AND name=?",
                (*who, name),
            )
            if consent is not None:
                await db.execute(
                    "INSERT INTO avatar_consents (platform, user_id, name, scope, consent_id) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (*who, name, *consent),
                )
            return True

    async def delete(self, platform: str, user_id: str, name: str) -> bool:
        """Forget one avatar and its consents (its uploads age out with the other media);
        False: there was none."""
        async with self._writing() as db:
            cur = await db.execute(
                "DELETE FROM avatars WHERE platform=? AND user_id=? AND name=?",
                (platform, user_id, name),
            )
            return (cur.rowcount or 0) > 0

    async def get(self, platform: str, user_id: str, name: str) -> Avatar | None:
        found = [a for a in await self.list(platform, user_id, name=name)]
        return found[0] if found else None

    async def list(self, platform: str, user_id: str, *, name: str | None = None) -> list[Avatar]:
        """The person's avatars by name (one, with ``name``), each with its consent scopes."""
        where, args = ("AND a.name=? ", (name,)) if name is not None else ("", ())
        cur = await self._db.execute(
            "SELECT a.name, a.photo_digest, a.voice_digest, a.voice_seconds, a.transcript, "
            f"{self._sql.joined(_MARKED_SCOPE)} FROM avatars a LEFT JOIN avatar_consents c "
            "ON c.platform=a.platform AND c.user_id=a.user_id AND c.name=a.name "
            f"WHERE a.platform=? AND a.user_id=? {where}"
            "GROUP BY a.platform, a.user_id, a.name ORDER BY a.name",
            (platform, user_id, *args),
        )
        return [Avatar(r[0], r[1], r[2], r[3], r[4], _scopes(r[5])) for r in await cur.fetchall()]

    async def names(
        self, platform: str, user_id: str, prefix: str = "", limit: int = 25
    ) -> builtins.list[str]:
        """Names starting with ``prefix`` (any case), for a platform's autocomplete."""
        cur = await self._db.execute(
            f"SELECT name FROM avatars WHERE platform=? AND user_id=? AND name {self._sql.like} ? "
            "ESCAPE '\\' "
            "ORDER BY used DESC, name LIMIT ?",
            (platform, user_id, _like_prefix(prefix), limit),
        )
        return [r[0] for r in await cur.fetchall()]

    async def used(self, platform: str, user_id: str, name: str) -> None:
        """A render was asked with the avatar (retention keeps it for another while)."""
        async with self._writing() as db:
            await db.execute(
                "UPDATE avatars SET used=? WHERE platform=? AND user_id=? AND name=?",
                (time.time(), platform, user_id, name),
            )


def _scopes(joined: str | None) -> tuple[str, ...]:
    """The scopes :data:`_MARKED_SCOPE` joined (the dialect's ``joined``), each marked with
    "#" (the direct messages' scope is "", which would otherwise vanish)."""
    return tuple(part[1:] for part in joined.split("\x1f")) if joined else ()


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
