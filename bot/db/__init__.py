"""The bot's one database, behind one interface the table classes use whatever holds it:
SQLite in the data folder (the embedded default, one host) or PostgreSQL
(``DATABASE_URL=postgresql://...``, shared by several chat processes).

``await Database.open(path_or_url, migrations)`` picks the backend; ``database.conn`` runs
SQL with ``?`` placeholders; :meth:`Database.writing` is the one writer, serialised across
processes too; ``database.dialect`` spells the few constructs the two write differently.
The store's queries (:class:`bot.chat.store.Store`) and the safety records
(:class:`bot.safety.records.SafetyRecords`) are two views over this one database.
"""

from __future__ import annotations

from bot.db.base import (
    SPARE_BYTES,
    Connection,
    Cursor,
    Database,
    DatabaseFull,
    Dialect,
    Row,
)
from bot.db.postgres import PostgresDatabase
from bot.db.sqlite import SQLiteDatabase

__all__ = [
    "Connection",
    "Cursor",
    "Database",
    "DatabaseFull",
    "Dialect",
    "PostgresDatabase",
    "Row",
    "SPARE_BYTES",
    "SQLiteDatabase",
]
