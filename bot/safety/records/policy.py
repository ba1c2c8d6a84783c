"""Each server's policy overrides (within the operator's caps)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.safety.records.rows import (
    Table,
)


class Policies(Table):
    """Each server's policy overrides (within the operator's caps)."""

    async def guild_policy(self, platform: str, scope: str) -> dict[str, Any]:
        row = await self._one(
            "SELECT data FROM guild_settings WHERE platform=? AND guild_id=?", platform, scope
        )
        return dict(json.loads(row["data"])) if row else {}

    async def edit_guild_policy(
        self, platform: str, scope: str, edit: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Read-modify-write one server's overrides under the writer lock; returns them."""
        async with self._writing() as db:
            row = await self._one(
                "SELECT data FROM guild_settings WHERE platform=? AND guild_id=?", platform, scope
            )
            data = edit(dict(json.loads(row["data"])) if row else {})
            await db.execute(
                "INSERT INTO guild_settings (platform, guild_id, data) VALUES (?, ?, ?) "
                "ON CONFLICT (platform, guild_id) DO UPDATE SET data=excluded.data",
                (platform, scope, json.dumps(data, sort_keys=True)),
            )
            return data
