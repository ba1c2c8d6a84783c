"""The moderators' desk: ``/mod`` commands, moderator buttons, cancelling someone's job, and
taking a video down. Authority is checked here, on every call (:mod:`bot.safety.authority`);
adapters only report platform facts.

A server's moderators act on what happened in their server: its policy, bans there, its
queue, reviews, audit and log, purging what a person made there, taking down its videos.
Operators act everywhere (``everywhere`` in a command), and only they erase a person's data
everywhere or ban a person from every server and the DMs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

from bot.contract import texts
from bot.contract.events import Action, ButtonSpec, Notify, Reply, Who
from bot.contract.jobs import CancelOutcome, JobState
from bot.contract.ports import JobControl, MediaSupply
from bot.safety import moderation
from bot.safety.authority import EVERYWHERE, Authority, authority_of
from bot.safety.erasure import Eraser
from bot.safety.policy import Safety, scope_of
from bot.safety.records import JobPlace, LogEntry, OpenJob, RenderRecord, ReviewRow
from bot.safety.storage import SafetyStore

__all__ = ["Desk"]

log = logging.getLogger(__name__)
_REVIEWS_SHOWN = 5  # per /mod reviews (each carries its voice note and photo)


class Desk:
    """``/mod`` and the moderator buttons. Collaborators are passed in."""

    def __init__(
        self,
        store: SafetyStore,
        config: Safety,
        uploads: MediaSupply,
        jobs: JobControl,
        eraser: Eraser,
    ) -> None:
        self.store = store
        self.records = store.safety
        self.config = config
        self.uploads = uploads
        self.jobs = jobs
        self.eraser = eraser

    def authority(self, who: Who) -> Authority:
        return authority_of(who, self.config.staff)

    # ---- /mod ------------------------------------------------------------------------
    async def command(self, who: Who, args: str) -> list[Action]:
        auth = self.authority(who)
        if not auth.moderator:
            return [Reply(texts.MOD_ONLY)]
        cmd = moderation.parse(args, label_required=self.config.label_required)
        if isinstance(cmd, str):
            return [Reply(cmd)]
        if cmd.everywhere and not auth.operator:
            return [Reply(texts.MOD_OPERATOR_ONLY)]
        if cmd.sub in moderation.POLICY_EDITS:
            return [Reply(await self._policy_command(who, cmd))]
        return await self._act(who, auth, cmd)

    async def _policy_command(self, who: Who, cmd: moderation.ModCommand) -> str:
        """Show or edit this server's policy, within the operator's caps."""
        scope, caps = scope_of(who.guild_id), self.config.defaults
        if cmd.edits:
            refused = moderation.beyond_caps(cmd, caps)
            if refused is not None:
                return refused
            data = await self.records.policy.edit_guild_policy(
                who.platform, scope, lambda d: moderation.apply(cmd, d, here=who.chat_id)
            )
            await self.records.log.log_action(
                who.platform, scope, who.user_id, f"mod {cmd.sub} {cmd.verb}".strip()
            )
            if cmd.sub == "block":
                return texts.MOD_BLOCK_ADDED if cmd.verb == "add" else texts.MOD_BLOCK_REMOVED
        else:
            data = await self.records.policy.guild_policy(who.platform, scope)
        return moderation.describe(cmd.sub, caps.merge(data), asr=self.config.asr)

    async def _act(self, who: Who, auth: Authority, cmd: moderation.ModCommand) -> list[Action]:
        """Commands on people and jobs: in this server, or everywhere for operators."""
        p, here = who.platform, scope_of(who.guild_id)
        view = None if cmd.everywhere else here  # what views read: None is everywhere
        if cmd.sub in ("ban", "unban"):
            return [Reply(await self._ban(who, cmd, EVERYWHERE if cmd.everywhere else here))]
        if cmd.sub == "purge":
            return [Reply(await self._purge(who, cmd.args[0], view))]
        if cmd.sub == "takedown":
            return await self._take_down(who, auth, cmd.args[0], cmd.args[1])
        if cmd.sub == "queue":
            return [_queue_view(await self.records.places.open_in_scope(p, view), cmd.everywhere)]
        if cmd.sub == "reviews":
            return await self._reviews_view(await self.records.reviews.pending_reviews(p, view))
        count = int(cmd.verb or 10)
        if cmd.sub == "log":
            entries = await self.records.log.mod_log(p, view, count)
            return (
                [Reply("\n".join(_log_line(e, cmd.everywhere) for e in entries))]
                if entries
                else [Reply(texts.MOD_LOG_EMPTY)]
            )
        rows = await self.records.log.recent_renders(p, view, count)
        if not rows:
            return [Reply(texts.MOD_AUDIT_EMPTY)]
        return [Reply("\n".join(_audit_line(r, cmd.everywhere) for r in rows))]

    async def _ban(self, who: Who, cmd: moderation.ModCommand, scope: str) -> str:
        user, everywhere = cmd.args[0], scope == EVERYWHERE
        if cmd.sub == "ban":
            await self.records.bans.ban(who.platform, scope, user, cmd.args[1], who.user_id)
            stopped = await self._stop_jobs_of(who.platform, user, None if everywhere else scope)
            done = (texts.MOD_BANNED_EVERYWHERE if everywhere else texts.MOD_BANNED).format(
                user=user
            )
            return done + (texts.MOD_BAN_STOPPED.format(jobs=stopped) if stopped else "")
        was = await self.records.bans.unban(who.platform, scope, user, who.user_id)
        if everywhere:
            done = texts.MOD_UNBANNED_EVERYWHERE if was else texts.MOD_NOT_BANNED_EVERYWHERE
        else:
            done = texts.MOD_UNBANNED if was else texts.MOD_NOT_BANNED
        return done.format(user=user)

    async def _stop_jobs_of(self, platform: str, user: str, scope: str | None) -> int:
        """A ban cancels the person's open jobs where it applies (``scope``; None: their
        jobs everywhere on this platform): reviews denied, queued and running jobs
        cancelled. How many."""
        stopped = 0
        for job in await self.records.places.open_in_scope(platform, scope):
            if job.user_id != user:
                continue
            if job.status == JobState.REVIEW:
                if await self.records.reviews.decide_review(job.job_id, False, "ban") is not None:
                    stopped += 1
            elif await self.jobs.cancel(job.job_id) in (
                CancelOutcome.REMOVED,
                CancelOutcome.STOPPING,
            ):
                stopped += 1
        return stopped

    async def _purge(self, who: Who, user: str, scope: str | None) -> str:
        """What ``user`` made in this scope (a server moderator), or everywhere (operators)."""
        removed = await self.eraser.erase(
            who.platform, user, scope, actor=who.user_id, action="mod purge"
        )
        counts = asdict(removed)
        if scope is None:
            return texts.MOD_PURGED.format(user=user, **counts)
        return texts.MOD_PURGED_HERE.format(user=user, **counts)

    async def _take_down(self, who: Who, auth: Authority, ref: str, reason: str) -> list[Action]:
        place = await self.records.places.job_place(ref)
        if place is None or not auth.covers(place.platform, place.scope):
            return [Reply(texts.MOD_JOB_NOT_HERE.format(job=ref[:8]))]
        await self.eraser.take_down(place, who.user_id, reason)
        short = place.job_id[:8]
        return [
            Reply(texts.MOD_TAKEN_DOWN.format(job=short)),
            Notify(
                texts.TAKEDOWN_NOTICE.format(job=short),
                platform=place.platform,
                chat_id=place.chat_id,
            ),
        ]

    async def _reviews_view(self, rows: list[ReviewRow]) -> list[Action]:
        """One message per pending review: the script, the phrase to listen for, the voice
        note and photo attached (while retention keeps them), Approve and Deny."""
        if not rows:
            return [Reply(texts.MOD_REVIEWS_EMPTY)]
        out: list[Action] = []
        for r in rows[:_REVIEWS_SHOWN]:
            job = r.job
            phrase = texts.MOD_REVIEW_PHRASE.format(phrase=r.phrase) if r.phrase else ""
            short = job.job_id[:8]
            text = texts.MOD_REVIEW_LINE.format(
                job=short, user=job.user_id, script=job.script[:300], phrase=phrase
            )
            files = await self.records.places.media_paths((job.voice_hash, job.photo_hash))
            buttons = (
                ButtonSpec(texts.MOD_APPROVE_BUTTON.format(job=short), "mod_approve", job.job_id),
                ButtonSpec(texts.MOD_DENY_BUTTON.format(job=short), "mod_deny", job.job_id),
            )
            out.append(Reply(text, buttons, attachments=tuple(str(f) for f in files)))
        return out

    # ---- moderator buttons: cancel, approve, deny ------------------------------------
    async def button(self, who: Who, action: str, job_id: str) -> list[Action]:
        auth = self.authority(who)
        if not auth.moderator:
            return [Reply(texts.MOD_BUTTON_ONLY)]
        place = await self.records.places.job_place(job_id) if job_id else None
        if place is None or place.job_id != job_id or not auth.covers(place.platform, place.scope):
            return [Reply(texts.MOD_REVIEW_GONE.format(job=job_id[:8]))]
        if action == "mod_cancel":
            await self.records.log.log_action(
                who.platform, place.scope, who.user_id, "mod cancel", job_id
            )
            return [Reply(await self._mod_cancel(place))]
        return await self._decide(who, place, approve=action == "mod_approve")

    async def _decide(self, who: Who, place: JobPlace, *, approve: bool) -> list[Action]:
        """Approve (the uploads go back to the workers, even after a day) or deny a review;
        the requester is told either way."""
        short = place.job_id[:8]
        if approve:
            pending = await self.records.reviews.pending_reviews(place.platform, place.scope)
            review = next((r for r in pending if r.job.job_id == place.job_id), None)
            if review is None:
                return [Reply(texts.MOD_REVIEW_GONE.format(job=short))]
            if await self.uploads.supply(review.job) is not None:
                await self.records.reviews.decide_review(place.job_id, False, who.user_id)
                tell = texts.REVIEW_MEDIA_GONE.format(job=short)
                return [
                    Reply(texts.MOD_REVIEW_MEDIA_GONE.format(job=short)),
                    Notify(tell, platform=place.platform, chat_id=place.chat_id),
                ]
        row = await self.records.reviews.decide_review(place.job_id, approve, who.user_id)
        if row is None:
            return [Reply(texts.MOD_REVIEW_GONE.format(job=short))]
        if approve:
            await self.jobs.approve(row.job)
        tell = (texts.REVIEW_APPROVED if approve else texts.REVIEW_DENIED).format(job=short)
        done = (texts.MOD_APPROVED if approve else texts.MOD_DENIED).format(job=short)
        return [Reply(done), Notify(tell, platform=row.job.platform, chat_id=row.job.chat_id)]

    async def _mod_cancel(self, place: JobPlace) -> str:
        short = place.job_id[:8]
        if place.status == JobState.REVIEW:
            await self.records.reviews.decide_review(place.job_id, False, "cancel")
            return texts.MOD_CANCELLED.format(job=short)
        outcome = await self.jobs.cancel(place.job_id)
        if outcome in (CancelOutcome.REMOVED, CancelOutcome.STOPPING):
            return texts.MOD_CANCELLED.format(job=short)
        return texts.MOD_CANCEL_UNAVAILABLE.format(job=short)

    # ---- /cancel JOB and the status message's Cancel ---------------------------------
    async def cancel_job(self, who: Who, ref: str) -> str:
        """Cancel a job by id (or its first 8 characters): its owner's, or one made where
        this person has authority (their server as its moderator; anywhere as operator)."""
        ref = ref.strip().lower()
        place = await self.records.places.job_place(ref) if len(ref) >= 6 else None
        if place is None:  # echoed: one printable line, whatever was typed
            shown = " ".join("".join(c if c.isprintable() else " " for c in ref[:20]).split())
            return texts.JOB_UNKNOWN.format(job=shown)
        owner = (place.platform, place.user_id) == (who.platform, who.user_id)
        if not owner:
            if not self.authority(who).covers(place.platform, place.scope):
                return texts.JOB_NOT_YOURS
            await self.records.log.log_action(
                who.platform, place.scope, who.user_id, "mod cancel", place.job_id
            )
        outcome = await self.jobs.cancel(place.job_id)
        short = place.job_id[:8]
        if outcome == CancelOutcome.REMOVED:
            return texts.JOB_CANCELLED.format(job=short)
        if outcome == CancelOutcome.STOPPING:
            return texts.JOB_STOPPING.format(job=short)
        state = await self.records.places.job_place(place.job_id)  # closed: say how it ended
        return texts.JOB_ALREADY.format(job=short, status=state.status if state else place.status)


def _queue_view(jobs: list[OpenJob], everywhere: bool) -> Reply:
    if not jobs:
        return Reply(texts.MOD_QUEUE_EMPTY)
    lines = [
        texts.MOD_QUEUE_LINE.format(
            job=j.job_id[:8],
            where=moderation.where(j.scope if everywhere else None),
            user=j.user_id,
            status=j.status,
            age=moderation.age(j.created),
        )
        for j in jobs
    ]
    buttons = tuple(
        ButtonSpec(texts.MOD_CANCEL_BUTTON.format(job=j.job_id[:8]), "mod_cancel", j.job_id)
        for j in jobs[:20]
    )
    return Reply("\n".join(lines), buttons)


def _stamp(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(at))


def _audit_line(r: RenderRecord, everywhere: bool) -> str:
    verified = f" ({r.verified})" if r.verified else ""
    return texts.MOD_AUDIT_LINE.format(
        at=_stamp(r.at),
        where=moderation.where(r.scope if everywhere else None),
        user=r.user_id,
        job=r.job_id[:8],
        status=texts.MOD_TAKEN_DOWN_STATE if r.taken_down else r.status,
        mode=r.mode,
        verified=verified,
        voice=moderation.short(r.voice),
        photo=moderation.short(r.photo),
        script=moderation.short(r.script),
    )


def _log_line(e: LogEntry, everywhere: bool) -> str:
    detail = f" {e.detail}" if e.detail else ""
    return texts.MOD_LOG_LINE.format(
        at=_stamp(e.at),
        where=moderation.where(e.scope if everywhere else None),
        actor=e.actor,
        action=e.action,
        detail=detail,
    )
