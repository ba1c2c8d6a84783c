"""The store as the conversation sees it: a Protocol over what it reads and writes,
returning dataclasses (:mod:`bot.contract.ports`), never database rows.
``bot.chat.store.Store`` is the SQLite implementation; the conversation imports neither it
nor aiosqlite.

Not in :mod:`bot.contract.ports`: the upload quota's types and the safety package's view of the
store come from ``bot.safety``, and bot.safety imports ports.
"""

from __future__ import annotations

import builtins
from typing import Protocol

from bot.contract.events import Who
from bot.contract.jobs import RenderJob
from bot.contract.ports import Avatar, JobStore, LastMedia, MediaStore, VoiceProfile, WebLogins
from bot.conversation.flow import Draft
from bot.safety.policy import Denial, RateLimits, UploadLimits, UploadUsage
from bot.safety.storage import SafetyStore

__all__ = [
    "Store",
    "DraftStore",
    "PersonMedia",
    "VoiceStore",
    "AvatarStore",
    "MadeJobs",
    "UploadStore",
]


class DraftStore(Protocol):
    """Each person's draft per chat (``store.drafts``)."""

    async def get(self, platform: str, user_id: str, chat_id: str) -> Draft | None: ...

    async def put(
        self,
        platform: str,
        user_id: str,
        chat_id: str,
        draft: Draft | None,
        *,
        guild_id: str | None = None,
    ) -> None: ...

    async def held(
        self, platform: str | None = None, user_id: str | None = None
    ) -> list[tuple[Who, Draft]]: ...


class PersonMedia(MediaStore, Protocol):
    """Uploads, and each person's last voice note and photo (``store.media``)."""

    async def remember(
        self,
        platform: str,
        user_id: str,
        *,
        voice: tuple[str, float, str | None] | None = None,
        photo: str | None = None,
    ) -> None: ...

    async def last(self, platform: str, user_id: str) -> LastMedia | None: ...


class VoiceStore(Protocol):
    """Saved voices (``store.voices``)."""

    async def save(
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

    async def delete(self, platform: str, user_id: str, name: str) -> bool: ...

    async def list(self, platform: str, user_id: str) -> list[VoiceProfile]: ...


class AvatarStore(Protocol):
    """Saved avatars and the consent each carries per scope (``store.avatars``)."""

    async def save(
        self,
        platform: str,
        user_id: str,
        name: str,
        avatar: Avatar,
        consent: tuple[str, int] | None,
        *,
        max_avatars: int = -1,
    ) -> bool: ...

    async def delete(self, platform: str, user_id: str, name: str) -> bool: ...

    async def get(self, platform: str, user_id: str, name: str) -> Avatar | None: ...

    async def list(
        self, platform: str, user_id: str, *, name: str | None = None
    ) -> list[Avatar]: ...

    async def names(
        self, platform: str, user_id: str, prefix: str = "", limit: int = 25
    ) -> builtins.list[str]: ...

    async def used(self, platform: str, user_id: str, name: str) -> None: ...


class MadeJobs(JobStore, Protocol):
    """The job history, with what ``/avatar save`` and a held batch read from it."""

    async def last_made(
        self, platform: str, user_id: str, chat_id: str
    ) -> tuple[RenderJob, str, int] | None: ...

    async def refusal(
        self,
        platform: str,
        user_id: str,
        guild_id: str | None,
        limits: RateLimits,
        *,
        now: float | None = None,
    ) -> Denial | None: ...


class UploadStore(Protocol):
    """The per-person upload rate and byte quota (``store.uploads``)."""

    async def usage(self, platform: str, user_id: str, now: float) -> UploadUsage: ...

    async def add(
        self,
        platform: str,
        user_id: str,
        size: int,
        limits: UploadLimits,
        *,
        now: float | None = None,
    ) -> None: ...


class Store(SafetyStore, Protocol):
    """The store, one view per concept; and what the conversation hands on to bot.safety
    (its records) and to the job lifecycle (the job history)."""

    @property
    def drafts(self) -> DraftStore: ...

    @property
    def media(self) -> PersonMedia: ...

    @property
    def voices(self) -> VoiceStore: ...

    @property
    def avatars(self) -> AvatarStore: ...

    @property
    def uploads(self) -> UploadStore: ...

    @property
    def jobs(self) -> MadeJobs: ...

    @property
    def web(self) -> WebLogins: ...
