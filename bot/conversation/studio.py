"""The web studio as the conversation core sees it: signing in and out, what a signed-in
person may see (their own jobs and saved voices, never anyone else's), and /forget.

The web adapter (:mod:`bot.chat.adapters.web`) renders; this decides. Every read takes the
session the browser proved, and reads by that session's platform and user id only.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.contract.ports import JobRow, WebSession
from bot.conversation.storage import Store
from bot.safety import Guard, Removed

__all__ = ["Studio", "StudioView"]

_JOBS_SHOWN = 50


@dataclass(frozen=True)
class StudioView:
    """The studio's home page for one person: their jobs (newest first), their voices."""

    platform: str
    user_id: str
    jobs: tuple[JobRow, ...]
    voices: tuple[str, ...]


class Studio:
    """The web studio's decisions (the sign-in itself is :class:`bot.safety.WebAccess`'s)."""

    def __init__(self, store: Store, guard: Guard) -> None:
        self.store = store
        self.guard = guard

    @property
    def enabled(self) -> bool:
        return self.guard.web is not None

    def link_valid(self, token: str) -> bool:
        """Whether the sign-in page may offer its button (the link is not spent by looking)."""
        return self.guard.web.valid(token) if self.guard.web is not None else False

    async def sign_in(self, token: str) -> WebSession | None:
        """A session for a valid, unused, unexpired link; None for anything else."""
        return await self.guard.web.sign_in(token) if self.guard.web is not None else None

    async def session(self, session_id: str) -> WebSession | None:
        return await self.guard.web.session(session_id) if self.guard.web is not None else None

    async def sign_out(self, session: WebSession) -> None:
        if self.guard.web is not None:
            await self.guard.web.sign_out(session.session_id)

    async def home(self, session: WebSession) -> StudioView:
        platform, user_id = session.platform, session.user_id
        jobs = await self.store.jobs.recent(platform, user_id, limit=_JOBS_SHOWN)
        voices = await self.store.voices.list(platform, user_id)
        return StudioView(platform, user_id, tuple(jobs), tuple(v.name for v in voices))

    async def forget(self, session: WebSession) -> Removed:
        """The erasure /forget runs in chat; it signs out every browser of the person's."""
        return await self.guard.forget(session.platform, session.user_id)
