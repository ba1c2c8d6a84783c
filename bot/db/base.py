"""What every backend of the bot's database offers the table classes: a connection-like
object (``execute`` with ``?`` placeholders, a cursor with ``fetchone``/``fetchall``/
``rowcount``, rows read by index and by name), one writer (:meth:`Database.writing`), the
versioned migrations, the spare for deletes on a full disk, and the few SQL spellings that
differ between SQLite and PostgreSQL (:class:`Dialect`).

Every write transaction is serialised across processes, not only within one: a limit checked
and then written inside one :meth:`Database.writing` block (an upload quota, a saved-voice
cap, the per-person open jobs) holds however many chat processes share the database.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

__all__ = [
    "Connection",
    "Cursor",
    "Database",
    "DatabaseFull",
    "Dialect",
    "Row",
    "SPARE_BYTES",
    "statements",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: room kept in reserve beside the database for the deletes that free a full disk: a
#: /forget or a retention pass writes a few hundred pages to the write-ahead log
SPARE_BYTES = 8 * 1024 * 1024
_CHUNK = 1024 * 1024


class Row(Protocol):
    """A result row: ``row[0]``, ``row["name"]``, unpacked, ``tuple(row)``."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    async def fetchone(self) -> Row | None: ...
    async def fetchall(self) -> Iterable[Row]: ...


class Connection(Protocol):
    """What the table classes call on ``database.conn``: SQL with ``?`` placeholders."""

    def execute(self, sql: str, parameters: Iterable[Any] = ..., /) -> Awaitable[Cursor]: ...
    def executemany(
        self, sql: str, parameters: Iterable[Iterable[Any]], /
    ) -> Awaitable[Cursor]: ...


@dataclass(frozen=True)
class Dialect:
    """The few SQL spellings that differ between the backends; everything else the table
    classes write is SQL both understand."""

    name: str
    _joined: str  # an aggregate joining strings with the unit separator (U+001F)
    _contains: str  # whether {text} contains {part} (position > 0)
    _json_text: str  # a JSON text column's top-level string field
    like: str  # LIKE as SQLite means it: ASCII letters in any case

    def joined(self, expr: str) -> str:
        """SQL: the group's ``expr`` values (NULLs left out) joined with U+001F."""
        return self._joined.format(expr=expr)

    def contains(self, text: str, part: str) -> str:
        """SQL: true when the string ``part`` occurs in ``text``."""
        return self._contains.format(text=text, part=part)

    def json_text(self, column: str, key: str) -> str:
        """SQL: the string ``key`` of the JSON object held as text in ``column`` (NULL when
        missing)."""
        return self._json_text.format(column=column, key=key)


class DatabaseFull(OSError):
    """No room on the disk for a write (SQLite's ``SQLITE_FULL``, PostgreSQL's ``disk_full``);
    nothing was written."""

    def __init__(self) -> None:
        super().__init__(errno.ENOSPC, "database or disk is full")


def statements(script: str) -> list[str]:
    """A migration's statements, one by one (``;`` inside quotes or comments left alone), so
    each runs in the version's one transaction with the version stamp."""
    import sqlite3  # the standard library's tokenizer decides where a statement ends

    out: list[str] = []
    part = ""
    for line in script.splitlines(keepends=True):
        part += line
        if sqlite3.complete_statement(part):
            out += [s for s in (part.strip().rstrip(";").strip(),) if s]
            part = ""
    if part.strip():
        out.append(part.strip().rstrip(";").strip())
    return out


#: the database whose writing block the running task is in: its statements (reads included)
#: go to that database's writer connection, in the block's transaction
_WRITING: contextvars.ContextVar[Database | None] = contextvars.ContextVar(
    "mouthpiece_db_writing", default=None
)


class Database(ABC):
    """The bot's database: ``await Database.open(path_or_url, migrations)``;
    ``await db.close()``. A ``postgresql://`` URL opens PostgreSQL, anything else the SQLite
    file at that path (the embedded default)."""

    #: the URL schemes a backend opens (SQLite: none, a path)
    schemes: ClassVar[tuple[str, ...]] = ()
    _backends: ClassVar[list[type[Database]]] = []

    conn: Connection
    dialect: Dialect

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Database._backends.append(cls)

    def __init__(self, spare: Path | None = None, spare_bytes: int = 0) -> None:
        self.spare = spare
        self.spare_bytes = spare_bytes if spare is not None else 0

    @classmethod
    async def open(
        cls, target: str | Path, migrations: Sequence[str], *, spare_bytes: int = 0
    ) -> Database:
        """Open (and upgrade) the database at ``target``; with ``spare_bytes``, a local file
        database keeps a spare of that size beside it for deletes on a full disk."""
        if cls is Database:
            kind = _backend_for(target)
            return await kind.open(target, migrations, spare_bytes=spare_bytes)
        raise NotImplementedError(cls)  # each backend opens itself

    @abstractmethod
    def writing(self) -> AbstractAsyncContextManager[Connection]:
        """The one writer: the block's statements are one transaction, committed at its end
        and rolled back on any error, serialised against every other writer of this
        database, in this process and in any other; statements run through ``database.conn``
        inside the block are part of it. A full disk is :class:`DatabaseFull`."""

    def in_writing_block(self) -> bool:
        """Whether the running task is inside one of this database's writing blocks."""
        return _WRITING.get() is self

    @contextmanager
    def _marked_writing(self) -> Iterator[None]:
        """Mark the running task as inside a writing block (for :meth:`in_writing_block`)."""
        token = _WRITING.set(self)
        try:
            yield
        finally:
            _WRITING.reset(token)

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def compact(self) -> None:
        """Leave no old copy of erased rows where the backend can help it."""

    async def one(self, sql: str, *args: Any) -> Row | None:
        return await (await self.conn.execute(sql, args)).fetchone()

    async def schema_version(self) -> int:
        row = await self.one("SELECT MAX(version) FROM schema_version")
        return int((row[0] if row else 0) or 0)

    async def _migrate(self, migrations: Sequence[str]) -> None:
        """Apply the versions past the database's, each in one write transaction that reads
        the version first (two processes starting together apply each version once)."""
        while True:
            async with self.writing() as db:
                await db.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
                )
                row = await (await db.execute("SELECT MAX(version) FROM schema_version")).fetchone()
                current = int((row[0] if row else 0) or 0)
                if current >= len(migrations):
                    return
                for sql in self._translate(statements(migrations[current])):
                    await db.execute(sql)
                await db.execute("INSERT INTO schema_version VALUES (?)", (current + 1,))

    def _translate(self, sql: list[str]) -> list[str]:
        """A migration's statements (written for SQLite) as this backend runs them."""
        return sql

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


def _backend_for(target: str | Path) -> type[Database]:
    scheme = str(target).split("://", 1)[0] if "://" in str(target) else ""
    for kind in Database._backends:
        if scheme in kind.schemes or (not scheme and not kind.schemes):
            return kind
    raise ValueError(f"no database backend for {scheme}:// URLs (give postgresql:// or a path)")


def _free_bytes(folder: Path) -> int:
    """Bytes an unprivileged writer may still put on the file system holding ``folder``."""
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


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
