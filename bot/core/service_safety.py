"""The service's safety hooks (issue 7): bans, allowed channels, script blocklist, consent
modes, atomic rate limits, moderator review, ``/mod`` and ``/forget``.

A mixin of :class:`bot.core.service.Service` (same I/O boundary: the injected store and
gateway); the decisions themselves are pure functions in :mod:`bot.core.policy` and
:mod:`bot.core.moderation`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core import moderation, texts
from bot.core.events import Action, Button, ButtonSpec, Command, Event, Notify, Reply, Who
from bot.core.flow import Draft, FlowInput, Refuse, ScriptIn, TextIn
from bot.core.policy import (
    Denial,
    LimitExceeded,
    Safety,
    ServerPolicy,
    blocked,
    make_phrase,
    phrase_matches,
    scope_of,
)
from bot.jobs import RenderJob, job_id_for

if TYPE_CHECKING:
    from bot.core.service import Gateway, Limits

__all__ = ["SafetyHooks", "ForgetCounts"]

log = logging.getLogger(__name__)
_FINAL = ("done", "failed", "invalid", "cancelled")
_LOST_AFTER = 6 * 3600.0  # an open job Redis no longer knows is counted as lost after this
_OPEN_TO_ALL = ("help", "forget", "status")  # commands a banned user may still use
_REVIEWS_SHOWN = 5  # per /mod reviews (each carries its voice note and photo)


class ForgetCounts(dict[str, int]):
    """drafts, voices, media, outputs, jobs."""


class SafetyHooks:
    """Mixin for the service. Needs ``store``, ``gateway``, ``limits``, ``upload_bytes``."""

    safety: Safety
    if TYPE_CHECKING:
        store: Any
        gateway: Gateway
        limits: Limits
        upload_bytes: dict[str, int]

        async def _queued_text(self, job_id: str) -> str: ...

    # ---- gate: runs before the conversation sees the event ---------------------------
    async def _gate(self, event: Event) -> list[Action] | None:
        """Answers for /mod, /forget, moderator buttons, bans and closed channels; None lets
        the event through to the conversation."""
        who = event.who
        if isinstance(event, Command) and event.name == "mod":
            return await self._moderate(who, event.args)
        if isinstance(event, Button) and event.action.startswith("mod_"):
            return await self._moderator_button(who, event.action, event.value)
        if isinstance(event, Command) and event.name == "forget":
            counts = await self._forget(who.platform, who.user_id)
            await self.store.put_draft(who.platform, who.user_id, who.chat_id, None)
            return [Reply(texts.FORGET_DONE.format(**counts))]
        if isinstance(event, Command) and event.name in _OPEN_TO_ALL:
            return None
        scope = scope_of(who.guild_id)
        if await self.store.is_banned(who.platform, scope, who.user_id):
            return [Reply(texts.BANNED)]
        if who.guild_id is not None:
            policy = await self._policy(who)
            if policy.channels and who.chat_id not in policy.channels:
                return [Reply(texts.CHANNEL_NOT_ALLOWED)]
        return None

    async def _policy(self, who: Who) -> ServerPolicy:
        overrides = await self.store.guild_policy(who.platform, scope_of(who.guild_id))
        return self.safety.defaults.merge(overrides)

    async def _screen(self, who: Who, flow_input: FlowInput, draft: Draft | None) -> FlowInput:
        """Refuse a script with a blocked phrase, before the draft keeps it."""
        script: str | None = None
        if isinstance(flow_input, ScriptIn):
            script = flow_input.text
        elif isinstance(flow_input, TextIn) and draft is not None and draft.state != "transcript":
            script = flow_input.text  # typed text becomes the script (not a transcript)
        if script is not None and blocked(script, (await self._policy(who)).blocklist):
            return Refuse(texts.SCRIPT_BLOCKED)
        return flow_input

    async def _consent_intro(
        self, who: Who, draft: Draft | None, actions: list[Action]
    ) -> list[Action]:
        """In phrase mode, a new draft gets its own phrase, said right at /talk."""
        if draft is None or (await self._policy(who)).consent_mode != "phrase":
            return actions
        phrase = make_phrase()
        await self.store.put_phrase(who.platform, who.user_id, who.chat_id, draft.id, phrase)
        return [*actions, Reply(texts.PHRASE_INTRO.format(phrase=phrase))]

    # ---- submitting a render ---------------------------------------------------------
    async def _submit(self, who: Who, draft: Draft) -> tuple[Action, Draft | None]:
        """Policy, consent and limits, then queue (or hold for review). Returns the answer and
        the draft to keep (None: the draft is done); a refusal keeps the draft."""
        policy = await self._policy(who)
        if blocked(draft.script or "", policy.blocklist):
            return Reply(texts.SCRIPT_BLOCKED), draft
        job = self._job(who, draft, policy)
        consent = await self._consent(who, draft, policy.consent_mode)
        if isinstance(consent, Reply):
            return consent, draft
        status, verified, phrase = consent
        if (
            status == "review"
            and who.guild_id is None
            and (who.platform not in self.safety.dm_moderated)
        ):
            return Reply(texts.REVIEW_UNAVAILABLE), draft  # nobody could approve it here
        await self._sync_open_jobs()
        try:
            added = await self.store.add_job(
                job,
                who.guild_id,
                policy.consent_mode,
                limits=policy.limits,
                status=status,
                verified=verified,
            )
        except LimitExceeded as e:
            return Reply(_limit_text(e.denial) + texts.DRAFT_KEPT), draft
        if status == "review":
            if added:
                await self.store.put_review(job, who.guild_id, phrase)
            return Reply(texts.AWAITING_REVIEW.format(job=job.job_id[:8])), None
        if added:
            await self.gateway.enqueue(job)
            log.info("job queued", extra={"job_id": job.job_id, "platform": who.platform})
        return Reply(await self._queued_text(job.job_id)), None

    def _job(self, who: Who, draft: Draft, policy: ServerPolicy) -> RenderJob:
        assert draft.script and draft.voice_hash and draft.photo_hash
        label = self.limits.label
        if policy.label_off and not self.safety.label_required:
            label = None
        return RenderJob(
            job_id=job_id_for(who.platform, who.user_id, who.chat_id, draft.id),
            platform=who.platform,
            user_id=who.user_id,
            chat_id=who.chat_id,
            script=draft.script,
            voice_hash=draft.voice_hash,
            photo_hash=draft.photo_hash,
            voice_text=draft.voice_text,
            max_bytes=self.upload_bytes.get(who.platform),
            label=label,
            label_position=policy.label_position,
        )

    async def _consent(
        self, who: Who, draft: Draft, mode: str
    ) -> Reply | tuple[str, str, str | None]:
        """(status, verified, phrase) for the job, or the refusal to show."""
        if mode == "review":
            return "review", "", None
        if mode != "phrase":
            return "queued", "", None
        assert draft.voice_hash
        earlier = await self.store.voice_consent(who.platform, who.user_id, draft.voice_hash)
        if earlier:  # a saved voice carries its verified consent record
            return "queued", f"voice:{earlier}", None
        phrase = await self.store.phrase_for(who.platform, who.user_id, who.chat_id, draft.id)
        if phrase is None:
            phrase = make_phrase()
            await self.store.put_phrase(who.platform, who.user_id, who.chat_id, draft.id, phrase)
            return Reply(texts.PHRASE_NEEDED.format(phrase=phrase))
        heard = await self._transcribe(draft.voice_hash) if self.safety.asr else None
        if heard is None:
            return "review", "", phrase  # no speech recognition: a moderator listens
        if not phrase_matches(phrase, heard):
            return Reply(texts.PHRASE_NOT_HEARD.format(phrase=phrase))
        return "queued", "asr", phrase

    async def _transcribe(self, digest: str) -> str | None:
        transcribe = getattr(self.gateway, "transcribe", None)
        return await transcribe(digest) if transcribe is not None else None

    async def _sync_open_jobs(self) -> None:
        """Bring finished jobs' SQLite status up to date before counting open ones.

        Workers report status in Redis only; without this a finished job would keep counting
        against "concurrent" and the queue cap. One Redis read per open job (at most the
        queue cap). Syncing only ever closes jobs, so a race here can only be conservative;
        the count-and-insert itself is one SQLite transaction.
        """
        now = time.time()
        for job_id, created in await self.store.open_jobs_with_age():
            live = await self.gateway.status(job_id)
            if live is not None and live.status in _FINAL:
                await self.store.update_job(
                    job_id,
                    live.status,
                    error=live.error,
                    output_bytes=live.output_bytes,
                    timings=live.seconds,
                )
            elif live is None and now - created > _LOST_AFTER:
                await self.store.update_job(job_id, "failed", error="lost")

    # ---- /mod ------------------------------------------------------------------------
    async def _moderate(self, who: Who, args: str) -> list[Action]:
        if not who.is_moderator:
            return [Reply(texts.MOD_ONLY)]
        cmd = moderation.parse(args, label_required=self.safety.label_required)
        if isinstance(cmd, str):
            return [Reply(cmd)]
        scope = scope_of(who.guild_id)
        if cmd.edits:
            data = await self.store.edit_guild_policy(
                who.platform, scope, lambda d: moderation.apply(cmd, d, here=who.chat_id)
            )
            await self.store.log_action(
                who.platform, scope, who.user_id, f"mod {cmd.sub} {cmd.verb}"
            )
            if cmd.sub == "block":
                return [
                    Reply(texts.MOD_BLOCK_ADDED if cmd.verb == "add" else texts.MOD_BLOCK_REMOVED)
                ]
            policy = self.safety.defaults.merge(data)
            return [Reply(moderation.describe(cmd.sub, policy, asr=self.safety.asr))]
        if cmd.sub in moderation.POLICY_EDITS:
            policy = await self._policy(who)
            return [Reply(moderation.describe(cmd.sub, policy, asr=self.safety.asr))]
        return await self._moderate_people(who, cmd, scope)

    async def _moderate_people(
        self, who: Who, cmd: moderation.ModCommand, scope: str
    ) -> list[Action]:
        store, p = self.store, who.platform
        if cmd.sub == "ban":
            await store.ban(p, scope, cmd.args[0], cmd.args[1], who.user_id)
            return [Reply(texts.MOD_BANNED.format(user=cmd.args[0]))]
        if cmd.sub == "unban":
            was = await store.unban(p, scope, cmd.args[0], who.user_id)
            return [
                Reply(
                    (texts.MOD_UNBANNED if was else texts.MOD_NOT_BANNED).format(user=cmd.args[0])
                )
            ]
        if cmd.sub == "purge":
            counts = await self._forget(p, cmd.args[0])
            await store.log_action(p, scope, who.user_id, "mod purge", cmd.args[0])
            return [Reply(texts.MOD_PURGED.format(user=cmd.args[0], **counts))]
        if cmd.sub == "queue":
            return [self._queue_view(await store.open_in_scope(p, scope))]
        if cmd.sub == "reviews":
            return await self._reviews_view(await store.pending_reviews(p, scope))
        rows = await store.recent_renders(p, scope, int(cmd.verb or 10))
        if not rows:
            return [Reply(texts.MOD_AUDIT_EMPTY)]
        return [Reply("\n".join(_audit_line(r) for r in rows))]

    @staticmethod
    def _queue_view(jobs: list[Any]) -> Reply:
        if not jobs:
            return Reply(texts.MOD_QUEUE_EMPTY)
        lines = [
            texts.MOD_QUEUE_LINE.format(
                job=j.job_id[:8], user=j.user_id, status=j.status, age=moderation.age(j.created)
            )
            for j in jobs
        ]
        buttons = tuple(
            ButtonSpec(texts.MOD_CANCEL_BUTTON.format(job=j.job_id[:8]), "mod_cancel", j.job_id)
            for j in jobs[:20]
        )
        return Reply("\n".join(lines), buttons)

    async def _reviews_view(self, rows: list[Any]) -> list[Action]:
        """One message per pending review: the script, the phrase to listen for, the voice
        note and photo attached (while retention keeps them), Approve and Deny."""
        if not rows:
            return [Reply(texts.MOD_REVIEWS_EMPTY)]
        out: list[Action] = []
        for r in rows[:_REVIEWS_SHOWN]:
            job: RenderJob = r.job
            phrase = texts.MOD_REVIEW_PHRASE.format(phrase=r.phrase) if r.phrase else ""
            short = job.job_id[:8]
            text = texts.MOD_REVIEW_LINE.format(
                job=short, user=job.user_id, script=job.script[:300], phrase=phrase
            )
            files = await self.store.media_paths((job.voice_hash, job.photo_hash))
            buttons = (
                ButtonSpec(texts.MOD_APPROVE_BUTTON.format(job=short), "mod_approve", job.job_id),
                ButtonSpec(texts.MOD_DENY_BUTTON.format(job=short), "mod_deny", job.job_id),
            )
            out.append(Reply(text, buttons, attachments=tuple(str(f) for f in files)))
        return out

    async def _moderator_button(self, who: Who, action: str, job_id: str) -> list[Action]:
        if not who.is_moderator:
            return [Reply(texts.MOD_BUTTON_ONLY)]
        where = await self.store.job_scope(job_id)
        if where is None or where[:2] != (who.platform, scope_of(who.guild_id)):
            return [Reply(texts.MOD_REVIEW_GONE.format(job=job_id[:8]))]
        if action == "mod_cancel":
            await self.store.log_action(who.platform, where[1], who.user_id, "mod cancel", job_id)
            return [Reply(await self._mod_cancel(job_id, where[2]))]
        approve = action == "mod_approve"
        row = await self.store.decide_review(job_id, approve, who.user_id)
        if row is None:
            return [Reply(texts.MOD_REVIEW_GONE.format(job=job_id[:8]))]
        job: RenderJob = row.job
        if approve:
            await self.gateway.enqueue(job)
        tell = (texts.REVIEW_APPROVED if approve else texts.REVIEW_DENIED).format(job=job_id[:8])
        done = (texts.MOD_APPROVED if approve else texts.MOD_DENIED).format(job=job_id[:8])
        return [Reply(done), Notify(tell, platform=job.platform, chat_id=job.chat_id)]

    async def _mod_cancel(self, job_id: str, status: str) -> str:
        if status == "review":
            await self.store.decide_review(job_id, False, "cancel")
            return texts.MOD_CANCELLED.format(job=job_id[:8])
        cancel = getattr(self.gateway, "cancel", None)
        if cancel is None:
            return texts.MOD_CANCEL_UNAVAILABLE.format(job=job_id[:8])
        result = await cancel(job_id)
        if result in ("removed", "stopping", "cancelled", True):
            await self.store.update_job(job_id, "cancelled")
            return texts.MOD_CANCELLED.format(job=job_id[:8])
        return texts.MOD_CANCEL_UNAVAILABLE.format(job=job_id[:8])

    # ---- /forget and /mod purge ------------------------------------------------------
    async def _forget(self, platform: str, user_id: str) -> ForgetCounts:
        """Delete what the user handed over and what was made from it; counts per kind."""
        result = await self.store.forget_user(platform, user_id)
        cancel = getattr(self.gateway, "cancel", None)
        for job_id in result.open_job_ids:
            if cancel is not None:
                await cancel(job_id)
        drop = getattr(self.gateway, "drop_media", None)
        paths = list(result.media_paths)
        if self.safety.out_dir is not None:
            videos = [self.safety.out_dir / f"{job_id}.mp4" for job_id in result.job_ids]
        else:
            videos = []
        media = await asyncio.to_thread(_unlink_all, paths)  # file I/O: off the event loop
        outputs = await asyncio.to_thread(_unlink_all, videos)
        for path in paths:
            if drop is not None:
                await drop(path.name.split(".")[0])
        return ForgetCounts(
            drafts=result.drafts,
            voices=result.voices,
            media=media,
            outputs=outputs,
            jobs=result.jobs,
        )


def _unlink_all(paths: list[Path]) -> int:
    return sum(_unlink(p) for p in paths)


def _unlink(path: Path) -> int:
    try:
        path.unlink()
        return 1
    except FileNotFoundError:
        return 0


def _limit_text(denial: Denial) -> str:
    if denial.allowed == 0:
        return texts.LIMIT_OFF
    template = {
        "day": texts.LIMIT_DAY,
        "hour": texts.LIMIT_HOUR,
        "concurrent": texts.LIMIT_CONCURRENT,
        "queue": texts.LIMIT_QUEUE,
    }[denial.limit]
    return template.format(allowed=denial.allowed, when=texts.when(denial.retry_in(time.time())))


def _audit_line(r: Any) -> str:
    at = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.at))
    verified = f" ({r.verified})" if r.verified else ""
    return texts.MOD_AUDIT_LINE.format(
        at=at,
        user=r.user_id,
        job=r.job_id[:8],
        status=r.status,
        mode=r.mode,
        verified=verified,
        voice=moderation.short(r.voice),
        photo=moderation.short(r.photo),
        script=moderation.short(r.script),
    )
