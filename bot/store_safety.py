"""The store's safety queries (issue 7): server policies, bans, reviews, consent phrases,
audit, /forget and the retention purge. Mixed into :class:`bot.store.Store`; every write goes
through the store's one writer (``_writing``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.jobs import RenderJob

if TYPE_CHECKING:
    import aiosqlite

__all__ = [
    "SafetyQueries",
    "RenderRecord",
    "OpenJob",
    "ReviewRow",
    "ForgetResult",
    "PurgeRows",
    "FINAL",
]

FINAL = ("done", "failed", "invalid", "cancelled", "denied")
_OPEN = "('queued','running','review')"


@dataclass(frozen=True)
class RenderRecord:
    """One audited render: who, when, and hashes of what (never the content)."""

    job_id: str
    user_id: str
    at: float
    status: str
    mode: str
    verified: str
    voice: str
    photo: str
    script: str


@dataclass(frozen=True)
class OpenJob:
    job_id: str
    user_id: str
    status: str
    created: float


@dataclass(frozen=True)
class ReviewRow:
    job: RenderJob
    guild_id: str | None
    phrase: str | None
    created: float


@dataclass(frozen=True)
class ForgetResult:
    drafts: int
    voices: int
    jobs: int
    media_paths: tuple[Path, ...]
    job_ids: tuple[str, ...]  # every job of the user (their outputs are removed too)
    open_job_ids: tuple[str, ...]  # queued or running: to cancel in the queue


@dataclass(frozen=True)
class PurgeRows:
    media_paths: tuple[Path, ...]
    drafts: int
    scripts: int


def _scrub(payload: str) -> str:
    """A job payload without its words: the script and transcript go, hashes stay."""
    data = json.loads(payload)
    data["script"], data["voice_text"] = "", None
    return json.dumps(data, sort_keys=True)


class SafetyQueries:
    """Mixin: needs ``_db``, ``_writing`` and ``_one`` from :class:`bot.store.Store`."""

    if TYPE_CHECKING:
        _db: aiosqlite.Connection
        _writing: Callable[[], AbstractAsyncContextManager[aiosqlite.Connection]]

        async def _one(self, sql: str, *args: Any) -> aiosqlite.Row | None: ...

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
        async with self._writing() as db:
            await db.execute(
                "INSERT INTO bans (platform, guild_id, user_id, reason, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (platform, guild_id, user_id) DO UPDATE SET reason=excluded.reason",
                (platform, scope, user_id, reason, time.time()),
            )
            await self._audit(db, platform, scope, by, "ban", user_id)

    async def unban(self, platform: str, scope: str, user_id: str, by: str) -> bool:
        async with self._writing() as db:
            cur = await db.execute(
                "DELETE FROM bans WHERE platform=? AND guild_id=? AND user_id=?",
                (platform, scope, user_id),
            )
            await self._audit(db, platform, scope, by, "unban", user_id)
            return cur.rowcount > 0

    async def is_banned(self, platform: str, scope: str, user_id: str) -> bool:
        row = await self._one(
            "SELECT 1 FROM bans WHERE platform=? AND guild_id=? AND user_id=?",
            platform,
            scope,
            user_id,
        )
        return row is not None

    async def log_action(
        self, platform: str, scope: str, actor: str, action: str, detail: str = ""
    ) -> None:
        async with self._writing() as db:
            await self._audit(db, platform, scope, actor, action, detail)

    @staticmethod
    async def _audit(
        db: aiosqlite.Connection, platform: str, scope: str, actor: str, action: str, detail: str
    ) -> None:
        await db.execute(
            "INSERT INTO audit_log (at, platform, guild_id, user_id, action, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), platform, scope, actor, action, detail),
        )

    async def recent_renders(
        self, platform: str, scope: str, limit: int = 10
    ) -> list[RenderRecord]:
        cur = await self._db.execute(
            "SELECT c.job_id, c.user_id, c.at, COALESCE(j.status, 'forgotten'), c.mode, "
            "c.verified, c.voice_digest, c.photo_digest, c.script_digest "
            "FROM consents c LEFT JOIN jobs j ON j.job_id = c.job_id "
            "WHERE c.platform=? AND c.guild_id=? ORDER BY c.at DESC, c.id DESC LIMIT ?",
            (platform, scope, limit),
        )
        return [RenderRecord(*r) for r in await cur.fetchall()]

    # ---- queue view and reviews -----------------------------------------------------
    async def open_in_scope(self, platform: str, scope: str) -> list[OpenJob]:
        cur = await self._db.execute(
            f"SELECT job_id, user_id, status, created FROM jobs WHERE platform=? AND "
            f"COALESCE(guild_id, '')=? AND status IN {_OPEN} ORDER BY created",
            (platform, scope),
        )
        return [OpenJob(*r) for r in await cur.fetchall()]

    async def job_scope(self, job_id: str) -> tuple[str, str, str] | None:
        """(platform, scope, status) of a job, for moderators acting on it."""
        row = await self._one(
            "SELECT platform, COALESCE(guild_id, ''), status FROM jobs WHERE job_id=?", job_id
        )
        return (row[0], row[1], row[2]) if row else None

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

    async def pending_reviews(self, platform: str, scope: str) -> list[ReviewRow]:
        cur = await self._db.execute(
            "SELECT j.payload, j.guild_id, r.phrase, j.created FROM jobs j "
            "LEFT JOIN reviews r ON r.job_id = j.job_id WHERE j.platform=? AND "
            "COALESCE(j.guild_id, '')=? AND j.status='review' ORDER BY j.created",
            (platform, scope),
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
                "WHERE j.job_id=? AND j.status='review'",
                job_id,
            )
            if row is None:
                return None
            status = "queued" if approve else "denied"
            await db.execute(
                "UPDATE jobs SET status=?, finished=CASE WHEN ?='denied' THEN ? END WHERE job_id=?",
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
                await self._attach_voice_consent(db, row["platform"], row["user_id"], job_id)
            scope = row["guild_id"] or ""
            await self._audit(db, row["platform"], scope, by, f"review_{status}", job_id)
            return ReviewRow(RenderJob.from_json(row[0]), row[1], row[2], row[3])

    @staticmethod
    async def _attach_voice_consent(
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

    async def mark_verified(self, job_id: str, verified: str) -> None:
        """Record how a job's consent was verified (e.g. "asr") and pass it to saved voices."""
        async with self._writing() as db:
            await db.execute("UPDATE consents SET verified=? WHERE job_id=?", (verified, job_id))
            row = await self._one("SELECT platform, user_id FROM jobs WHERE job_id=?", job_id)
            if row is not None:
                await self._attach_voice_consent(db, row[0], row[1], job_id)

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

    # ---- status sync for the limits --------------------------------------------------
    async def open_jobs_with_age(self) -> list[tuple[str, float]]:
        cur = await self._db.execute(
            "SELECT job_id, created FROM jobs WHERE status IN ('queued','running')"
        )
        return [(r[0], r[1]) for r in await cur.fetchall()]

    # ---- /forget ---------------------------------------------------------------------
    async def forget_user(self, platform: str, user_id: str) -> ForgetResult:
        """Delete what a user handed over: drafts, saved voices, last media, job scripts, and
        media no one else uses. Job rows, consents and the audit log keep only hashes (and
        the job rows keep counting for the limits, so forgetting does not reset them)."""
        who = (platform, user_id)
        async with self._writing() as db:
            digests: set[str] = set()
            cur = await db.execute("SELECT data FROM drafts WHERE platform=? AND user_id=?", who)
            for (data,) in await cur.fetchall():
                d = json.loads(data)
                digests |= {d.get("voice_hash") or "", d.get("photo_hash") or ""}
            drafts = (
                await db.execute("DELETE FROM drafts WHERE platform=? AND user_id=?", who)
            ).rowcount
            cur = await db.execute(
                "SELECT media_digest FROM voice_profiles WHERE platform=? AND user_id=?", who
            )
            digests |= {r[0] for r in await cur.fetchall()}
            voices = (
                await db.execute("DELETE FROM voice_profiles WHERE platform=? AND user_id=?", who)
            ).rowcount
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
            cur = await db.execute(
                "SELECT job_id, payload, status FROM jobs WHERE platform=? AND user_id=?", who
            )
            jobs = await cur.fetchall()
            scrubbed = 0
            for job_id, payload, _ in jobs:
                job = RenderJob.from_json(payload)
                digests |= {job.voice_hash, job.photo_hash}
                if job.script or job.voice_text:
                    scrubbed += 1
                await db.execute(
                    "UPDATE jobs SET payload=?, status=CASE WHEN status IN "
                    f"{_OPEN} THEN 'cancelled' ELSE status END WHERE job_id=?",
                    (_scrub(payload), job_id),
                )
            digests.discard("")
            paths = await self._drop_unshared_media(db, digests, who)
            await self._audit(
                db,
                platform,
                "",
                user_id,
                "forget",
                f"drafts={drafts} voices={voices} jobs={scrubbed} media={len(paths)}",
            )
        return ForgetResult(
            drafts,
            voices,
            scrubbed,
            paths,
            tuple(j[0] for j in jobs),
            tuple(j[0] for j in jobs if j[2] in ("queued", "running")),
        )

    async def _drop_unshared_media(
        self, db: aiosqlite.Connection, digests: set[str], who: tuple[str, str]
    ) -> tuple[Path, ...]:
        paths: list[Path] = []
        for digest in sorted(digests):
            if await self._used_by_others(digest, who):
                continue
            row = await self._one("SELECT path FROM media WHERE digest=?", digest)
            if row is not None:
                paths.append(Path(row[0]))
                await db.execute("DELETE FROM media WHERE digest=?", (digest,))
        return tuple(paths)

    async def _used_by_others(self, digest: str, who: tuple[str, str]) -> bool:
        """Content-addressed media may be shared: another user's voice, draft or open job."""
        other = "NOT (platform=? AND user_id=?)"
        checks = (
            (f"SELECT 1 FROM voice_profiles WHERE media_digest=? AND {other}", (digest, *who)),
            (
                f"SELECT 1 FROM users WHERE (last_voice_hash=? OR last_photo_hash=?) AND {other}",
                (digest, digest, *who),
            ),
            (f"SELECT 1 FROM drafts WHERE instr(data, ?) > 0 AND {other}", (digest, *who)),
            (
                f"SELECT 1 FROM consents c JOIN jobs j ON j.job_id=c.job_id WHERE j.status IN "
                f"{_OPEN} AND (c.voice_digest=? OR c.photo_digest=?) AND NOT (c.platform=? AND "
                "c.user_id=?)",
                (digest, digest, *who),
            ),
        )
        for sql, args in checks:
            if await self._one(sql, *args) is not None:
                return True
        return False

    # ---- retention -------------------------------------------------------------------
    async def purge_rows(self, *, media_before: float, scripts_before: float) -> PurgeRows:
        """Expire uploads created before ``media_before`` (saved voices and open jobs keep
        theirs), drafts idle since then, and the scripts of jobs finished before
        ``scripts_before``. Returns the media files to delete."""
        async with self._writing() as db:
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
            return PurgeRows(tuple(Path(r[1]) for r in rows), drafts, len(old))
