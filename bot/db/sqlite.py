"""The bot's database in one SQLite file (the embedded default): WAL, foreign keys, secure
delete, one connection per process.

Every write goes through :meth:`SQLiteDatabase.writing`: one lock within the process, and
the transaction begun ``IMMEDIATE``, which takes SQLite's write lock at its start, so a
check-then-write inside one block cannot interleave with another process's (a second
process waits on the connection's busy timeout, 30 s). Reads share the connection.

``secure_delete`` makes SQLite overwrite deleted rows with zeros, and :meth:`compact`
empties the write-ahead log, so what ``/forget`` deletes is not left in free pages or old
log frames of the file.

A full disk: SQLite's "database or disk is full" leaves every write as
:class:`~bot.db.base.DatabaseFull`. Even a DELETE needs room (its pages go to the write-ahead
log first, and :meth:`compact` left that file empty), so the database keeps a *spare*: a
file of :data:`~bot.db.base.SPARE_BYTES` beside it, made at :meth:`open`
(:meth:`~bot.db.base.Database.freeing` deletes it when a delete finds no room).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from bot.db.base import Database, DatabaseFull, Dialect

__all__ = ["SQLiteDatabase", "SQLITE"]

log = logging.getLogger(__name__)

SQLITE = Dialect(
    name="sqlite",
    _joined="group_concat({expr}, char(31))",
    _contains="instr({text}, {part}) > 0",
    _json_text="json_extract({column}, '$.{key}')",
    like="LIKE",
)


def _full(error: BaseException) -> bool:
    return (
        isinstance(error, sqlite3.OperationalError)
        and getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    )


class SQLiteDatabase(Database):
    """``await SQLiteDatabase.open(path, migrations)`` (or :meth:`Database.open` with a path)."""

    dialect = SQLITE

    def __init__(
        self, conn: aiosqlite.Connection, spare: Path | None = None, spare_bytes: int = 0
    ) -> None:
        super().__init__(spare, spare_bytes)
        self.conn: aiosqlite.Connection = conn
        self._write = asyncio.Lock()

    @classmethod
    async def open(
        cls, target: str | Path, migrations: Sequence[str], *, spare_bytes: int = 0
    ) -> SQLiteDatabase:
        """Open (and upgrade) the database file at ``target``; with ``spare_bytes``, keep a
        spare of that size beside it (``<name>.spare``) for deletes on a full disk."""
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, timeout=30)
        conn.row_factory = aiosqlite.Row
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA secure_delete=ON")
            db = cls(conn, path.with_name(path.name + ".spare"), spare_bytes)
            await db._migrate(migrations)
        except BaseException:  # a failed upgrade must not leave the connection's thread behind
            await conn.close()
            raise
        if spare_bytes > 0 and not await db.reserve_spare():
            log.warning("no room for the database's spare", extra={"bytes": spare_bytes})
        return db

    async def close(self) -> None:
        await self.conn.close()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write:
            try:
                if not self.conn.in_transaction:  # IMMEDIATE: other processes wait from here
                    await self.conn.execute("BEGIN IMMEDIATE")
                yield self.conn
                await self.conn.commit()
            except BaseException as e:
                await self.conn.rollback()
                if _full(e):
                    raise DatabaseFull() from e
                raise

    async def compact(self) -> None:
        """Checkpoint the write-ahead log into the database and truncate it: old versions
        of erased rows leave the log file (their pages were zeroed by secure delete)."""
        async with self._write:
            try:
                await self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.OperationalError as e:
                if _full(e):
                    raise DatabaseFull() from e
                raise
