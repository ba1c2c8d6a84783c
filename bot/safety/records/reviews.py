"""Renders held for a moderator, and their decisions."""

from __future__ import annotations

import time

from bot.contract.jobs import JobState, RenderJob
from bot.contract.ports import ConsentMethod
from bot.safety.authority import EVERYWHERE
from bot.safety.records.rows import (
    ReviewRow,
    Table,
    _audit,
    _scope_sql,
    attach_voice_consent,
)


class Reviews(Table):
    """Renders held for a moderator, and their decisions."""

    async def put_review(self, job: RenderJob, guild_id: str | None, phrase: str | None) -> None:
        async with self._writing() as db:
            await db.execute(
                "INSERT INTO reviews (job_id, platform, guild_id, phrase, created) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING",
                (job.job_id, job.platform, guild_id or "", phrase, time.time()),
            )

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

    async def decide_review(
        self, job_id: str, approve: bool, by: str, *, everywhere: bool = False
    ) -> ReviewRow | None:
        """Approve (status queued, consent verified by ``by``) or deny a pending review.
        The approval counts in the review's scope only, or ``everywhere`` (an operator's).
        None when it is no longer pending (a second moderator's press changes nothing), and
        for an approval by the requester themself (nobody approves their own request)."""
        now = time.time()
        async with self._writing() as db:
            row = await self._one(
                "SELECT j.payload, j.guild_id, r.phrase, j.created, j.platform, j.user_id "
                "FROM jobs j LEFT JOIN reviews r ON r.job_id = j.job_id "
                f"WHERE j.job_id=? AND j.status='{JobState.REVIEW}'",
                job_id,
            )
            if row is None or (approve and by == row["user_id"]):
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
            scope = row["guild_id"] or ""
            if approve:
                method = ConsentMethod.OPERATOR if everywhere else ConsentMethod.APPROVAL
                await db.execute(
                    "UPDATE consents SET method=?, valid_in=?, verified_by=?, carried_from=NULL "
                    "WHERE job_id=?",
                    (method, EVERYWHERE if everywhere else scope, by, job_id),
                )
                await attach_voice_consent(db, row["platform"], row["user_id"], job_id)
            await _audit(db, row["platform"], scope, by, f"review_{status}", job_id)
            return ReviewRow(RenderJob.from_json(row[0]), row[1], row[2], row[3])
