"""The bot's database in one SQLite file (the embedded default): WAL, foreign keys, secure
delete; any number of processes on one file.

Every write goes through :meth:`SQLiteDatabase.writing`: one lock within the process, and
the transaction begun ``IMMEDIATE``, which takes SQLite's write lock at its start, so a
check-then-write inside one block cannot interleave with another process's (a second
process waits on the connection's busy timeout, 30 s).

Two connections per process, as on PostgreSQL: the *writer* runs only the writing blocks
(their reads too: a context variable routes every statement run inside a block to it), the
*reader* everything else. One shared connection failed with "database is locked" at once,
never waiting, when another process wrote: a read statement of another task still open on
that connection pinned an old snapshot, and SQLite refuses to upgrade a stale snapshot to a
write (``SQLITE_BUSY_SNAPSHOT``, which no busy timeout retries). The writer's only reads are
its own block's, so its ``BEGIN IMMEDIATE`` never starts from a stale snapshot.

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
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

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


def _is(error: BaseException, code: int) -> bool:
    """Whether ``error`` is SQLite's error ``code`` (SQLITE_FULL, SQLITE_BUSY, ...)."""
    return (
        isinstance(error, sqlite3.OperationalError)
        and getattr(error, "sqlite_errorcode", None) == code
    )


def _full(error: BaseException) -> bool:
    return _is(error, sqlite3.SQLITE_FULL)


_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA secure_delete=ON",
)


BUSY_SECONDS = 30.0  # how long a connection waits for another process's lock


async def _pragma(conn: aiosqlite.Connection, pragma: str) -> None:
    """Run ``pragma``, waiting out another process's lock. Turning a new file to WAL fails
    with "database is locked" at once, without the busy timeout, while another connection
    turns it too (processes starting together on a new database): tried again with a short
    backoff, up to :data:`BUSY_SECONDS`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_SECONDS
    pause = 0.01
    while True:
        try:
            await conn.execute(pragma)
            return
        except sqlite3.OperationalError as e:
            if not _is(e, sqlite3.SQLITE_BUSY) or loop.time() + pause > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.5)


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, timeout=BUSY_SECONDS)
    conn.row_factory = aiosqlite.Row
    try:
        for pragma in _PRAGMAS:
            await _pragma(conn, pragma)
    except BaseException:  # the connection's thread must not stay behind
        await conn.close()
        raise
    return conn


class _Routed:
    """``database.conn``: a statement run inside a writing block goes to the writer (it is
    part of that transaction), any other to the reader."""

    def __init__(self, database: SQLiteDatabase) -> None:
        self._database = database

    def _target(self) -> aiosqlite.Connection:
        d = self._database
        return d.writer if d.in_writing_block() else d.reader

    def execute(self, sql: str, parameters: Iterable[Any] = ()) -> Any:
        return self._target().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Any:
        return self._target().executemany(sql, parameters)

    def __getattr__(self, name: str) -> Any:  # commit, rollback, ... of the routed one
        return getattr(self._target(), name)


class SQLiteDatabase(Database):
    """``await SQLiteDatabase.open(path, migrations)`` (or :meth:`Database.open` with a path)."""

    dialect = SQLITE

    def __init__(
        self,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        spare: Path | None = None,
        spare_bytes: int = 0,
    ) -> None:
        super().__init__(spare, spare_bytes)
        self.writer, self.reader = writer, reader
        self.conn: Any = _Routed(self)
        self._write = asyncio.Lock()

    @classmethod
    async def open(
        cls, target: str | Path, migrations: Sequence[str], *, spare_bytes: int = 0
    ) -> SQLiteDatabase:
        """Open (and upgrade) the database file at ``target``; with ``spare_bytes``, keep a
        spare of that size beside it (``<name>.spare``) for deletes on a full disk."""
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path)
        try:
            reader = await _connect(path)
            # a write slipped past writing() would hold a lock the writer then waits on: it
            # fails at once instead
            await reader.execute("PRAGMA query_only=ON")
        except BaseException:
            await writer.close()
            raise
        db = cls(writer, reader, path.with_name(path.name + ".spare"), spare_bytes)
        try:
            await db._migrate(migrations)
        except BaseException:  # a failed upgrade must not leave the connections' threads behind
            await db.close()
            raise
        if spare_bytes > 0 and not await db.reserve_spare():
            log.warning("no room for the database's spare", extra={"bytes": spare_bytes})
        return db

    async def close(self) -> None:
        try:
            await self.reader.close()
        finally:
            await self.writer.close()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write:
            with self._marked_writing():
                try:
                    if not self.writer.in_transaction:  # IMMEDIATE: other processes wait here
                        await self.writer.execute("BEGIN IMMEDIATE")
                    yield self.writer
                    await self.writer.commit()
                except BaseException as e:
                    await self.writer.rollback()
                    if _full(e):
                        raise DatabaseFull() from e
                    raise

    async def compact(self) -> None:
        """Checkpoint the write-ahead log into the database and truncate it: old versions
        of erased rows leave the log file (their pages were zeroed by secure delete)."""
        async with self._write:
            try:
                await self.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.OperationalError as e:
                if _full(e):
                    raise DatabaseFull() from e
                raise
