"""The job history: each job's row, its consent and audit entries, moved only as the
transition table allows (the job lifecycle is its one writer)."""

from __future__ import annotations

import hashlib
import json
import time

from bot.chat.store.tables import Table
from bot.contract.jobs import (
    FINAL_STATES,
    LIVE_STATES,
    OPEN_STATES,
    JobState,
    RenderJob,
    predecessors,
    sql_states,
)
from bot.contract.ports import JobActivity, JobRow, LiveJob, Posted, Verification
from bot.safety.policy import (
    DAY,
    HOUR,
    Denial,
    LimitExceeded,
    RateLimits,
    Usage,
    decide_limits,
)
from bot.safety.records import attach_voice_consent
from job_marks import token_for

_LIVE = sql_states(LIVE_STATES)


class JobHistory(Table):
    """The job history: each job's row, its consent and audit entries, moved only as the
    transition table allows (the job lifecycle is its one writer)."""

    async def add(
        self,
        job: RenderJob,
        guild_id: str | None,
        consent_mode: str = "attest",
        *,
        limits: RateLimits | None = None,
        status: str = JobState.QUEUED,
        verified: Verification | None = None,
        now: float | None = None,
    ) -> bool:
        """Record a job and its consent (``verified``: how it was verified and where that
        counts); False when this job id exists already (a re-send).

        With ``limits``, usage is counted and the job inserted in one write transaction
        (serialised across processes too), so concurrent requests cannot overshoot a limit
        (raises :class:`~bot.safety.policy.LimitExceeded`, nothing written).
        """
        now = time.time() if now is None else now
        async with self._writing() as db:
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
                "payload, created, batch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.job_id,
                    job.platform,
                    job.user_id,
                    job.chat_id,
                    guild_id,
                    status,
                    job.to_json(),
                    now,
                    job.batch or None,
                ),
            )
            await db.execute(
                "INSERT INTO consents (platform, user_id, job_id, voice_digest, photo_digest, "
                "script_digest, mode, at, guild_id, method, valid_in, verified_by, "
                "carried_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    verified.method if verified else "",
                    verified.scope if verified else None,
                    verified.by if verified else "",
                    verified.carried_from if verified else None,
                ),
            )
            await db.execute(
                "INSERT INTO audit_log (at, platform, guild_id, user_id, action, detail, mark) "
                "VALUES (?, ?, ?, ?, 'render_requested', ?, ?)",
                (now, job.platform, guild_id, job.user_id, job.job_id, token_for(job.job_id)),
            )
            if verified is not None and verified.carried_from is None:
                await attach_voice_consent(db, job.platform, job.user_id, job.job_id)
            return True

    async def refusal(
        self,
        platform: str,
        user_id: str,
        guild_id: str | None,
        limits: RateLimits,
        *,
        now: float | None = None,
    ) -> Denial | None:
        """The limit that would refuse one more of this person's jobs here now, or None. A
        read only, for a caller deciding whether to try: :meth:`add` decides for real."""
        now = time.time() if now is None else now
        usage = await self._usage(platform, user_id, guild_id, now)
        return decide_limits(limits, usage, server=guild_id is not None)

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
        if guild_id is not None:  # the server's share
            row = await self._one(
                f"SELECT COUNT(*) FROM jobs WHERE status IN {_LIVE} AND platform=? AND guild_id=?",
                platform,
                guild_id,
            )
        else:  # the platform's direct messages, every account together
            row = await self._one(
                f"SELECT COUNT(*) FROM jobs WHERE status IN {_LIVE} AND platform=? "
                "AND guild_id IS NULL",
                platform,
            )
        scope_open = int(row[0]) if row else 0
        return Usage(user_day, user_open, server_hour, queue_open, scope_open)

    async def move(
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

    async def keep_posted(self, job_id: str, messages: tuple[Posted, ...]) -> None:
        """Record the messages the bot posted for a job (its video, its status message), so
        a takedown can delete them in the chat long after the live record is gone."""
        if not messages:
            return
        now = time.time()
        async with self._writing() as db:
            await db.executemany(
                "INSERT INTO posted (job_id, kind, message_id, at) "
                "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM jobs WHERE job_id=?) "
                "ON CONFLICT (job_id, kind, message_id) DO NOTHING",
                [(job_id, m.kind, m.message_id, now, job_id) for m in messages],
            )

    async def remove(self, job_id: str) -> None:
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

    async def state(self, job_id: str) -> JobState | None:
        row = await self._one("SELECT status FROM jobs WHERE job_id=?", job_id)
        return JobState(row[0]) if row else None

    async def live(self, created_before: float) -> list[LiveJob]:
        """Jobs held as live (queued, on a worker) created before ``created_before``."""
        cur = await self._db.execute(
            f"SELECT payload, status, created FROM jobs WHERE status IN {_LIVE} AND created<? "
            "ORDER BY created",
            (created_before,),
        )
        return [
            LiveJob(RenderJob.from_json(r[0]), JobState(r[1]), r[2]) for r in await cur.fetchall()
        ]

    async def activity(
        self, platform: str, scope: str | None, since: float, *, limit: int = 20_000
    ) -> list[JobActivity]:
        where, args = "platform=? AND created>=?", [platform, since]
        if scope is not None:
            where += " AND COALESCE(guild_id, '')=?"
            args.append(scope)
        cur = await self._db.execute(
            "SELECT COALESCE(guild_id, ''), status, created, started, finished FROM jobs "
            f"WHERE {where} ORDER BY created LIMIT ?",
            (*args, limit),
        )
        return [JobActivity(*r) for r in await cur.fetchall()]

    async def last_made(
        self, platform: str, user_id: str, chat_id: str
    ) -> tuple[RenderJob, str, int] | None:
        """The person's latest job in this chat that is live or done (never a refused,
        cancelled or failed one), with the scope it was asked in ("": direct messages) and
        its consent record's id: what ``/avatar save`` keeps. None when there is none, or
        its photo and voice were erased."""
        row = await self._one(
            "SELECT j.payload, COALESCE(j.guild_id, ''), c.id FROM jobs j JOIN consents c "
            "ON c.job_id=j.job_id WHERE j.platform=? AND j.user_id=? AND j.chat_id=? "
            f"AND j.status IN {sql_states((*LIVE_STATES, JobState.DONE))} "
            "AND j.taken_down IS NULL ORDER BY j.created DESC LIMIT 1",
            platform,
            user_id,
            chat_id,
        )
        if row is None:
            return None
        job = RenderJob.from_json(row[0])
        if not (job.photo_hash and job.voice_hash):
            return None
        return job, str(row[1]), int(row[2])

    async def recent(
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
