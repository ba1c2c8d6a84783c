"""Who may not make videos where (a server, or everywhere)."""

from __future__ import annotations

import time

from bot.safety.authority import EVERYWHERE
from bot.safety.records.rows import (
    Table,
    _audit,
)


class Bans(Table):
    """Who may not make videos where (a server, or everywhere)."""

    async def ban(self, platform: str, scope: str, user_id: str, reason: str, by: str) -> None:
        """Ban in one scope ("" direct messages, a server, or ``EVERYWHERE``)."""
        async with self._writing() as db:
            await db.execute(
                "INSERT INTO bans (platform, guild_id, user_id, reason, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (platform, guild_id, user_id) DO UPDATE SET reason=excluded.reason",
                (platform, scope, user_id, reason, time.time()),
            )
            await _audit(db, platform, scope, by, "ban", user_id)

    async def unban(self, platform: str, scope: str, user_id: str, by: str) -> bool:
        async with self._writing() as db:
            cur = await db.execute(
                "DELETE FROM bans WHERE platform=? AND guild_id=? AND user_id=?",
                (platform, scope, user_id),
            )
            await _audit(db, platform, scope, by, "unban", user_id)
            return cur.rowcount > 0

    async def ban_in(self, platform: str, scope: str, user_id: str) -> str | None:
        """The scope of the ban that stops this user here: ``EVERYWHERE`` (the operators'),
        ``scope`` (this server's or the direct messages'), or None."""
        row = await self._one(
            "SELECT guild_id FROM bans WHERE platform=? AND user_id=? AND guild_id IN (?, ?) "
            "ORDER BY guild_id=? DESC LIMIT 1",
            platform,
            user_id,
            scope,
            EVERYWHERE,
            EVERYWHERE,
        )
        return str(row[0]) if row else None

    async def is_banned(self, platform: str, scope: str, user_id: str) -> bool:
        return await self.ban_in(platform, scope, user_id) is not None
