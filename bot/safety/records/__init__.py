"""The safety records in SQLite, one table class per concept: server policies, bans, the audit
and moderators' log, where jobs were made (the queue views and takedowns), reviews, consent
(verified voices and phrases), erasure (``/forget``, ``/mod purge``) and the retention purge.

Views over the bot's one :class:`~bot.db.Database` (passed in; the store holds the other
view): every write goes through its one writer. Scopes: ``""`` is direct messages, a server
id a Discord server or Telegram group, ``"*"`` (:data:`~bot.safety.authority.EVERYWHERE`)
an operator-wide ban. Functions that take ``scope: str | None`` read everywhere for None.
"""

from __future__ import annotations

from bot.db import Database
from bot.safety.records.bans import Bans
from bot.safety.records.consent import Consents
from bot.safety.records.erasure import Erasures
from bot.safety.records.log import ModLog
from bot.safety.records.places import JobPlaces
from bot.safety.records.policy import Policies
from bot.safety.records.reviews import Reviews
from bot.safety.records.rows import (
    ExpiredReview,
    ForgetResult,
    JobPlace,
    LogEntry,
    OpenJob,
    PurgeRows,
    RenderRecord,
    ReviewRow,
    VoiceConsent,
    attach_voice_consent,
)

__all__ = [
    "SafetyRecords",
    "Policies",
    "Bans",
    "ModLog",
    "JobPlaces",
    "Reviews",
    "Consents",
    "Erasures",
    "RenderRecord",
    "OpenJob",
    "ReviewRow",
    "JobPlace",
    "LogEntry",
    "ForgetResult",
    "PurgeRows",
    "ExpiredReview",
    "VoiceConsent",
    "attach_voice_consent",
]


class SafetyRecords:
    """Safety's tables, one object per concept, over one database: ``records.bans.ban(...)``,
    ``records.reviews.decide_review(...)``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.policy = Policies(database)
        self.bans = Bans(database)
        self.log = ModLog(database)
        self.places = JobPlaces(database)
        self.reviews = Reviews(database)
        self.consent = Consents(database)
        self.erasure = Erasures(database)
