"""The safety records in SQLite: server policies, bans, reviews, consent phrases, the audit
and moderators' log, takedowns, erasure (``/forget``, ``/mod purge``) and the retention purge.

A view over the bot's one :class:`~bot.db.Database` (passed in; the store holds the other
view): every write goes through its one writer. Scopes: ``""`` is direct messages, a server
id a Discord server or Telegram group, ``"*"`` (:data:`~bot.safety.authority.EVERYWHERE`)
an operator-wide ban. Functions that take ``scope: str | None`` read everywhere for None.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from bot.contract.jobs import LIVE_STATES, OPEN_STATES, JobState, RenderJob, sql_states
from bot.db import Database
from bot.safety.authority import EVERYWHERE

__all__ = [
    "SafetyRecords",
    "RenderRecord",
    "OpenJob",
    "ReviewRow",
    "JobPlace",
    "LogEntry",
    "ForgetResult",
    "PurgeRows",
    "ExpiredReview",
    "attach_voice_consent",
]

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
    voices: int
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


async def attach_voice_consent(
    db: aiosqlite.Connection, platform: str, user_id: str, job_id: str
) -> None:
    """Saved voices with this job's voice now carry its (verified) consent record."""
    await db.execute(
        "UPDATE voice_profiles SET consent_id=c.id, consent_at=c.at FROM "
        "(SELECT id, at, voice_digest FROM consents WHERE job_id=?) AS c "
        "WHERE voice_profiles.platform=? AND voice_profiles.user_id=? "
        "AND voice_profiles.media_digest=c.voice_digest",
        (job_id, platform, user_id),
    )


async def _audit(
    db: aiosqlite.Connection, platform: str, scope: str, actor: str, action: str, detail: str
) -> None:
    await db.execute(
        "INSERT INTO audit_log (at, platform, guild_id, user_id, action, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (time.time(), platform, scope, actor, action, detail),
    )


class SafetyRecords:
    """Safety's tables and the erasures that reach every table. ``SafetyRecords(db)``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._db = database.conn
        self._writing = database.writing
        self._one = database.one

    # ---- server policy ---------------------------------------------------------------
    async def guild_policy(self, platform: str, scope: str) -> dict[str, Any]:
        row = await self._one(
            "SELECT data FROM guild_settings WHERE platform=? AND guild_id=?", platform, scope
        )
        return dict(json.loads(row["data"])) if row else {}

    async def edit_guild_policy(
        self, platform: str, scope: str, edit: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Read-modify-write one server's overrides under the writer lock; returns them."""
        async with self._writing() as db:
            row = await self._one(
                "SELECT data FROM guild_settings WHERE platform=? AND guild_id=?", platform, scope
            )
            data = edit(dict(json.loads(row["data"])) if row else {})
            await db.execute(
                "INSERT INTO guild_settings (platform, guild_id, data) VALUES (?, ?, ?) "
                "ON CONFLICT (platform, guild_id) DO UPDATE SET data=excluded.data",
                (platform, scope, json.dumps(data, sort_keys=True)),
            )
            return data

    # ---- bans and the moderators' log -----------------------------------------------
    async def ban(self, platform: str, scope: str, user_id: str, reason: str, by: str) -> None:
        """Ban in one scope ("" direct messages, a server, or ``EVERYWHERE``)."""
        async with self._writing() as db:
            await db.execute(
                "INSERT INTO bans (platform, guild_id, user_id, reason, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (platform, guild_id, user_id) DO UPDATE SET reason=excluded.reason",
                (platform, scope, user_id, reason, time.time()),
            )
            await _audit(db, platform, scope, by, "ban", user_id)

    async def unban(self, platform: str, scope: str, user_id: str, by: str) -> bool:
        async with self._writing() as db:
            cur = await db.execute(
                "DELETE FROM bans WHERE platform=? AND guild_id=? AND user_id=?",
                (platform, scope, user_id),
            )
            await _audit(db, platform, scope, by, "unban", user_id)
            return cur.rowcount > 0

    async def ban_in(self, platform: str, scope: str, user_id: str) -> str | None:
        """The scope of the ban that stops this user here: ``EVERYWHERE`` (the operators'),
        ``scope`` (this server's or the direct messages'), or None."""
        row = await self._one(
            "SELECT guild_id FROM bans WHERE platform=? AND user_id=? AND guild_id IN (?, ?) "
            "ORDER BY guild_id=? DESC LIMIT 1",
            platform,
            user_id,
            scope,
            EVERYWHERE,
            EVERYWHERE,
        )
        return str(row[0]) if row else None

    async def is_banned(self, platform: str, scope: str, user_id: str) -> bool:
        return await self.ban_in(platform, scope, user_id) is not None

    async def log_action(
        self, platform: str, scope: str, actor: str, action: str, detail: str = ""
    ) -> None:
        async with self._writing() as db:
            await _audit(db, platform, scope, actor, action, detail)

    async def mod_log(self, platform: str, scope: str | None, limit: int = 10) -> list[LogEntry]:
        """Moderators' actions (bans, purges, cancels, reviews, takedowns, policy edits) in
        one scope, newest first; None: everywhere (operators)."""
        where, args = _scope_sql(scope)
        skip = ",".join("?" * len(_NOT_MODERATION))
        cur = await self._db.execute(
            "SELECT at, COALESCE(guild_id, ''), COALESCE(user_id, ''), action, detail "
            f"FROM audit_log WHERE platform=? AND action NOT IN ({skip}){where} "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (platform, *_NOT_MODERATION, *args, limit),
        )
        return [LogEntry(*r) for r in await cur.fetchall()]

    async def recent_renders(
        self, platform: str, scope: str | None, limit: int = 10
    ) -> list[RenderRecord]:
        where, args = _scope_sql(scope, "c.guild_id")
        cur = await self._db.execute(
            "SELECT c.job_id, c.user_id, c.at, COALESCE(j.status, 'forgotten'), c.mode, "
            "c.verified, c.voice_digest, c.photo_digest, c.script_digest, c.guild_id, "
            "j.taken_down IS NOT NULL "
            f"FROM consents c LEFT JOIN jobs j ON j.job_id = c.job_id WHERE c.platform=?{where} "
            "ORDER BY c.at DESC, c.id DESC LIMIT ?",
            (platform, *args, limit),
        )
        return [
            RenderRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], bool(r[10]))
            for r in await cur.fetchall()
        ]

    # ---- queue view, jobs and reviews -----------------------------------------------
    async def open_in_scope(self, platform: str, scope: str | None) -> list[OpenJob]:
        where, args = _scope_sql(scope)
        cur = await self._db.execute(
            "SELECT job_id, user_id, status, created, COALESCE(guild_id, '') FROM jobs "
            f"WHERE platform=?{where} AND status IN {_OPEN} ORDER BY created",
            (platform, *args),
        )
        return [OpenJob(*r) for r in await cur.fetchall()]

    async def job_place(self, ref: str) -> JobPlace | None:
        """A job by id or id prefix (the newest match), with where it was made."""
        row = await self._one(
            "SELECT job_id, platform, COALESCE(guild_id, ''), user_id, chat_id, status, "
            "taken_down IS NOT NULL FROM jobs WHERE job_id >= ? AND job_id < ? "
            "ORDER BY created DESC LIMIT 1",
            ref,
            ref + "\uffff",
        )
        if row is None:
            return None
        return JobPlace(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]))

    async def take_down(self, job_id: str, by: str, reason: str) -> None:
        """Mark a job's video taken down (its file is deleted by the caller); the consent
        record and the audit entry stay."""
        async with self._writing() as db:
            await db.execute("UPDATE jobs SET taken_down=? WHERE job_id=?", (time.time(), job_id))
            row = await self._one(
                "SELECT platform, COALESCE(guild_id, '') FROM jobs WHERE job_id=?", job_id
            )
            if row is not None:
                detail = f"{job_id} {reason}".strip()
                await _audit(db, row[0], row[1], by, "takedown", detail)

    async def put_review(self, job: RenderJob, guild_id: str | None, phrase: str | None) -> None:
        async with self._writing() as db:
            await db.execute(
                "INSERT INTO reviews (job_id, platform, guild_id, phrase, created) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING",
                (job.job_id, job.platform, guild_id or "", phrase, time.time()),
            )

    async def media_paths(self, digests: tuple[str, ...]) -> list[Path]:
        """Files of these uploads that still exist (retention may have removed them)."""
        out = []
        for digest in digests:
            row = await self._one("SELECT path FROM media WHERE digest=?", digest)
            if row is not None and Path(row[0]).is_file():
                out.append(Path(row[0]))
        return out

    async def pending_reviews(self, platform: str, scope: str | None) -> list[ReviewRow]:
        where, args = _scope_sql(scope, "COALESCE(j.guild_id, '')")
        cur = await self._db.execute(
            "SELECT j.payload, j.guild_id, r.phrase, j.created FROM jobs j "
            f"LEFT JOIN reviews r ON r.job_id = j.job_id WHERE j.platform=?{where} "
            f"AND j.status='{JobState.REVIEW}' ORDER BY j.created",
            (platform, *args),
        )
        return [
            ReviewRow(RenderJob.from_json(r[0]), r[1], r[2], r[3]) for r in await cur.fetchall()
        ]

    async def decide_review(self, job_id: str, approve: bool, by: str) -> ReviewRow | None:
        """Approve (status queued, consent verified by ``by``) or deny a pending review.
        None when it is no longer pending (a second moderator's press changes nothing)."""
        now = time.time()
        async with self._writing() as db:
            row = await self._one(
                "SELECT j.payload, j.guild_id, r.phrase, j.created, j.platform, j.user_id "
                "FROM jobs j LEFT JOIN reviews r ON r.job_id = j.job_id "
                f"WHERE j.job_id=? AND j.status='{JobState.REVIEW}'",
                job_id,
            )
            if row is None:
                return None
            status = JobState.QUEUED if approve else JobState.DENIED
            await db.execute(
                f"UPDATE jobs SET status=?, finished=CASE WHEN ?='{JobState.DENIED}' THEN ? END "
                "WHERE job_id=?",
                (status, status, now, job_id),
            )
            await db.execute(
                "UPDATE reviews SET decision=?, decided_by=?, decided=? WHERE job_id=?",
                (status, by, now, job_id),
            )
            if approve:
                await db.execute(
                    "UPDATE consents SET verified=? WHERE job_id=?", (f"moderator:{by}", job_id)
                )
                await attach_voice_consent(db, row["platform"], row["user_id"], job_id)
            scope = row["guild_id"] or ""
            await _audit(db, row["platform"], scope, by, f"review_{status}", job_id)
            return ReviewRow(RenderJob.from_json(row[0]), row[1], row[2], row[3])

    async def voice_consent(self, platform: str, user_id: str, digest: str) -> str | None:
        """How this user's voice was last verified ("asr", "moderator:ID"), or None."""
        row = await self._one(
            "SELECT verified FROM consents WHERE platform=? AND user_id=? AND voice_digest=? "
            "AND verified != '' ORDER BY at DESC LIMIT 1",
            platform,
            user_id,
            digest,
        )
        return str(row[0]) if row else None

    async def link_voice_consent(self, platform: str, user_id: str, name: str) -> None:
        """A newly saved voice takes the latest verified consent for its recording."""
        async with self._writing() as db:
            await db.execute(
                "UPDATE voice_profiles SET consent_id=c.id, consent_at=c.at FROM "
                "(SELECT id, at FROM consents WHERE platform=? AND user_id=? AND verified != '' "
                " AND voice_digest=(SELECT media_digest FROM voice_profiles WHERE platform=? "
                " AND user_id=? AND name=?) ORDER BY at DESC LIMIT 1) AS c "
                "WHERE platform=? AND user_id=? AND name=?",
                (platform, user_id, platform, user_id, name, platform, user_id, name),
            )

    # ---- consent phrases -------------------------------------------------------------
    async def put_phrase(
        self, platform: str, user_id: str, chat_id: str, draft_id: str, phrase: str
    ) -> None:
        async with self._writing() as db:
            await db.execute(
                "INSERT INTO consent_phrases (platform, user_id, chat_id, draft_id, phrase, "
                "created) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform, user_id, chat_id) "
                "DO UPDATE SET draft_id=excluded.draft_id, phrase=excluded.phrase, "
                "created=excluded.created",
                (platform, user_id, chat_id, draft_id, phrase, time.time()),
            )

    async def phrase_for(
        self, platform: str, user_id: str, chat_id: str, draft_id: str
    ) -> str | None:
        row = await self._one(
            "SELECT phrase FROM consent_phrases WHERE platform=? AND user_id=? AND chat_id=? "
            "AND draft_id=?",
            platform,
            user_id,
            chat_id,
            draft_id,
        )
        return str(row[0]) if row else None

    # ---- erasure: /forget, /mod purge --------------------------------------------------
    async def erase(
        self,
        platform: str,
        user_id: str,
        scope: str | None = None,
        *,
        actor: str | None = None,
        action: str = "forget",
    ) -> ForgetResult:
        """Delete what a user handed over and what was made from it.

        ``scope`` None (the user's /forget, an operator's purge): everything of theirs; a
        scope (a server moderator's purge): their drafts and jobs there only, never their
        saved voices or last uploads. Job rows, consents and the audit log keep only ids,
        times and hashes (the job rows keep counting for the limits, so erasing does not
        reset them); media files no remaining row uses are dropped."""
        who = (platform, user_id)
        async with self._writing() as db:
            drafts, digests = await self._erase_drafts(db, who, scope)
            voices = 0
            if scope is None:
                voices, personal = await self._erase_personal(db, who)
                digests |= personal
            jobs = await self._erase_jobs(db, who, scope)
            for job in jobs:
                digests |= {job.voice_hash, job.photo_hash}
            digests.discard("")
            paths, dropped = await self._drop_unused_media(db, digests)
            detail = f"drafts={drafts} voices={voices} jobs={len(jobs)} media={len(paths)}"
            if actor is not None and actor != user_id:
                detail = f"{user_id} {detail}"  # a moderator's purge names whose data
            where = scope if scope is not None else ("" if action == "forget" else EVERYWHERE)
            await _audit(db, platform, where, actor or user_id, action, detail)
        return ForgetResult(
            drafts,
            voices,
            sum(1 for j in jobs if j.script or j.voice_text),
            paths,
            dropped,
            tuple(j.job_id for j in jobs),
            tuple(j.job_id for j in jobs if j.open),
        )

    async def _erase_drafts(
        self, db: aiosqlite.Connection, who: tuple[str, str], scope: str | None
    ) -> tuple[int, set[str]]:
        where, args = _scope_sql(scope, "guild_id")
        cur = await db.execute(
            f"SELECT chat_id, data FROM drafts WHERE platform=? AND user_id=?{where}", (*who, *args)
        )
        rows = list(await cur.fetchall())
        digests: set[str] = set()
        for _, data in rows:
            d = json.loads(data)
            digests |= {d.get("voice_hash") or "", d.get("photo_hash") or ""}
        cur = await db.execute(
            f"DELETE FROM drafts WHERE platform=? AND user_id=?{where}", (*who, *args)
        )
        for chat_id, _ in rows:
            await db.execute(
                "DELETE FROM consent_phrases WHERE platform=? AND user_id=? AND chat_id=?",
                (*who, chat_id),
            )
        return cur.rowcount or 0, digests

    async def _erase_personal(
        self, db: aiosqlite.Connection, who: tuple[str, str]
    ) -> tuple[int, set[str]]:
        """Saved voices, last uploads and any phrase: the person's own, tied to no server."""
        cur = await db.execute(
            "SELECT media_digest FROM voice_profiles WHERE platform=? AND user_id=?", who
        )
        digests = {r[0] for r in await cur.fetchall()}
        voices = (
            await db.execute("DELETE FROM voice_profiles WHERE platform=? AND user_id=?", who)
        ).rowcount or 0
        row = await self._one(
            "SELECT last_voice_hash, last_photo_hash FROM users WHERE platform=? AND user_id=?",
            *who,
        )
        if row is not None:
            digests |= {row[0] or "", row[1] or ""}
        await db.execute(
            "UPDATE users SET name='', last_voice_hash=NULL, last_voice_seconds=NULL, "
            "last_voice_text=NULL, last_photo_hash=NULL WHERE platform=? AND user_id=?",
            who,
        )
        await db.execute("DELETE FROM consent_phrases WHERE platform=? AND user_id=?", who)
        return voices, digests

    async def _erase_jobs(
        self, db: aiosqlite.Connection, who: tuple[str, str], scope: str | None
    ) -> list[_ErasedJob]:
        """Each job's words and hashes leave its payload; open ones become cancelled and
        their review (with its phrase) is closed."""
        where, args = _scope_sql(scope)
        cur = await db.execute(
            f"SELECT job_id, payload, status FROM jobs WHERE platform=? AND user_id=?{where}",
            (*who, *args),
        )
        erased = []
        for job_id, payload, status in await cur.fetchall():
            job = RenderJob.from_json(payload)
            erased.append(
                _ErasedJob(
                    job_id, job.script, job.voice_text, job.voice_hash, job.photo_hash, status
                )
            )
            await db.execute(
                "UPDATE jobs SET payload=?, status=CASE WHEN status IN "
                f"{_OPEN} THEN '{JobState.CANCELLED}' ELSE status END, "
                "finished=COALESCE(finished, ?) WHERE job_id=?",
                (_scrub(payload, erase=True), time.time(), job_id),
            )
            await db.execute(
                "UPDATE reviews SET phrase=NULL, decision=COALESCE(decision, 'cancelled'), "
                "decided=COALESCE(decided, ?) WHERE job_id=?",
                (time.time(), job_id),
            )
        return erased

    async def _drop_unused_media(
        self, db: aiosqlite.Connection, digests: set[str]
    ) -> tuple[tuple[Path, ...], tuple[str, ...]]:
        """Media rows (and their files, returned) that no remaining row uses."""
        paths: list[Path] = []
        dropped: list[str] = []
        for digest in sorted(digests):
            if await self._in_use(digest):
                continue
            row = await self._one("SELECT path FROM media WHERE digest=?", digest)
            if row is not None:
                paths.append(Path(row[0]))
                await db.execute("DELETE FROM media WHERE digest=?", (digest,))
            dropped.append(digest)
        return tuple(paths), tuple(dropped)

    async def _in_use(self, digest: str) -> bool:
        """Content-addressed media may be shared: anyone's saved voice, last upload, draft,
        or open job (the erased rows are already gone or closed)."""
        checks = (
            ("SELECT 1 FROM voice_profiles WHERE media_digest=?", (digest,)),
            ("SELECT 1 FROM users WHERE last_voice_hash=? OR last_photo_hash=?", (digest, digest)),
            ("SELECT 1 FROM drafts WHERE instr(data, ?) > 0", (digest,)),
            (
                f"SELECT 1 FROM consents c JOIN jobs j ON j.job_id=c.job_id WHERE j.status IN "
                f"{_OPEN} AND (c.voice_digest=? OR c.photo_digest=?)",
                (digest, digest),
            ),
        )
        for sql, args in checks:
            if await self._one(sql, *args) is not None:
                return True
        return False

    # ---- retention -------------------------------------------------------------------
    async def purge_rows(
        self, *, media_before: float, scripts_before: float, reviews_before: float = 0.0
    ) -> PurgeRows:
        """Expire uploads created before ``media_before`` (saved voices and open jobs keep
        theirs), drafts idle since then, the scripts of jobs finished before
        ``scripts_before``, and reviews asked for before ``reviews_before`` (they free the
        requester's slot). Returns the media files to delete and the reviews to announce."""
        async with self._writing() as db:
            expired = await self._expire_reviews(db, reviews_before)
            cur = await db.execute(
                "SELECT digest, path FROM media m WHERE created < ? "
                "AND NOT EXISTS (SELECT 1 FROM voice_profiles v WHERE v.media_digest=m.digest) "
                "AND NOT EXISTS (SELECT 1 FROM consents c JOIN jobs j ON j.job_id=c.job_id "
                f"  WHERE j.status IN {_OPEN} AND m.digest IN (c.voice_digest, c.photo_digest))",
                (media_before,),
            )
            rows = await cur.fetchall()
            for digest, _ in rows:
                await db.execute("DELETE FROM media WHERE digest=?", (digest,))
                await db.execute(
                    "UPDATE users SET last_voice_hash=NULL, last_voice_seconds=NULL, "
                    "last_voice_text=NULL WHERE last_voice_hash=?",
                    (digest,),
                )
                await db.execute(
                    "UPDATE users SET last_photo_hash=NULL WHERE last_photo_hash=?", (digest,)
                )
            drafts = (
                await db.execute("DELETE FROM drafts WHERE updated < ?", (media_before,))
            ).rowcount
            cur = await db.execute(
                "SELECT job_id, payload FROM jobs WHERE finished IS NOT NULL AND finished < ? "
                "AND json_extract(payload, '$.script') != ''",
                (scripts_before,),
            )
            old = list(await cur.fetchall())
            for job_id, payload in old:
                await db.execute(
                    "UPDATE jobs SET payload=? WHERE job_id=?", (_scrub(payload), job_id)
                )
            return PurgeRows(tuple(Path(r[1]) for r in rows), drafts, len(old), expired)

    async def _expire_reviews(
        self, db: aiosqlite.Connection, before: float
    ) -> tuple[ExpiredReview, ...]:
        cur = await db.execute(
            "SELECT job_id, platform, chat_id, COALESCE(guild_id, '') FROM jobs "
            f"WHERE status='{JobState.REVIEW}' AND created < ?",
            (before,),
        )
        rows = list(await cur.fetchall())
        now = time.time()
        for job_id, platform, _, scope in rows:
            await db.execute(
                f"UPDATE jobs SET status='{JobState.EXPIRED}', finished=? WHERE job_id=?",
                (now, job_id),
            )
            await db.execute(
                "UPDATE reviews SET decision='expired', decided=?, phrase=NULL WHERE job_id=?",
                (now, job_id),
            )
            await _audit(db, platform, scope, "retention", "review_expired", job_id)
        return tuple(ExpiredReview(r[0], r[1], r[2]) for r in rows)


@dataclass(frozen=True)
class _ErasedJob:
    job_id: str
    script: str
    voice_text: str | None
    voice_hash: str
    photo_hash: str
    status: str

    @property
    def open(self) -> bool:
        return self.status in LIVE_STATES
