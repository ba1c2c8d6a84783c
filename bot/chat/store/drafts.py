"""Each person's draft per chat (what they have handed over so far)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from bot.chat.store.tables import Table
from bot.conversation.flow import Draft


class Drafts(Table):
    """Each person's draft per chat (what they have handed over so far)."""

    async def get(self, platform: str, user_id: str, chat_id: str) -> Draft | None:
        row = await self._one(
            "SELECT data FROM drafts WHERE platform=? AND user_id=? AND chat_id=?",
            platform,
            user_id,
            chat_id,
        )
        if row is None:
            return None
        data = json.loads(row["data"])
        data["photo_warnings"] = tuple(data.get("photo_warnings", ()))
        return Draft(**data)

    async def put(
        self,
        platform: str,
        user_id: str,
        chat_id: str,
        draft: Draft | None,
        *,
        guild_id: str | None = None,
    ) -> None:
        """Keep (or with None drop) the draft of one chat; ``guild_id``: the server it is
        made in (its moderators may erase it)."""
        async with self._writing() as db:
            if draft is None:
                await db.execute(
                    "DELETE FROM drafts WHERE platform=? AND user_id=? AND chat_id=?",
                    (platform, user_id, chat_id),
                )
                return
            await self._ensure_user(db, platform, user_id)
            await db.execute(
                "INSERT INTO drafts (platform, user_id, chat_id, data, updated, guild_id) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (platform, user_id, chat_id) DO UPDATE SET data=excluded.data, "
                "updated=excluded.updated, guild_id=excluded.guild_id",
                (
                    platform,
                    user_id,
                    chat_id,
                    json.dumps(asdict(draft)),
                    time.time(),
                    guild_id or "",
                ),
            )
