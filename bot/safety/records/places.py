"""Where jobs were made, as moderators see them: the queue of a scope, one job's place, its
takedown (and the messages it posted in the chat), its uploads' files."""

from __future__ import annotations

import time
from pathlib import Path

from bot.contract.ports import Posted, Unposted
from bot.safety.records.rows import (
    _OPEN,
    JobPlace,
    OpenJob,
    Table,
    _audit,
    _scope_sql,
)


class JobPlaces(Table):
    """Where jobs were made: a scope's queue, one job's place, its takedown, its files."""

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

    async def batch_places(self, batch: str) -> list[JobPlace]:
        """The jobs of a batch (one file of several scripts), oldest first; [] for none."""
        cur = await self._db.execute(
            "SELECT job_id, platform, COALESCE(guild_id, ''), user_id, chat_id, status, "
            "taken_down IS NOT NULL FROM jobs WHERE batch=? ORDER BY created",
            (batch,),
        )
        rows = await cur.fetchall()
        return [JobPlace(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]

    async def take_down(
        self, job_id: str, by: str, reason: str, unposted: tuple[Unposted, ...] = ()
    ) -> None:
        """Mark a job's video taken down (its file is deleted by the caller); the consent
        record and the audit entry stay. ``unposted``: what became of deleting its messages
        in the chat: each kept with the time it was removed, or why it could not be (the
        moderators' log says so too)."""
        now = time.time()
        async with self._writing() as db:
            await db.execute("UPDATE jobs SET taken_down=? WHERE job_id=?", (now, job_id))
            row = await self._one(
                "SELECT platform, COALESCE(guild_id, '') FROM jobs WHERE job_id=?", job_id
            )
            if row is None:
                return
            detail = f"{job_id} {reason}".strip()
            await _audit(db, row[0], row[1], by, "takedown", detail)
            for o in unposted:
                await db.execute(
                    "INSERT INTO posted (job_id, kind, message_id, at, removed, error) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, kind, message_id) DO UPDATE "
                    "SET removed=excluded.removed, error=excluded.error",
                    (job_id, o.kind, o.message_id, now, now if o.removed else None, o.reason),
                )
                if not o.removed:
                    where = f"{job_id} {o.kind} {o.message_id}: {o.reason}"
                    await _audit(db, row[0], row[1], by, "takedown incomplete", where)

    async def posted(self, job_id: str) -> list[Posted]:
        """The messages the bot posted in the chat for this job that are not removed yet
        (its video, its status message), as the job history kept them."""
        cur = await self._db.execute(
            "SELECT kind, message_id FROM posted WHERE job_id=? AND removed IS NULL ORDER BY at",
            (job_id,),
        )
        return [Posted(str(r[0]), str(r[1])) for r in await cur.fetchall()]

    async def posted_history(self, job_id: str) -> list[tuple[Posted, float | None, str]]:
        """Every message recorded for the job: when it was removed from the chat (None: not
        yet), and why it could not be."""
        cur = await self._db.execute(
            "SELECT kind, message_id, removed, error FROM posted WHERE job_id=? ORDER BY at",
            (job_id,),
        )
        return [(Posted(str(r[0]), str(r[1])), r[2], str(r[3])) for r in await cur.fetchall()]

    async def media_paths(self, digests: tuple[str, ...]) -> list[Path]:
        """Files of these uploads that still exist (retention may have removed them)."""
        out = []
        for digest in digests:
            row = await self._one("SELECT path FROM media WHERE digest=?", digest)
            if row is not None and Path(row[0]).is_file():
                out.append(Path(row[0]))
        return out
