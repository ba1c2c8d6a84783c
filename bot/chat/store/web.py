"""The web studio's sign-in records: the nonces of used sign-in links (until they expire)
and the signed-in browsers' sessions. A session is stored under the SHA-256 of its id, so
the database alone opens nobody's studio."""

from __future__ import annotations

import hashlib
import secrets

from bot.chat.store.tables import Table
from bot.contract.ports import WebSession

__all__ = ["WebLoginRecords"]


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class WebLoginRecords(Table):
    """Used sign-in nonces and web sessions (:class:`~bot.contract.ports.WebLogins`)."""

    async def use_nonce(self, nonce: str, expires: float, now: float) -> bool:
        async with self._writing() as db:
            await db.execute("DELETE FROM web_nonces WHERE expires<=?", (now,))
            cur = await db.execute(
                "INSERT INTO web_nonces (nonce, expires) VALUES (?, ?) "
                "ON CONFLICT (nonce) DO NOTHING",
                (nonce, expires),
            )
            return (cur.rowcount or 0) == 1

    async def open_session(
        self, platform: str, user_id: str, now: float, seconds: float, scope: str = ""
    ) -> WebSession:
        session = WebSession(
            secrets.token_urlsafe(32),
            platform,
            user_id,
            secrets.token_urlsafe(32),
            now + seconds,
            scope,
        )
        async with self._writing() as db:
            await db.execute("DELETE FROM web_sessions WHERE expires<=?", (now,))
            await db.execute(
                "INSERT INTO web_sessions (key, platform, user_id, csrf, created, expires, scope) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    _key(session.session_id),
                    platform,
                    user_id,
                    session.csrf,
                    now,
                    session.expires,
                    scope,
                ),
            )
        return session

    async def session(self, session_id: str, now: float) -> WebSession | None:
        row = await self._one(
            "SELECT platform, user_id, csrf, expires, scope FROM web_sessions "
            "WHERE key=? AND expires>?",
            _key(session_id),
            now,
        )
        if row is None:
            return None
        return WebSession(session_id, row[0], row[1], row[2], row[3], row[4])

    async def close_session(self, session_id: str) -> None:
        async with self._writing() as db:
            await db.execute("DELETE FROM web_sessions WHERE key=?", (_key(session_id),))

    async def close_all(self, platform: str, user_id: str) -> int:
        async with self._writing() as db:
            cur = await db.execute(
                "DELETE FROM web_sessions WHERE platform=? AND user_id=?", (platform, user_id)
            )
            return cur.rowcount or 0
