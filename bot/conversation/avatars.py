"""Avatars: a person's photo and voice note (with its transcript) kept under a name, so that
``/say NAME script`` makes a video in one step.

``/avatar save NAME`` keeps what the person's latest video in this chat was made from (live or
done; never a refused, cancelled or failed one), with that job's consent record, which counts
only in the scope the job was asked in: an avatar saved in one server renders at once there,
and anywhere else (another server, the direct messages) the consent question is asked again
before it renders. The scope's consent mode applies as to any video (a spoken phrase, a
moderator's review: :meth:`bot.safety.Guard.admit`). ``/forget`` and retention delete avatars
like saved voices (:mod:`bot.safety.records.erasure`); the workers' caches of what they
derived from the photo and voice follow the uploads' tombstones.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from bot.contract import texts
from bot.contract.events import Reply, Who
from bot.contract.jobs import new_draft_id
from bot.contract.ports import Avatar
from bot.conversation.flow import Draft, FlowInput, Ready, Refuse, ScriptIn
from bot.conversation.storage import Store
from bot.safety.policy import scope_of

__all__ = ["AvatarDesk", "NAME"]

log = logging.getLogger(__name__)

#: an avatar's (and a saved voice's) name: letters, digits, - and _, up to 32
NAME = re.compile(r"^[\w-]{1,32}$")


class AvatarDesk:
    """``/avatar save|delete NAME``, ``/avatars`` and ``/say NAME script``. ``script``
    checks a script as chat does (the service's limits, the scope's blocklist)."""

    def __init__(
        self,
        store: Store,
        script: Callable[[Who, str], Awaitable[ScriptIn | Refuse]],
        *,
        max_avatars: int = 10,
    ) -> None:
        self.store = store
        self.script = script
        self.max_avatars = max_avatars

    async def command(self, who: Who, args: str) -> str:
        """``/avatar save NAME`` or ``/avatar delete NAME``: the answer."""
        parts = args.split()
        if len(parts) != 2 or parts[0] not in ("save", "delete") or not NAME.match(parts[1]):
            return texts.AVATAR_USAGE
        action, name = parts
        if action == "delete":
            gone = await self.store.avatars.delete(who.platform, who.user_id, name)
            if gone:
                log.info("avatar deleted", extra={"platform": who.platform})
            return (texts.AVATAR_DELETED if gone else texts.AVATAR_NOT_FOUND).format(name=name)
        return await self._save(who, name)

    async def _save(self, who: Who, name: str) -> str:
        made = await self.store.jobs.last_made(who.platform, who.user_id, who.chat_id)
        if made is None:
            return texts.AVATAR_NOTHING
        job, scope, consent_id = made
        for digest in (job.photo_hash, job.voice_hash):
            if await self.store.media.path(digest) is None:  # retention or a takedown took it
                return texts.AVATAR_MEDIA_GONE
        avatar = Avatar(
            name,
            job.photo_hash,
            job.voice_hash,
            await self._voice_seconds(who, job.voice_hash),
            job.voice_text,
        )
        saved = await self.store.avatars.save(
            who.platform,
            who.user_id,
            name,
            avatar,
            (scope, consent_id),
            max_avatars=self.max_avatars,
        )
        if not saved:
            return texts.AVATARS_FULL.format(max=self.max_avatars)
        log.info("avatar saved", extra={"platform": who.platform, "job_id": job.job_id})
        return texts.AVATAR_SAVED.format(name=name)

    async def _voice_seconds(self, who: Who, digest: str) -> float:
        """The voice note's length as its upload was measured (shown only; 0 unknown)."""
        last = await self.store.media.last(who.platform, who.user_id)
        if last is not None and last.voice_hash == digest and last.voice_seconds:
            return float(last.voice_seconds)
        for voice in await self.store.voices.list(who.platform, who.user_id):
            if voice.digest == digest:
                return voice.seconds
        return 0.0

    async def listing(self, who: Who) -> Reply:
        avatars = await self.store.avatars.list(who.platform, who.user_id)
        if not avatars:
            return Reply(texts.AVATARS_NONE)
        return Reply(texts.AVATARS_LIST.format(names=", ".join(a.name for a in avatars)))

    async def names(self, who: Who, prefix: str) -> list[str]:
        """The person's avatar names starting with ``prefix``: a platform's autocomplete."""
        return await self.store.avatars.names(who.platform, who.user_id, prefix[:32])

    async def say(self, who: Who, args: str) -> FlowInput:
        """``/say NAME script``: the whole draft (:class:`Ready`), or why not (the person's
        draft, if any, is kept)."""
        name, _, script = args.strip().partition(" ")
        if not NAME.match(name) or not script.strip():
            return Refuse(texts.SAY_USAGE)
        avatar = await self.store.avatars.get(who.platform, who.user_id, name)
        if avatar is None:
            return Refuse(texts.AVATAR_NOT_FOUND.format(name=name))
        checked = await self.script(who, script)
        if isinstance(checked, Refuse):
            return checked
        await self.store.avatars.used(who.platform, who.user_id, name)
        here = scope_of(who.guild_id) in avatar.consented_in
        draft = _draft(avatar, checked.text, consent=here)
        return Ready(draft, note="" if here else texts.SAY_CONSENT.format(name=name))


def _draft(avatar: Avatar, script: str, *, consent: bool) -> Draft:
    return Draft(
        id=new_draft_id(),
        script=script,
        voice_hash=avatar.voice_digest,
        voice_seconds=avatar.voice_seconds,
        voice_text=avatar.transcript,
        photo_hash=avatar.photo_digest,
        consent=consent,
    )
