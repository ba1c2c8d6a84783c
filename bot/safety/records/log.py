"""The audit trail of renders and the moderators' log."""

from __future__ import annotations

from bot.safety.records.rows import (
    _NOT_MODERATION,
    LogEntry,
    RenderRecord,
    Table,
    _audit,
    _scope_sql,
)


class ModLog(Table):
    """The audit trail of renders and the moderators' log."""

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
