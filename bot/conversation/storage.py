"""The store as the conversation sees it: a Protocol over what it reads and writes,
returning dataclasses (:mod:`bot.contract.ports`), never database rows.
``bot.chat.store.Store`` is the SQLite implementation; the conversation imports neither it
nor aiosqlite.

Not in :mod:`bot.contract.ports`: the upload quota's types and the safety package's view of the
store come from ``bot.safety``, and bot.safety imports ports.
"""

from __future__ import annotations

from typing import Protocol

from bot.contract.ports import JobRow, JobStore, LastMedia, MediaStore, VoiceProfile
from bot.conversation.flow import Draft
from bot.safety.policy import UploadLimits, UploadUsage
from bot.safety.storage import SafetyStore

__all__ = ["Store"]


class Store(MediaStore, SafetyStore, JobStore, Protocol):
    """Drafts, last uploads, saved voices, the upload quota, jobs; and what the core hands
    on to bot.safety (its records, jobs to add)."""

    async def get_draft(self, platform: str, user_id: str, chat_id: str) -> Draft | None: ...

    async def put_draft(
        self,
        platform: str,
        user_id: str,
        chat_id: str,
        draft: Draft | None,
        *,
        guild_id: str | None = None,
    ) -> None: ...

    async def remember_media(
        self,
        platform: str,
        user_id: str,
        *,
        voice: tuple[str, float, str | None] | None = None,
        photo: str | None = None,
    ) -> None: ...

    async def last_media(self, platform: str, user_id: str) -> LastMedia | None: ...

    async def save_voice(
        self,
        platform: str,
        user_id: str,
        name: str,
        digest: str,
        seconds: float,
        transcript: str | None,
        *,
        max_voices: int = -1,
    ) -> bool: ...

    async def delete_voice(self, platform: str, user_id: str, name: str) -> bool: ...

    async def voices(self, platform: str, user_id: str) -> list[VoiceProfile]: ...

    async def upload_usage(self, platform: str, user_id: str, now: float) -> UploadUsage: ...

    async def add_upload(
        self,
        platform: str,
        user_id: str,
        size: int,
        limits: UploadLimits,
        *,
        now: float | None = None,
    ) -> None: ...

    async def jobs(
        self, platform: str, user_id: str, *, limit: int = 5, open_only: bool = False
    ) -> list[JobRow]: ...
