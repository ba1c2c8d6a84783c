"""A batch's Render in chat, and the scripts a limit holds back until room frees up.

Render admits one job per script of a batch draft (the guard's ``admit``, the lifecycle's
``submit``: each counted by the limits as one video) and stops at the first refusal. A script
made before (an earlier Render, an earlier pass) is skipped: its job id comes from the draft
id and the script's place, so it is never made twice, nor counted again.

When the refusal is a limit that frees by itself (:data:`FREEING_LIMITS`: the person's videos
waiting or rendering at once, the queue's cap and its shares), the rest is *held*: the draft
stays, marked (:attr:`~bot.conversation.flow.Draft.held`), and :meth:`BatchRender.resume`
(the bot runs it every few seconds) queues the next scripts as room frees up, each admitted
exactly as the owner's Render press would be: bans, the channel, the blocklist, consent and
the limits are checked again every time. Once all are made the draft is dropped. Any other
refusal (a daily or hourly count, "switched off", a ban, a blocked phrase, consent, uploads
gone) ends the hold: the person is told once, and the draft is kept for Render.

One person at a time: :meth:`Service.handle <bot.conversation.service.Service.handle>` runs
each of a person's events under their lock (:class:`bot.lanes.Lanes`) and a resume takes the same
lock, skipping a person whose event runs now. So a resume never interleaves with their
Render, Cancel all, /cancel, /talk or /forget: once one of those answered, nothing more of the
batch is queued. The batch's status message (the workers' board) counts every job of the
batch, so jobs a resume makes show there; the chat is told only what it would not see
(jobs held for a moderator, the hold's end).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from bot.contract import texts
from bot.contract.errors import Busy
from bot.contract.events import WEB_CHAT, Action, Button, Reply, Who
from bot.contract.jobs import JobState, Submission, batch_id_for, job_id_for
from bot.conversation.flow import Draft
from bot.conversation.storage import Store
from bot.jobs.lifecycle import Lifecycle, Submitted
from bot.lanes import Lanes
from bot.safety import Guard
from bot.safety.guard import Admission, limit_text
from bot.safety.policy import Denial, LimitExceeded

log = logging.getLogger(__name__)

__all__ = [
    "FREEING_LIMITS",
    "BatchRender",
    "Parts",
    "batch_of",
    "part_of",
    "submit_admitted",
]


async def submit_admitted(jobs: Lifecycle, admitted: Admission) -> Submitted:
    """Record and queue what safety admitted, under its limits and in the state it says
    (queued, or held for review); raises LimitExceeded."""
    return await jobs.submit(
        admitted.job,
        admitted.guild_id,
        admitted.consent_mode,
        limits=admitted.limits,
        state=admitted.state,
        verified=admitted.verified,
    )


def version_of(draft: Draft) -> str:
    """What a batch draft holds (its scripts, titles, voice, transcript, photo and chosen
    language), as the key of its jobs' ids: a draft changed after some of its videos were made
    is another batch (its scripts are new jobs, never taken for the old ones)."""
    held = [draft.scripts, draft.titles, draft.voice_hash, draft.voice_text, draft.photo_hash]
    if draft.language:  # a detected language adds nothing: ids as before languages came
        held.append(draft.language)
    return hashlib.sha256(json.dumps(held).encode()).hexdigest()[:16]


def batch_of(draft: Draft) -> str:
    """The batch id of a batch draft's jobs (the same on every press while it holds the same)."""
    return batch_id_for(draft.id, version_of(draft))


def part_of(draft: Draft, part: int) -> str:
    """The job id of one script of a batch draft."""
    return job_id_for(draft.id, part, version_of(draft))


#: the limits (:attr:`Denial.limit`) that free by themselves as videos finish: a batch they
#: stop is held. Not "day" nor "hour" (a count of videos made, freed hours later: holding
#: would spend the next window unasked), and none whose count is 0 ("switched off").
FREEING_LIMITS = frozenset({"concurrent", "queue", "queue_server", "queue_dm"})

Notify = Callable[[str, str, str, str], Awaitable[None]]  # platform, chat, text, job id


def frees_up(denial: Denial | None) -> bool:
    """Whether a limit's refusal goes away by itself as videos finish."""
    return denial is not None and denial.limit in FREEING_LIMITS and denial.allowed > 0


@dataclass
class Parts:
    """What one submit of a batch draft's scripts came to."""

    total: int
    queued: int = 0  # made (now or before), not waiting for a moderator
    review: int = 0  # made (now or before), waiting for a moderator's consent check
    new: int = 0  # made by this submit
    new_review: int = 0  # of them, waiting for a moderator
    refused: Reply | None = None  # the first refusal, as a Render press says it
    denial: Denial | None = None  # the limit that refused, when one did

    @property
    def made(self) -> int:
        return self.queued + self.review

    @property
    def held(self) -> bool:
        """Stopped by a limit that frees by itself: the rest waits for room."""
        return self.refused is not None and frees_up(self.denial)


class BatchRender:
    """Render for a batch draft, and the pass that queues what a limit held back."""

    def __init__(
        self, store: Store, guard: Guard, jobs: Lifecycle, notify: Notify, locks: Lanes
    ) -> None:
        self.store = store
        self.guard = guard
        self.jobs = jobs
        self.notify = notify
        self.locks = locks

    # ---- the owner's Render press ----------------------------------------------------------
    async def render(self, who: Who, draft: Draft) -> tuple[Reply, Draft | None]:
        """Submit the scripts not made yet; the answer and the draft to keep (None: every
        script is made). A limit that frees by itself holds the rest (the draft kept,
        marked held); any other refusal keeps the draft for Render, not held."""
        await self.jobs.catch_up()  # limits count what the workers finished until now
        parts = await self.submit(who, draft)
        short = batch_of(draft)[:8]
        if parts.refused is None:
            if not parts.queued:
                return Reply(
                    texts.BATCH_AWAITING_REVIEW.format(count=parts.review, batch=short)
                ), None
            text = texts.BATCH_QUEUED.format(count=parts.queued, batch=short)
            if parts.review:
                text += texts.BATCH_ALSO_REVIEW.format(count=parts.review)
            return Reply(text), None
        if parts.held:
            assert parts.denial is not None
            room = texts.HELD_ROOM[parts.denial.limit].format(allowed=parts.denial.allowed)
            if parts.made:
                left = parts.total - parts.made
                text = texts.BATCH_HELD.format(
                    made=parts.made, total=parts.total, left=left, batch=short, room=room
                )
            else:
                text = texts.BATCH_HELD_NONE.format(total=parts.total, batch=short, room=room)
            return Reply(text), replace(draft, held=True)
        kept = replace(draft, held=False)
        if not parts.made:
            return parts.refused, kept
        reason = parts.refused.text.removesuffix(texts.DRAFT_KEPT)
        text = texts.BATCH_PARTLY.format(
            made=parts.made,
            total=parts.total,
            left=parts.total - parts.made,
            batch=short,
            reason=reason,
        )
        return Reply(text), kept

    async def submit(self, who: Who, draft: Draft) -> Parts:
        """Admit and submit, in order, each script not made yet, up to the first refusal."""
        assert draft.voice_hash and draft.photo_hash
        batch = batch_of(draft)
        made = await self._made(draft)
        parts = Parts(total=len(draft.scripts))
        for part, script in enumerate(draft.scripts):
            state = made.get(part_of(draft, part))
            if state is not None:  # made by an earlier press or pass
                if state == JobState.REVIEW:
                    parts.review += 1
                else:
                    parts.queued += 1
                continue
            title = draft.titles[part] if part < len(draft.titles) else ""
            sub = Submission(
                draft.id,
                script,
                draft.voice_hash,
                draft.photo_hash,
                draft.voice_text,
                draft.voice_forwarded,
                part=part,
                batch=batch,
                title=title,
                version=version_of(draft),
                batch_size=len(draft.scripts),
                language=draft.language,
            )
            admitted = await self.guard.admit(who, sub)
            if isinstance(admitted, Reply):
                parts.refused = admitted
                return parts
            try:
                submitted = await submit_admitted(self.jobs, admitted)
            except LimitExceeded as e:
                parts.refused = Reply(limit_text(e.denial) + texts.DRAFT_KEPT)
                parts.denial = e.denial
                return parts
            parts.new += submitted.added
            if admitted.state == JobState.REVIEW:
                if submitted.added:
                    await self.guard.hold_for_review(admitted)
                    parts.new_review += 1
                parts.review += 1
            else:
                parts.queued += 1
        return parts

    async def _made(self, draft: Draft) -> dict[str, str]:
        """The batch's jobs made so far, by job id, and the state each is in."""
        places = await self.store.safety.places.batch_places(batch_of(draft))
        return {p.job_id: p.status for p in places}

    async def left(self, draft: Draft) -> int:
        """The scripts of a batch draft not made yet."""
        made = await self._made(draft)
        return sum(part_of(draft, n) not in made for n in range(len(draft.scripts)))

    # ---- ending a hold: the batch's Cancel all ------------------------------------------
    async def end_hold(self, who: Who, batch: str) -> int | None:
        """End the hold of the person's batch ``batch`` (its Cancel all; the caller holds the
        person's lock): the draft stays, no longer held. The scripts it had left, or None
        when no held draft of theirs is that batch."""
        batch = batch.strip().lower()
        for where, draft in await self.store.drafts.held(who.platform, who.user_id):
            if batch_of(draft) == batch:
                await self._keep(where, replace(draft, held=False))
                return await self.left(draft)
        return None

    # ---- the resume pass ---------------------------------------------------------------
    async def resume(self) -> int:
        """Queue what room there is for each held batch draft, as its owner's Render would;
        the jobs made. A person whose own event runs now is left for the next pass."""
        held = await self.store.drafts.held()
        if not held:
            return 0
        await self.jobs.catch_up()  # limits count what the workers finished until now
        made = 0
        for who, _ in held:
            key = (who.platform, who.user_id)
            if self.locks.pending(key):
                continue  # their event decides; the next pass sees what it left
            try:
                async with self.locks.hold(key):
                    made += await self._resume(who)
            except Busy:
                log.warning("held batches wait: redis busy")
                break
            except Exception:  # one draft's failure holds up no one else's
                log.exception("held batch not resumed", extra={"platform": who.platform})
        return made

    async def _resume(self, who: Who) -> int:
        """One held draft, read again under its owner's lock: the jobs made."""
        draft = await self.store.drafts.get(who.platform, who.user_id, who.chat_id)
        if draft is None or not draft.held:
            return 0  # its hold ended since the pass began
        short = batch_of(draft)[:8]
        gated = await self.guard.gate(Button(who, "render"))  # bans, the channel
        if gated is not None:
            await self._end(who, draft, _said(gated), await self.left(draft))
            return 0
        policy = await self.guard.policy(who)
        waiting = await self.store.jobs.refusal(
            who.platform, who.user_id, who.guild_id, policy.limits
        )
        if frees_up(waiting):
            return 0  # still no room: nothing to admit (a consent check costs a worker)
        parts = await self.submit(who, draft)
        if parts.new_review:
            notice = texts.BATCH_MORE_REVIEW.format(count=parts.new_review, batch=short)
            await self._tell(who, notice)
        if parts.refused is None:
            await self._keep(who, None)  # every script made: the hold is over
        elif not parts.held:
            reason = parts.refused.text.removesuffix(texts.DRAFT_KEPT)
            await self._end(who, draft, reason, parts.total - parts.made)
        elif parts.new:
            await self._keep(who, draft)  # in use: retention drops only idle drafts
        return parts.new

    async def _end(self, who: Who, draft: Draft, reason: str, left: int) -> None:
        """A refusal that does not free by itself ends the hold: said once, draft kept."""
        await self._keep(who, replace(draft, held=False))
        short = batch_of(draft)[:8]
        await self._tell(who, texts.BATCH_HOLD_ENDED.format(left=left, batch=short, reason=reason))

    async def _keep(self, who: Who, draft: Draft | None) -> None:
        await self.store.drafts.put(
            who.platform, who.user_id, who.chat_id, draft, guild_id=who.guild_id
        )

    async def _tell(self, who: Who, text: str) -> None:
        if who.chat_id == WEB_CHAT:  # the web studio's page shows its jobs; no chat to tell
            return
        await self.notify(who.platform, who.chat_id, text, "")


def _said(actions: list[Action]) -> str:
    """The line a refusal says (its first reply)."""
    return next((a.text for a in actions if isinstance(a, Reply)), texts.BUSY)
