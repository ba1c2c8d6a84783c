"""The safety tables' shared parts: the rows they hand back, the SQL helpers, and the
base every concept's table class stands on (the bot's one database, its one writer)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from bot.contract.jobs import OPEN_STATES, RenderJob, sql_states
from bot.db import Connection, Database

_OPEN = sql_states(OPEN_STATES)
#: audit actions that are not a moderator's (left out of /mod log)
_NOT_MODERATION = ("render_requested", "forget")


@dataclass(frozen=True)
class RenderRecord:
    """One audited render: who, when, where, and hashes of what (never the content)."""

    job_id: str
    user_id: str
    at: float
    status: str
    mode: str
    verified: str
    voice: str
    photo: str
    script: str
    scope: str = ""
    taken_down: bool = False
    method: str = ""  # how consent was verified (ConsentMethod); "" not verified
    valid_in: str | None = None  # where that verification counts ("*" everywhere)
    by: str = ""  # who approved it
    carried: bool = False  # the voice carried an earlier verification
    given_in: str = ""  # where the verification was given (the approved review's scope)


@dataclass(frozen=True)
class VoiceConsent:
    """A verified consent of a voice: its record, how, where it counts ("*" everywhere, a
    server id, "" the DMs), who approved it and where it was given."""

    id: int
    method: str
    valid_in: str
    by: str = ""
    given_in: str = ""


@dataclass(frozen=True)
class OpenJob:
    job_id: str
    user_id: str
    status: str
    created: float
    scope: str = ""


@dataclass(frozen=True)
class ReviewRow:
    job: RenderJob
    guild_id: str | None
    phrase: str | None
    created: float


@dataclass(frozen=True)
class JobPlace:
    """Where a job was made and whose it is: what authority over it depends on."""

    job_id: str
    platform: str
    scope: str
    user_id: str
    chat_id: str
    status: str
    taken_down: bool


@dataclass(frozen=True)
class LogEntry:
    """One moderator action: when, who, what, on what."""

    at: float
    scope: str
    actor: str
    action: str
    detail: str


@dataclass(frozen=True)
class ForgetResult:
    """What an erasure removed from SQLite, and what it leaves to remove elsewhere."""

    drafts: int
    voices: int  # saved voices and avatars
    jobs: int  # jobs whose words were erased
    media_paths: tuple[Path, ...]  # upload files no remaining row uses
    media_digests: tuple[str, ...]  # their hashes (Redis copies, worker caches)
    job_ids: tuple[str, ...]  # every erased job (outputs, queue records)
    open_job_ids: tuple[str, ...]  # queued or running: to cancel in the queue


@dataclass(frozen=True)
class PurgeRows:
    media_paths: tuple[Path, ...]
    drafts: int
    scripts: int
    expired: tuple[ExpiredReview, ...] = ()


@dataclass(frozen=True)
class ExpiredReview:
    """A review nobody decided in time: the job will not be made; tell its requester."""

    job_id: str
    platform: str
    chat_id: str


def _scrub(payload: str, *, erase: bool = False) -> str:
    """A job payload without its words: the script and transcript go. An erasure empties
    the media hashes and the person's ids too (the job row's columns and the audit's
    consent record keep what the limits and the audit need)."""
    data = json.loads(payload)
    data["script"], data["voice_text"] = "", None
    if erase:
        data["voice_hash"] = data["photo_hash"] = data["user_id"] = data["chat_id"] = ""
    return json.dumps(data, sort_keys=True)


def _scope_sql(
    scope: str | None, column: str = "COALESCE(guild_id, '')"
) -> tuple[str, tuple[str, ...]]:
    """`` AND <column>=?`` for one scope, nothing for None (everywhere)."""
    return ("", ()) if scope is None else (f" AND {column}=?", (scope,))


def verifying(alias: str = "") -> str:
    """SQL: a consent record that verifies a voice by itself (verified, counting somewhere,
    not one that rode on an earlier record)."""
    c = f"{alias}." if alias else ""
    return f"{c}method != '' AND {c}valid_in IS NOT NULL AND {c}carried_from IS NULL"


async def attach_voice_consent(db: Connection, platform: str, user_id: str, job_id: str) -> None:
    """Saved voices with this job's voice now carry its (verified) consent record: as the
    latest (``consent_id``) and as their consent for the scope it counts in."""
    await db.execute(
        "UPDATE voice_profiles SET consent_id=c.id, consent_at=c.at FROM "
        f"(SELECT id, at, voice_digest FROM consents WHERE job_id=? AND {verifying()}) AS c "
        "WHERE voice_profiles.platform=? AND voice_profiles.user_id=? "
        "AND voice_profiles.media_digest=c.voice_digest",
        (job_id, platform, user_id),
    )
    await db.execute(
        "INSERT INTO voice_consents (platform, user_id, name, scope, consent_id) "
        "SELECT v.platform, v.user_id, v.name, c.valid_in, c.id FROM voice_profiles v "
        "JOIN consents c ON c.platform=v.platform AND c.user_id=v.user_id "
        "AND c.voice_digest=v.media_digest "
        f"WHERE c.job_id=? AND v.platform=? AND v.user_id=? AND {verifying('c')} "
        "ON CONFLICT (platform, user_id, name, scope) DO UPDATE SET consent_id=excluded.consent_id",
        (job_id, platform, user_id),
    )


async def _audit(
    db: Connection, platform: str, scope: str, actor: str, action: str, detail: str
) -> None:
    await db.execute(
        "INSERT INTO audit_log (at, platform, guild_id, user_id, action, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (time.time(), platform, scope, actor, action, detail),
    )


class Table:
    """A concept's view of the bot's one :class:`~bot.db.Database` (its writer shared)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._db = database.conn
        self._writing = database.writing
        self._one = database.one
        self._sql = database.dialect
