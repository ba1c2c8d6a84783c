"""What every table class of the store stands on: the bot's one database and its one writer,
and the people rows every person's data hangs on."""

from __future__ import annotations

import time

from bot.db import Connection, Database

__all__ = ["Table"]


class Table:
    """A concept's view of the bot's one :class:`~bot.db.Database` (its writer shared)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._db = database.conn
        self._writing = database.writing
        self._one = database.one
        self._sql = database.dialect

    async def _ensure_user(
        self, db: Connection, platform: str, user_id: str, name: str = ""
    ) -> None:
        await db.execute(
            "INSERT INTO users (platform, user_id, name, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (platform, user_id) DO NOTHING",
            (platform, user_id, name, time.time()),
        )
