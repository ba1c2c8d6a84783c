"""Each person's draft per chat (what they have handed over so far)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from bot.chat.store.tables import Table
from bot.contract.events import Who
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
        return None if row is None else _draft(row["data"])

    async def held(
        self, platform: str | None = None, user_id: str | None = None
    ) -> list[tuple[Who, Draft]]:
        """The held batch drafts (:attr:`Draft.held`), everyone's or one person's, oldest
        change first; each with where it is made (platform, person, chat, server)."""
        where: str = ""
        args: tuple[str, ...] = ()
        if platform is not None and user_id is not None:
            where, args = " AND platform=? AND user_id=?", (platform, user_id)
        cur = await self._db.execute(
            "SELECT platform, user_id, chat_id, guild_id, data FROM drafts "
            f"WHERE held=1{where} ORDER BY updated",
            args,
        )
        return [
            (Who(r[0], r[1], r[2], guild_id=r[3] or None), _draft(r[4]))
            for r in await cur.fetchall()
        ]

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
                "INSERT INTO drafts (platform, user_id, chat_id, data, updated, guild_id, held) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (platform, user_id, chat_id) DO UPDATE SET data=excluded.data, "
                "updated=excluded.updated, guild_id=excluded.guild_id, held=excluded.held",
                (
                    platform,
                    user_id,
                    chat_id,
                    json.dumps(asdict(draft)),
                    time.time(),
                    guild_id or "",
                    int(draft.held),
                ),
            )


def _draft(text: str) -> Draft:
    data = json.loads(text)
    for name in ("photo_warnings", "scripts", "titles"):  # JSON lists back to tuples
        data[name] = tuple(data.get(name, ()))
    return Draft(**data)
