"""Erasure that reaches every table (``/forget``, ``/mod purge``) and the retention purge.

Files first: both hand the files their rows name to a ``files_first`` callback inside the
transaction, before it commits, so that on a full disk the commit finds the room those files
left (and a crash in between leaves rows without files, never files nobody knows of)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.contract.jobs import LIVE_STATES, JobState, RenderJob
from bot.db import Connection
from bot.safety.authority import EVERYWHERE
from bot.safety.records.rows import (
    _OPEN,
    ExpiredReview,
    ForgetResult,
    PurgeRows,
    Table,
    _audit,
    _scope_sql,
    _scrub,
)

#: deletes, before the commit, the upload files (and the jobs' videos) a write stops naming
FilesFirst = Callable[[tuple[Path, ...], tuple[str, ...]], Awaitable[None]]


async def _no_files(paths: tuple[Path, ...], job_ids: tuple[str, ...]) -> None:
    return None


class Erasures(Table):
    """Erasure that reaches every table (``/forget``, ``/mod purge``) and the retention purge."""

    # ---- erasure: /forget, /mod purge --------------------------------------------------
    async def erase(
        self,
        platform: str,
        user_id: str,
        scope: str | None = None,
        *,
        actor: str | None = None,
        action: str = "forget",
        files_first: FilesFirst = _no_files,
    ) -> ForgetResult:
        """Delete what a user handed over and what was made from it.

        ``scope`` None (the user's /forget, an operator's purge): everything of theirs; a
        scope (a server moderator's purge): their drafts and jobs there only, never their
        saved voices or last uploads. Job rows, consents and the audit log keep only ids,
        times and hashes (the job rows keep counting for the limits, so erasing does not
        reset them); media files no remaining row uses are dropped: ``files_first`` deletes
        them and the jobs' videos before the commit."""
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
            paths, dropped = await self._unused_media(digests)
            await files_first(paths, tuple(j.job_id for j in jobs))
            for digest in dropped:
                await db.execute("DELETE FROM media WHERE digest=?", (digest,))
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
        self, db: Connection, who: tuple[str, str], scope: str | None
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

    async def _erase_personal(self, db: Connection, who: tuple[str, str]) -> tuple[int, set[str]]:
        """Saved voices, last uploads and any phrase: the person's own, tied to no server."""
        cur = await db.execute(
            "SELECT media_digest FROM voice_profiles WHERE platform=? AND user_id=?", who
        )
        digests = {r[0] for r in await cur.fetchall()}
        voices = (
            await db.execute("DELETE FROM voice_profiles WHERE platform=? AND user_id=?", who)
        ).rowcount or 0
        cur = await db.execute(
            "SELECT photo_digest, voice_digest FROM avatars WHERE platform=? AND user_id=?", who
        )
        for photo, voice in await cur.fetchall():
            digests |= {photo, voice}
        # an avatar's consents go with it (ON DELETE CASCADE)
        voices += (
            await db.execute("DELETE FROM avatars WHERE platform=? AND user_id=?", who)
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
        self, db: Connection, who: tuple[str, str], scope: str | None
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

    async def _unused_media(self, digests: set[str]) -> tuple[tuple[Path, ...], tuple[str, ...]]:
        """The uploads no remaining row uses: their files, and their hashes (rows to drop)."""
        paths: list[Path] = []
        dropped: list[str] = []
        for digest in sorted(digests):
            if await self._in_use(digest):
                continue
            row = await self._one("SELECT path FROM media WHERE digest=?", digest)
            if row is not None:
                paths.append(Path(row[0]))
            dropped.append(digest)
        return tuple(paths), tuple(dropped)

    async def _in_use(self, digest: str) -> bool:
        """Content-addressed media may be shared: anyone's saved voice, last upload, draft,
        or open job (the erased rows are already gone or closed)."""
        checks = (
            ("SELECT 1 FROM voice_profiles WHERE media_digest=?", (digest,)),
            ("SELECT 1 FROM avatars WHERE photo_digest=? OR voice_digest=?", (digest, digest)),
            ("SELECT 1 FROM users WHERE last_voice_hash=? OR last_photo_hash=?", (digest, digest)),
            (f"SELECT 1 FROM drafts WHERE {self._sql.contains('data', '?')}", (digest,)),
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
        self,
        *,
        media_before: float,
        scripts_before: float,
        reviews_before: float = 0.0,
        audit_before: float = 0.0,
        avatars_before: float = 0.0,
        files_first: FilesFirst = _no_files,
    ) -> PurgeRows:
        """Expire uploads created before ``media_before`` (saved voices and open jobs keep
        theirs), drafts idle since then, the scripts of jobs finished before
        ``scripts_before``, and reviews asked for before ``reviews_before`` (they free the
        requester's slot). ``files_first`` deletes the expired uploads' files before the
        commit. Avatars not used since ``avatars_before`` go first (their uploads expire
        with the others then). Returns those files and the reviews to announce."""
        async with self._writing() as db:
            expired = await self._expire_reviews(db, reviews_before)
            await db.execute("DELETE FROM avatars WHERE used < ?", (avatars_before,))
            cur = await db.execute(
                "SELECT digest, path FROM media m WHERE created < ? "
                "AND NOT EXISTS (SELECT 1 FROM voice_profiles v WHERE v.media_digest=m.digest) "
                "AND NOT EXISTS (SELECT 1 FROM avatars a "
                "  WHERE m.digest IN (a.photo_digest, a.voice_digest)) "
                "AND NOT EXISTS (SELECT 1 FROM consents c JOIN jobs j ON j.job_id=c.job_id "
                f"  WHERE j.status IN {_OPEN} AND m.digest IN (c.voice_digest, c.photo_digest))",
                (media_before,),
            )
            rows = await cur.fetchall()
            await files_first(tuple(Path(r[1]) for r in rows), ())
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
                f"AND {self._sql.json_text('payload', 'script')} != ''",
                (scripts_before,),
            )
            old = list(await cur.fetchall())
            # the audit log is bounded by age (an entry names people and jobs by id only)
            await db.execute("DELETE FROM audit_log WHERE at < ?", (audit_before,))
            for job_id, payload in old:
                await db.execute(
                    "UPDATE jobs SET payload=? WHERE job_id=?", (_scrub(payload), job_id)
                )
            return PurgeRows(tuple(Path(r[1]) for r in rows), drafts, len(old), expired)

    # ---- the orphan sweep -------------------------------------------------------------
    @asynccontextmanager
    async def media_held(self) -> AsyncIterator[set[str]]:
        """The files the media table names (absolute paths), with the one writer held for the
        block: no upload is recorded meanwhile, so a file unnamed here stays unnamed (an
        upload writes its file before it records the row)."""
        async with self._writing():
            cur = await self._db.execute("SELECT path FROM media")
            yield {os.path.abspath(r[0]) for r in await cur.fetchall()}

    async def _expire_reviews(self, db: Connection, before: float) -> tuple[ExpiredReview, ...]:
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
