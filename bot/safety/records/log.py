"""The audit trail of renders and the moderators' log."""

from __future__ import annotations

from collections.abc import Sequence

from bot.safety.records.rows import (
    _NOT_MODERATION,
    LogEntry,
    RenderRecord,
    Table,
    _audit,
    _scope_sql,
)
from job_marks.lookup import MARKED_SQL, MarkedJob


class ModLog(Table):
    """The audit trail of renders and the moderators' log."""

    async def log_action(
        self, platform: str, scope: str, actor: str, action: str, detail: str = ""
    ) -> None:
        async with self._writing() as db:
            await _audit(db, platform, scope, actor, action, detail)

    async def marked(
        self, platform: str, scope: str | None, token: int | None, job_id: str | None = None
    ) -> list[MarkedJob]:
        """The jobs a video's mark (its speech token, or a job id read from it) maps to,
        newest first, asked on ``platform`` in ``scope`` (a moderator's server, '' the direct
        messages; None: everywhere, for operators). Jobs elsewhere are not shown."""
        if token is None and not job_id:
            return []
        cur = await self._db.execute(MARKED_SQL, (token, job_id or None))
        found = [MarkedJob.of(tuple(r)) for r in await cur.fetchall()]
        return [m for m in found if m.platform == platform and scope in (None, m.scope)]

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
        """Recent renders in one scope (None: everywhere), newest first, with how each one's
        consent was verified and where that was given (for a carried one: the earlier
        record's scope)."""
        return await self._renders(platform, scope, "", (), limit)

    async def find_renders(
        self,
        platform: str,
        scope: str | None,
        *,
        user: str | None = None,
        prefix: str | None = None,
        mark: int | None = None,
        limit: int = 20,
    ) -> list[RenderRecord]:
        """The renders in one scope (None: everywhere), newest first, that match any of:
        the requester's id (exactly), how the job id or the voice or photo fingerprint
        starts (any case), the token the video's speech carries. Nothing to match: none."""
        tests: list[str] = []
        args: list[str | int] = []
        if user is not None:
            tests.append("c.user_id = ?")
            args.append(user)
        if prefix:
            for column in ("c.job_id", "c.voice_digest", "c.photo_digest"):
                tests.append(f"lower(substr({column}, 1, ?)) = ?")
                args += [len(prefix), prefix.lower()]
        if mark is not None:
            tests.append(
                "c.job_id IN (SELECT a.detail FROM audit_log a WHERE a.mark = ? "
                "AND a.action = 'render_requested' AND a.platform = c.platform)"
            )
            args.append(mark)
        if not tests:
            return []
        return await self._renders(platform, scope, f" AND ({' OR '.join(tests)})", args, limit)

    async def _renders(
        self,
        platform: str,
        scope: str | None,
        match: str,
        match_args: Sequence[str | int],
        limit: int,
    ) -> list[RenderRecord]:
        """Renders in one scope that pass ``match`` (SQL with its own placeholders, filled
        from ``match_args``), newest first."""
        where, args = _scope_sql(scope, "c.guild_id")
        cur = await self._db.execute(
            "SELECT c.job_id, c.user_id, c.at, COALESCE(j.status, 'forgotten'), c.mode, "
            "c.verified, c.voice_digest, c.photo_digest, c.script_digest, c.guild_id, "
            "j.taken_down IS NOT NULL, c.method, c.valid_in, c.verified_by, "
            "c.carried_from IS NOT NULL, COALESCE(s.guild_id, c.guild_id) "
            "FROM consents c LEFT JOIN jobs j ON j.job_id = c.job_id "
            f"LEFT JOIN consents s ON s.id = c.carried_from WHERE c.platform=?{where}{match} "
            "ORDER BY c.at DESC, c.id DESC LIMIT ?",
            (platform, *args, *match_args, limit),
        )
        return [
            RenderRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                r[8],
                r[9],
                taken_down=bool(r[10]),
                method=r[11],
                valid_in=r[12],
                by=r[13],
                carried=bool(r[14]),
                given_in=r[15],
            )
            for r in await cur.fetchall()
        ]
