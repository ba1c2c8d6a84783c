"""The bot's one SQLite connection: WAL, foreign keys, secure delete, versioned migrations,
one writer.

Every write goes through :meth:`Database.writing` (one lock: SQLite allows one writer anyway;
serialising here means no "database is locked" under load). Reads share the connection.
The store's queries (:class:`bot.chat.store.Store`) and the safety records
(:class:`bot.safety.records.SafetyRecords`) are two views over this one database.

``secure_delete`` makes SQLite overwrite deleted rows with zeros, and :meth:`compact`
empties the write-ahead log, so what ``/forget`` deletes is not left in free pages or old
log frames of the file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

__all__ = ["Database"]


class Database:
    """``await Database.open(path, migrations)``; ``await db.close()``."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self._write = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, migrations: Sequence[str]) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, timeout=30)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA secure_delete=ON")
        db = cls(conn)
        try:
            await db._migrate(migrations)
        except BaseException:  # a failed upgrade must not leave the connection's thread behind
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        await self.conn.close()

    async def _migrate(self, migrations: Sequence[str]) -> None:
        async with self.writing() as db:
            await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = await (await db.execute("SELECT MAX(version) FROM schema_version")).fetchone()
            current = (row[0] if row else 0) or 0
            for version, sql in enumerate(migrations[current:], start=current + 1):
                await db.executescript(
                    f"BEGIN; {sql}; INSERT INTO schema_version VALUES ({version}); COMMIT;"
                )

    async def schema_version(self) -> int:
        row = await self.one("SELECT MAX(version) FROM schema_version")
        return int((row[0] if row else 0) or 0)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write:
            try:
                yield self.conn
                await self.conn.commit()
            except BaseException:
                await self.conn.rollback()
                raise

    async def one(self, sql: str, *args: Any) -> aiosqlite.Row | None:
        return await (await self.conn.execute(sql, args)).fetchone()

    async def compact(self) -> None:
        """Checkpoint the write-ahead log into the database and truncate it: old versions
        of erased rows leave the log file (their pages were zeroed by secure delete)."""
        async with self._write:
            await self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
