"""Every accepted upload, for the per-person rate and byte quota and the service's daily byte
budget (everyone's uploads together)."""

from __future__ import annotations

import time

from bot.chat.store.tables import Table
from bot.safety.policy import (
    DAY,
    HOUR,
    LimitExceeded,
    UploadLimits,
    UploadUsage,
    decide_upload,
)


class UploadQuota(Table):
    """Every accepted upload, for the per-person rate and byte quota and the daily budget."""

    async def usage(self, platform: str, user_id: str, now: float) -> UploadUsage:
        cur = await self._db.execute(
            "SELECT at, bytes FROM uploads WHERE platform=? AND user_id=? AND at>?",
            (platform, user_id, now - DAY),
        )
        sizes = tuple((float(r[0]), int(r[1])) for r in await cur.fetchall())
        total = await self._one("SELECT COALESCE(SUM(bytes), 0) FROM uploads WHERE at>?", now - DAY)
        return UploadUsage(
            tuple(at for at, _ in sizes if at > now - HOUR), sizes, int(total[0] if total else 0)
        )

    async def add(
        self,
        platform: str,
        user_id: str,
        size: int,
        limits: UploadLimits,
        *,
        now: float | None = None,
    ) -> None:
        """Count the person's uploads (and everyone's bytes) and record this one in one
        write transaction (serialised across processes too); raises
        :class:`~bot.safety.policy.LimitExceeded` (nothing written) when a limit says no.
        Rows older than a day, anyone's, go meanwhile."""
        now = time.time() if now is None else now
        async with self._writing() as db:
            await db.execute("DELETE FROM uploads WHERE at<=?", (now - DAY,))
            denial = decide_upload(limits, await self.usage(platform, user_id, now), size)
            if denial is not None:
                raise LimitExceeded(denial)
            await db.execute(
                "INSERT INTO uploads (platform, user_id, at, bytes) VALUES (?, ?, ?, ?)",
                (platform, user_id, now, size),
            )
