"""Which job a mark found in a video maps to: the audit log's render requests by token.

A render request's audit entry keeps the token its video's speech carries (schema 7), so a
token read from a file, or a job id read from its manifest or metadata, leads to the job,
its platform, the server it was asked in ('' for direct messages), the requester's id and
when, for as long as the audit log keeps the entry (``MOUTHPIECE_AUDIT_RETENTION_DAYS``).
Ids only: the audit log names nobody by name. Used by the moderators' ``/mod verify``
(through :class:`bot.safety.records.log.ModLog`, within their scope) and by the operator's
``mouthpiece verify --db`` (:func:`who_made`, read-only, no bot running). The bot's schema
(``bot/safety/records/schema.py``, version 7) writes what :data:`MARKED_SQL` reads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MarkedJob", "who_made", "MARKED_SQL"]

#: the render requests whose token (or job id) is the one asked about, newest first
MARKED_SQL = (
    "SELECT a.detail, a.platform, COALESCE(a.guild_id, ''), COALESCE(a.user_id, ''), a.at, "
    "COALESCE(j.status, 'forgotten'), j.taken_down IS NOT NULL "
    "FROM audit_log a LEFT JOIN jobs j ON j.job_id = a.detail "
    "WHERE a.action = 'render_requested' AND (a.mark = ? OR a.detail = ?) "
    "ORDER BY a.at DESC LIMIT 20"
)


@dataclass(frozen=True)
class MarkedJob:
    """A job a mark maps to, as the audit log and the job history know it."""

    job_id: str
    platform: str
    scope: str  # the server id; '' for direct messages
    user_id: str  # the requester's platform id
    at: float  # when it was asked
    status: str  # the job's last state; 'forgotten' once its row is gone
    taken_down: bool

    @classmethod
    def of(cls, row: Sequence[Any]) -> MarkedJob:
        job_id, platform, scope, user_id, at, status, down = row
        return cls(
            str(job_id), str(platform), str(scope), str(user_id), float(at), str(status), bool(down)
        )


def who_made(db: Path, *, token: int | None = None, job_id: str | None = None) -> list[MarkedJob]:
    """The jobs ``token`` or ``job_id`` maps to in the bot's database at ``db``, opened
    read-only (a running bot keeps writing beside it)."""
    if token is None and not job_id:
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute(MARKED_SQL, (token, job_id or None)).fetchall()
    finally:
        con.close()
    return [MarkedJob.of(r) for r in rows]
