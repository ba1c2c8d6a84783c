"""SQLite storage through aiosqlite: sessions, media, voices, jobs and their consents.

One :class:`~bot.db.Database` (WAL, one writer, migrations) holds every table; this store
is the conversation's view of it, and ``store.safety`` (:class:`~bot.safety.records.
SafetyRecords`) the safety package's view: policies, bans, reviews, audit, erasure.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import aiosqlite

from bot.contract.jobs import (
    FINAL_STATES,
    LIVE_STATES,
    OPEN_STATES,
    JobState,
    RenderJob,
    predecessors,
    sql_states,
)
from bot.contract.ports import JobRow, LastMedia, LiveJob, VoiceProfile
from bot.conversation.flow import Draft
from bot.db import Database
from bot.safety.policy import (
    DAY,
    HOUR,
    LimitExceeded,
    RateLimits,
    UploadLimits,
    UploadUsage,
    Usage,
    decide_limits,
    decide_upload,
)
from bot.safety.records import SafetyRecords, attach_voice_consent

__all__ = ["Store", "JobRow", "VoiceProfile", "MIGRATIONS"]

_LIVE = sql_states(LIVE_STATES)

MIGRATIONS: list[str] = [
    # 1: sessions, media, voices and jobs, and room for consent, moderation and audit
    """
    CREATE TABLE users (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
        last_voice_hash TEXT, last_voice_seconds REAL, last_voice_text TEXT,
        last_photo_hash TEXT, created REAL NOT NULL,
        PRIMARY KEY (platform, user_id));
    CREATE TABLE drafts (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, chat_id TEXT NOT NULL,
        data TEXT NOT NULL, updated REAL NOT NULL,
        PRIMARY KEY (platform, user_id, chat_id),
        FOREIGN KEY (platform, user_id) REFERENCES users (platform, user_id) ON DELETE CASCADE);
    CREATE TABLE media (
        digest TEXT PRIMARY KEY, kind TEXT NOT NULL, size INTEGER NOT NULL,
        mime TEXT NOT NULL DEFAULT '', path TEXT NOT NULL, created REAL NOT NULL);
    CREATE TABLE voice_profiles (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL,
        media_digest TEXT NOT NULL REFERENCES media (digest), seconds REAL NOT NULL,
        transcript TEXT, consent_at REAL, created REAL NOT NULL,
        PRIMARY KEY (platform, user_id, name),
        FOREIGN KEY (platform, user_id) REFERENCES users (platform, user_id) ON DELETE CASCADE);
    CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY, platform TEXT NOT NULL, user_id TEXT NOT NULL,
        chat_id TEXT NOT NULL, guild_id TEXT, status TEXT NOT NULL, payload TEXT NOT NULL,
        error TEXT NOT NULL DEFAULT '', output_bytes INTEGER NOT NULL DEFAULT 0,
        timings TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, started REAL, finished REAL,
        FOREIGN KEY (platform, user_id) REFERENCES users (platform, user_id) ON DELETE CASCADE);
    CREATE INDEX jobs_by_user ON jobs (platform, user_id, created);
    CREATE TABLE consents (
        id INTEGER PRIMARY KEY AUTOINCREMENT, platform TEXT NOT NULL, user_id TEXT NOT NULL,
        job_id TEXT, voice_digest TEXT NOT NULL, photo_digest TEXT NOT NULL,
        script_digest TEXT NOT NULL, mode TEXT NOT NULL, at REAL NOT NULL);
    CREATE TABLE guild_settings (
        platform TEXT NOT NULL, guild_id TEXT NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (platform, guild_id));
    CREATE TABLE bans (
        platform TEXT NOT NULL, guild_id TEXT NOT NULL, user_id TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '', at REAL NOT NULL,
        PRIMARY KEY (platform, guild_id, user_id));
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, platform TEXT NOT NULL,
        guild_id TEXT, user_id TEXT, action TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
    """,
    # 2: consent, limits, moderation, retention. guild_id '' is the DM scope.
    """
    ALTER TABLE consents ADD COLUMN guild_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE consents ADD COLUMN verified TEXT NOT NULL DEFAULT '';
    ALTER TABLE voice_profiles ADD COLUMN consent_id INTEGER;
    CREATE INDEX consents_by_voice ON consents (platform, user_id, voice_digest);
    CREATE INDEX jobs_by_guild ON jobs (platform, guild_id, created);
    CREATE INDEX jobs_by_status ON jobs (status);
    CREATE INDEX media_by_age ON media (created);
    CREATE TABLE reviews (
        job_id TEXT PRIMARY KEY REFERENCES jobs (job_id) ON DELETE CASCADE,
        platform TEXT NOT NULL, guild_id TEXT NOT NULL DEFAULT '', phrase TEXT,
        created REAL NOT NULL, decision TEXT, decided_by TEXT, decided REAL);
    CREATE TABLE consent_phrases (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, chat_id TEXT NOT NULL,
        draft_id TEXT NOT NULL, phrase TEXT NOT NULL, created REAL NOT NULL,
        PRIMARY KEY (platform, user_id, chat_id));
    """,
    # 3: bounded resources: every accepted upload, for the per-person rate and
    # byte quota. Not tied to users: /forget must not reset a quota. Rows older than a day
    # are dropped as new ones come.
    """
    CREATE TABLE uploads (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, at REAL NOT NULL, bytes INTEGER NOT NULL);
    CREATE INDEX uploads_by_user ON uploads (platform, user_id, at);
    """,
    # 4: moderator scope, data that goes away: the server a draft is made in (a
    # server's moderators erase only what was made there), a video's takedown, and the
    # moderators' log read by scope.
    """
    ALTER TABLE drafts ADD COLUMN guild_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN taken_down REAL;
    CREATE INDEX drafts_by_guild ON drafts (platform, user_id, guild_id);
    CREATE INDEX audit_by_scope ON audit_log (platform, guild_id, at);
    """,
]


class Store:
    """The bot's database. ``await Store.open(path)``; ``await store.close()``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.safety = SafetyRecords(database)
        self._db = database.conn
        self._writing = database.writing
        self._one = database.one

    @classmethod
    async def open(cls, path: Path) -> Store:
        return cls(await Database.open(path, MIGRATIONS))

    async def close(self) -> None:
        await self.database.close()

    async def schema_version(self) -> int:
        return await self.database.schema_version()

    # ---- users and drafts ------------------------------------------------------------
    async def _ensure_user(
        self, db: aiosqlite.Connection, platform: str, user_id: str, name: str = ""
    ) -> None:
        await db.execute(
            "INSERT INTO users (platform, user_id, name, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (platform, user_id) DO NOTHING",
            (platform, user_id, name, time.time()),
        )

    async def get_draft(self, platform: str, user_id: str, chat_id: str) -> Draft | None:
        row = await self._one(
            "SELECT data FROM drafts WHERE platform=? AND user_id=? AND chat_id=?",
            platform,
            user_id,
            chat_id,
        )
        if row is None:
            return None
        data = json.loads(row["data"])
        data["photo_warnings"] = tuple(data.get("photo_warnings", ()))
        return Draft(**data)

    async def put_draft(
        self,
        platform: str,
        user_id: str,
        chat_id: str,
        draft: Draft | None,
        *,
        guild_id: str | None = None,
    ) -> None:
        """Keep (or with None drop) the draft of one chat; ``guild_id``: the server it is
        made in (its moderators may erase it)."""
        async with self._writing() as db:
            if draft is None:
                await db.execute(
                    "DELETE FROM drafts WHERE platform=? AND user_id=? AND chat_id=?",
                    (platform, user_id, chat_id),
                )
                return
            await self._ensure_user(db, platform, user_id)
            await db.execute(
                "INSERT INTO drafts (platform, user_id, chat_id, data, updated, guild_id) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (platform, user_id, chat_id) DO UPDATE SET data=excluded.data, "
                "updated=excluded.updated, guild_id=excluded.guild_id",
                (
                    platform,
                    user_id,
                    chat_id,
                    json.dumps(asdict(draft)),
                    time.time(),
                    guild_id or "",
                ),
            )

    async def remember_media(
        self,
        platform: str,
        user_id: str,
        *,
        voice: tuple[str, float, str | None] | None = None,
        photo: str | None = None,
    ) -> None:
        async with self._writing() as db:
            await self._ensure_user(db, platform, user_id)
            if voice:
                await db.execute(
                    "UPDATE users SET last_voice_hash=?, last_voice_seconds=?, last_voice_text=? "
                    "WHERE platform=? AND user_id=?",
                    (*voice, platform, user_id),
                )
            if photo:
                await db.execute(
                    "UPDATE users SET last_photo_hash=? WHERE platform=? AND user_id=?",
                    (photo, platform, user_id),
                )

    async def last_media(self, platform: str, user_id: str) -> LastMedia | None:
        row = await self._one(
            "SELECT last_voice_hash, last_voice_seconds, last_voice_text, last_photo_hash "
            "FROM users WHERE platform=? AND user_id=?",
            platform,
            user_id,
        )
        return LastMedia(*row) if row is not None else None

    # ---- media -------------------------------------------------------------------------
    async def put_media(self, digest: str, kind: str, size: int, mime: str, path: Path) -> None:
        async with self._writing() as db:
            await db.execute(
                "INSERT INTO media (digest, kind, size, mime, path, created) VALUES (?, ?, ?, "
                "?, ?, ?) "
                "ON CONFLICT (digest) DO NOTHING",
                (digest, kind, size, mime, str(path), time.time()),
            )

    async def media_path(self, digest: str) -> Path | None:
        """Where the bot keeps an upload (None: not stored, or expired by retention)."""
        row = await self._one("SELECT path FROM media WHERE digest=?", digest)
        return Path(row[0]) if row else None

    # ---- voice profiles ----------------------------------------------------------------
    async def save_voice(
        self,
        platform: str,
        user_id: str,
        name: str,
        digest: str,
        seconds: float,
        transcript: str | None,
        *,
        max_voices: int = -1,
    ) -> bool:
        """Save (or replace) a named voice; False when the user already has ``max_voices``
        others (negative: no cap). Counted and written in one transaction."""
        async with self._writing() as db:
            if max_voices >= 0:
                row = await self._one(
                    "SELECT COUNT(*) FROM voice_profiles WHERE platform=? AND user_id=? "
                    "AND name<>?",
                    platform,
                    user_id,
                    name,
                )
                if row is not None and int(row[0]) >= max_voices:
                    return False
            await self._ensure_user(db, platform, user_id)
            await db.execute(
                "INSERT INTO voice_profiles (platform, user_id, name, media_digest, seconds, "
                "transcript, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (platform, user_id, name) DO UPDATE SET "
                "media_digest=excluded.media_digest, seconds=excluded.seconds, "
                "transcript=excluded.transcript",
                (platform, user_id, name, digest, seconds, transcript, time.time()),
            )
            return True

    async def delete_voice(self, platform: str, user_id: str, name: str) -> bool:
        """Forget one saved voice (its upload ages out with the other media); False: none."""
        async with self._writing() as db:
            cur = await db.execute(
                "DELETE FROM voice_profiles WHERE platform=? AND user_id=? AND name=?",
                (platform, user_id, name),
            )
            return (cur.rowcount or 0) > 0

    # ---- upload rate and byte quota ------------------------------------------------------
    async def upload_usage(self, platform: str, user_id: str, now: float) -> UploadUsage:
        cur = await self._db.execute(
            "SELECT at, bytes FROM uploads WHERE platform=? AND user_id=? AND at>?",
            (platform, user_id, now - DAY),
        )
        sizes = tuple((float(r[0]), int(r[1])) for r in await cur.fetchall())
        return UploadUsage(tuple(at for at, _ in sizes if at > now - HOUR), sizes)

    async def add_upload(
        self,
        platform: str,
        user_id: str,
        size: int,
        limits: UploadLimits,
        *,
        now: float | None = None,
    ) -> None:
        """Count the person's uploads and record this one in one IMMEDIATE transaction;
        raises :class:`~bot.safety.policy.LimitExceeded` (nothing written) when a limit says no."""
        now = time.time() if now is None else now
        async with self._writing() as db:
            if not db.in_transaction:
                await db.execute("BEGIN IMMEDIATE")
            await db.execute(
                "DELETE FROM uploads WHERE platform=? AND user_id=? AND at<=?",
                (platform, user_id, now - DAY),
            )
            denial = decide_upload(limits, await self.upload_usage(platform, user_id, now), size)
            if denial is not None:
                raise LimitExceeded(denial)
            await db.execute(
                "INSERT INTO uploads (platform, user_id, at, bytes) VALUES (?, ?, ?, ?)",
                (platform, user_id, now, size),
            )

    async def voices(self, platform: str, user_id: str) -> list[VoiceProfile]:
        cur = await self._db.execute(
            "SELECT name, media_digest, seconds, transcript FROM voice_profiles "
            "WHERE platform=? AND user_id=? ORDER BY name",
            (platform, user_id),
        )
        return [VoiceProfile(r[0], r[1], r[2], r[3]) for r in await cur.fetchall()]

    # ---- jobs and consents -------------------------------------------------------------
    async def add_job(
        self,
        job: RenderJob,
        guild_id: str | None,
        consent_mode: str = "attest",
        *,
        limits: RateLimits | None = None,
        status: str = JobState.QUEUED,
        verified: str = "",
        now: float | None = None,
    ) -> bool:
        """Record a job and its consent; False when this job id exists already (a re-send).

        With ``limits``, usage is counted and the job inserted in one IMMEDIATE transaction
        under the writer lock, so concurrent requests cannot overshoot a limit (raises
        :class:`~bot.safety.policy.LimitExceeded`, nothing written).
        """
        now = time.time() if now is None else now
        async with self._writing() as db:
            if not db.in_transaction:
                await db.execute("BEGIN IMMEDIATE")  # also holds off other processes
            if await self._one("SELECT 1 FROM jobs WHERE job_id=?", job.job_id):
                return False
            if limits is not None:
                usage = await self._usage(job.platform, job.user_id, guild_id, now)
                denial = decide_limits(limits, usage, server=guild_id is not None)
                if denial is not None:
                    raise LimitExceeded(denial)
            await self._ensure_user(db, job.platform, job.user_id)
            await db.execute(
                "INSERT INTO jobs (job_id, platform, user_id, chat_id, guild_id, status, "
                "payload, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.job_id,
                    job.platform,
                    job.user_id,
                    job.chat_id,
                    guild_id,
                    status,
                    job.to_json(),
                    now,
                ),
            )
            await db.execute(
                "INSERT INTO consents (platform, user_id, job_id, voice_digest, photo_digest, "
                "script_digest, mode, at, guild_id, verified) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.platform,
                    job.user_id,
                    job.job_id,
                    job.voice_hash,
                    job.photo_hash,
                    hashlib.sha256(job.script.encode()).hexdigest(),
                    consent_mode,
                    now,
                    guild_id or "",
                    verified,
                ),
            )
            await db.execute(
                "INSERT INTO audit_log (at, platform, guild_id, user_id, action, detail) "
                "VALUES (?, ?, ?, ?, 'render_requested', ?)",
                (now, job.platform, guild_id, job.user_id, job.job_id),
            )
            if verified:
                await attach_voice_consent(db, job.platform, job.user_id, job.job_id)
            return True

    async def _usage(self, platform: str, user_id: str, guild_id: str | None, now: float) -> Usage:
        """Counts for the limits (inside add_job's transaction)."""
        cur = await self._db.execute(
            "SELECT created FROM jobs WHERE platform=? AND user_id=? AND created>?",
            (platform, user_id, now - DAY),
        )
        user_day = tuple(r[0] for r in await cur.fetchall())
        server_hour: tuple[float, ...] = ()
        if guild_id is not None:
            cur = await self._db.execute(
                "SELECT created FROM jobs WHERE platform=? AND guild_id=? AND created>?",
                (platform, guild_id, now - HOUR),
            )
            server_hour = tuple(r[0] for r in await cur.fetchall())
        row = await self._one(
            "SELECT COUNT(*) FROM jobs WHERE platform=? AND user_id=? "
            f"AND status IN {sql_states(OPEN_STATES)}",
            platform,
            user_id,
        )
        user_open = int(row[0]) if row else 0
        row = await self._one(f"SELECT COUNT(*) FROM jobs WHERE status IN {_LIVE}")
        queue_open = int(row[0]) if row else 0
        return Usage(user_day, user_open, server_hour, queue_open)

    async def move_job(
        self,
        job_id: str,
        to: JobState,
        *,
        error: str = "",
        output_bytes: int = 0,
        timings: dict[str, float] | None = None,
    ) -> bool:
        """Move a job's row to ``to`` when the transition table allows it from the row's
        state (one guarded UPDATE); False when it does not (already there, or moved on)."""
        now = time.time()
        allowed = predecessors(JobState(to))
        if not allowed:
            return False
        async with self._writing() as db:
            cur = await db.execute(
                "UPDATE jobs SET status=?, error=CASE WHEN ?='' THEN error ELSE ? END, "
                "output_bytes=CASE WHEN ?=0 THEN output_bytes ELSE ? END, "
                "timings=CASE WHEN ?='{}' THEN timings ELSE ? END, "
                f"started=COALESCE(started, CASE WHEN ?='{JobState.RUNNING}' THEN ? END), "
                f"finished=CASE WHEN ? IN {sql_states(FINAL_STATES)} THEN ? ELSE "
                "finished END "
                f"WHERE job_id=? AND status IN {sql_states(allowed)}",
                (
                    to,
                    error,
                    error,
                    output_bytes,
                    output_bytes,
                    json.dumps(timings or {}),
                    json.dumps(timings or {}),
                    to,
                    now,
                    to,
                    now,
                    job_id,
                ),
            )
            return (cur.rowcount or 0) > 0

    async def remove_job(self, job_id: str) -> None:
        """Forget a job the queue never took (its consent and audit rows too): as if the
        person had not asked."""
        async with self._writing() as db:
            await db.execute(
                "UPDATE voice_profiles SET consent_id=NULL, consent_at=NULL WHERE consent_id IN "
                "(SELECT id FROM consents WHERE job_id=?)",
                (job_id,),
            )
            await db.execute("DELETE FROM consents WHERE job_id=?", (job_id,))
            await db.execute(
                "DELETE FROM audit_log WHERE action='render_requested' AND detail=?", (job_id,)
            )
            await db.execute("DELETE FROM jobs WHERE job_id=?", (job_id,))

    async def job_state(self, job_id: str) -> JobState | None:
        row = await self._one("SELECT status FROM jobs WHERE job_id=?", job_id)
        return JobState(row[0]) if row else None

    async def live_jobs(self, created_before: float) -> list[LiveJob]:
        """Jobs held as live (queued, on a worker) created before ``created_before``."""
        cur = await self._db.execute(
            f"SELECT payload, status, created FROM jobs WHERE status IN {_LIVE} AND created<? "
            "ORDER BY created",
            (created_before,),
        )
        return [
            LiveJob(RenderJob.from_json(r[0]), JobState(r[1]), r[2]) for r in await cur.fetchall()
        ]

    async def jobs(
        self, platform: str, user_id: str, *, limit: int = 5, open_only: bool = False
    ) -> list[JobRow]:
        where = f" AND status IN {_LIVE}" if open_only else ""
        cur = await self._db.execute(
            f"SELECT job_id, status, error, created, output_bytes FROM jobs WHERE platform=? "
            f"AND user_id=?{where} "
            "ORDER BY created DESC LIMIT ?",
            (platform, user_id, limit),
        )
        return [JobRow(*r) for r in await cur.fetchall()]
