"""The bot's one SQLite connection: WAL, foreign keys, secure delete, versioned migrations,
one writer.

Every write goes through :meth:`Database.writing` (one lock: SQLite allows one writer anyway;
serialising here means no "database is locked" under load). Reads share the connection.
The store's queries (:class:`bot.chat.store.Store`) and the safety records
(:class:`bot.safety.records.SafetyRecords`) are two views over this one database.

``secure_delete`` makes SQLite overwrite deleted rows with zeros, and :meth:`compact`
empties the write-ahead log, so what ``/forget`` deletes is not left in free pages or old
log frames of the file.

A full disk: SQLite's "database or disk is full" leaves every write as
:class:`DatabaseFull`, an ``OSError`` with ``ENOSPC`` like the OS's own. Even a DELETE needs
room (its pages go to the write-ahead log first, and :meth:`compact` left that file empty),
so the database keeps a *spare*: a file of :data:`SPARE_BYTES` beside it, made at
:meth:`open`. :meth:`freeing` runs a write that frees space (an erasure, a retention pass);
when the disk is full it deletes the spare and runs the write once more, and
:meth:`reserve_spare` makes the spare again once there is room.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

__all__ = ["Database", "DatabaseFull", "SPARE_BYTES"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: room kept in reserve beside the database for the deletes that free a full disk: a
#: /forget or a retention pass writes a few hundred pages to the write-ahead log
SPARE_BYTES = 8 * 1024 * 1024
_CHUNK = 1024 * 1024


class DatabaseFull(OSError):
    """SQLite found no room on the disk for a write (``SQLITE_FULL``); nothing was written."""

    def __init__(self) -> None:
        super().__init__(errno.ENOSPC, "database or disk is full")


def _full(error: BaseException) -> bool:
    return (
        isinstance(error, sqlite3.OperationalError)
        and getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    )


def _free_bytes(folder: Path) -> int:
    """Bytes an unprivileged writer may still put on the file system holding ``folder``."""
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


class Database:
    """``await Database.open(path, migrations)``; ``await db.close()``."""

    def __init__(
        self, conn: aiosqlite.Connection, spare: Path | None = None, spare_bytes: int = 0
    ) -> None:
        self.conn = conn
        self._write = asyncio.Lock()
        self.spare = spare
        self.spare_bytes = spare_bytes if spare is not None else 0

    @classmethod
    async def open(cls, path: Path, migrations: Sequence[str], *, spare_bytes: int = 0) -> Database:
        """Open (and upgrade) the database at ``path``; with ``spare_bytes``, keep a spare of
        that size beside it (``<name>.spare``) for deletes on a full disk."""
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, timeout=30)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA secure_delete=ON")
        db = cls(conn, path.with_name(path.name + ".spare"), spare_bytes)
        try:
            await db._migrate(migrations)
        except BaseException:  # a failed upgrade must not leave the connection's thread behind
            await conn.close()
            raise
        if spare_bytes > 0 and not await db.reserve_spare():
            log.warning("no room for the database's spare", extra={"bytes": spare_bytes})
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
        """The one writer: the block's statements are one transaction, committed at its end
        and rolled back on any error; "database or disk is full" is :class:`DatabaseFull`."""
        async with self._write:
            try:
                yield self.conn
                await self.conn.commit()
            except BaseException as e:
                await self.conn.rollback()
                if _full(e):
                    raise DatabaseFull() from e
                raise

    # ---- a full disk ----------------------------------------------------------------
    async def freeing(self, write: Callable[[], Awaitable[T]]) -> T:
        """Run ``write``, a write that frees space (a delete); when the disk is too full
        even for it, delete the spare and run it once more (it was rolled back whole)."""
        try:
            return await write()
        except DatabaseFull:
            if not await self.release_spare():
                raise
            log.warning("disk full: the database's spare released for a delete")
            return await write()

    async def release_spare(self) -> bool:
        """Delete the spare (room for the next writes); whether there was one."""
        if self.spare is None:
            return False
        spare = self.spare
        try:
            await asyncio.to_thread(spare.unlink)
        except FileNotFoundError:
            return False
        return True

    async def reserve_spare(self) -> bool:
        """Make the spare when it is missing and the disk has room for it twice over (making
        it never fills the disk); whether it is there now."""
        if self.spare is None or self.spare_bytes <= 0:
            return False
        return await asyncio.to_thread(_reserve, self.spare, self.spare_bytes)

    async def one(self, sql: str, *args: Any) -> aiosqlite.Row | None:
        return await (await self.conn.execute(sql, args)).fetchone()

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


def _allocate(fd: int, size: int) -> bool:
    """Allocate ``size`` bytes to the open file ``fd``; False where fallocate is missing."""
    allocate = getattr(os, "posix_fallocate", None)  # not on macOS
    if allocate is None:
        return False
    try:
        allocate(fd, 0, size)
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.EINVAL):
            return False
        raise
    return True


def _reserve(path: Path, size: int) -> bool:
    """The spare's file, ``size`` bytes really allocated (not a sparse file): written beside
    and renamed, so a half-made one is never taken for the spare. Runs in a thread."""
    try:
        if path.stat().st_size >= size:
            return True
    except FileNotFoundError:
        pass
    if _free_bytes(path.parent) < 2 * size:
        return False
    part = path.with_name(path.name + ".part")
    try:
        fd = os.open(part, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            if not _allocate(fd, size):  # a file system (or OS) without fallocate: zeros
                for start in range(0, size, _CHUNK):
                    os.write(fd, bytes(min(_CHUNK, size - start)))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(part, path)
    except OSError:
        part.unlink(missing_ok=True)
        return False
    return True
