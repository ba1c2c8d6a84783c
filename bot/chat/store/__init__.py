"""The bot's storage (SQLite, or PostgreSQL with ``DATABASE_URL``), one table class per
concept: drafts, uploads (and each person's last ones), saved voices, the upload quota, the
job history; and ``store.safety`` (:class:`~bot.safety.records.SafetyRecords`), the safety
package's tables.

One :class:`~bot.db.Database` (one writer, serialised across processes; the migrations of
:mod:`.schema`) holds every table; each class is a view of it. ``await Store.open(path)``
(or a ``postgresql://`` URL); ``await store.close()``.
"""

from __future__ import annotations

from pathlib import Path

from bot.chat.store.avatars import Avatars
from bot.chat.store.drafts import Drafts
from bot.chat.store.jobs import JobHistory
from bot.chat.store.media import MediaFiles
from bot.chat.store.schema import MIGRATIONS
from bot.chat.store.uploads import UploadQuota
from bot.chat.store.voices import Voices
from bot.chat.store.web import WebLoginRecords
from bot.db import Database
from bot.safety.records import SafetyRecords

__all__ = [
    "Store",
    "Drafts",
    "MediaFiles",
    "Voices",
    "Avatars",
    "UploadQuota",
    "JobHistory",
    "WebLoginRecords",
    "MIGRATIONS",
]


class Store:
    """The bot's database: ``store.drafts``, ``store.media``, ``store.voices``,
    ``store.avatars``, ``store.uploads``, ``store.jobs``, ``store.web``, ``store.safety``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.drafts = Drafts(database)
        self.media = MediaFiles(database)
        self.voices = Voices(database)
        self.avatars = Avatars(database)
        self.uploads = UploadQuota(database)
        self.jobs = JobHistory(database)
        self.web = WebLoginRecords(database)
        self.safety = SafetyRecords(database)

    @classmethod
    async def open(cls, target: str | Path, *, spare_bytes: int = 0) -> Store:
        """The database at ``target`` (a SQLite file's path, or a ``postgresql://`` URL),
        upgraded; with ``spare_bytes`` (the bot: :data:`~bot.db.SPARE_BYTES`) a SQLite file
        keeps a spare beside it for deletes on a full disk (:class:`~bot.db.Database`)."""
        return cls(await Database.open(target, MIGRATIONS, spare_bytes=spare_bytes))

    async def close(self) -> None:
        await self.database.close()

    async def schema_version(self) -> int:
        return await self.database.schema_version()
