"""The moderators' desk: ``/mod`` commands, moderator buttons, cancelling someone's job, and
taking a video down (``/mod verify``, checking a file's marks: :mod:`bot.safety.verify`).
Authority is checked here, on every call (:mod:`bot.safety.authority`); adapters only
report platform facts.

A server's moderators act on what happened in their server: its policy, bans there, its
queue, reviews, audit and log, purging what a person made there, taking down its videos.
Operators act everywhere (``everywhere`` in a command), and only they erase a person's data
everywhere or ban a person from every server and the DMs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import asdict, replace

from bot.contract import texts
from bot.contract.events import Action, Attachment, ButtonSpec, Notify, Reply, Who
from bot.contract.jobs import CancelOutcome, JobState, RenderJob
from bot.contract.ports import ConsentMethod, JobControl, MediaSupply, Unposted
from bot.safety import moderation
from bot.safety.authority import EVERYWHERE, Authority, authority_of
from bot.safety.erasure import Eraser
from bot.safety.policy import Safety, scope_of
from bot.safety.records import JobPlace, LogEntry, OpenJob, RenderRecord, ReviewRow
from bot.safety.storage import SafetyStore
from bot.safety.verify import Verifier, VerifyRequest

__all__ = ["Desk"]

log = logging.getLogger(__name__)
_REVIEWS_SHOWN = 5  # per /mod reviews (each carries previews of its voice note and photo)
_FOUND_SHOWN = 20  # per /mod audit find, newest first
#: what each of a job's uploads is called in a reply (as bot.jobs.media names them)
MEDIA_NAMES = {"voice": "voice note", "photo": "photo"}


#: a batch id as its Cancel button carries it (hex, bot.contract.jobs.batch_id_for)
_BATCH_REF = re.compile(r"[0-9a-f]{6,64}")


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
        self.gateway = eraser.gateway  # the workers: previews for reviews
        self.verifier = Verifier(self.records.log, self.gateway)  # /mod verify

    def authority(self, who: Who) -> Authority:
        return authority_of(who, self.config.staff)

    # ---- /mod ------------------------------------------------------------------------
    async def command(self, who: Who, args: str) -> list[Action]:
        checked = self._checked(who, args)
        if isinstance(checked, list):
            return checked
        auth, cmd = checked
        if cmd.sub == "verify":
            return await self.verifier.expect(who, cmd.everywhere)
        if cmd.sub in moderation.POLICY_EDITS:
            return [Reply(await self._policy_command(who, cmd))]
        return await self._act(who, auth, cmd)

    def verify_request(self, who: Who, args: str) -> VerifyRequest | list[Action] | None:
        """A ``/mod`` command that came with a file: the ``/mod verify`` request the file
        answers (authority checked as for the command alone), the refusal to show, or None
        when the command is another (it runs as usual; the file is never read)."""
        checked = self._checked(who, args)
        if isinstance(checked, list):
            return checked
        _, cmd = checked
        return self.verifier.at_once(who, cmd.everywhere) if cmd.sub == "verify" else None

    def _checked(
        self, who: Who, args: str
    ) -> tuple[Authority, moderation.ModCommand] | list[Action]:
        """The asker's authority and their parsed command, or the refusal: not a moderator,
        not a command, or ``everywhere`` from someone who is not an operator."""
        auth = self.authority(who)
        if not auth.moderator:
            return [Reply(texts.MOD_ONLY)]
        cmd = moderation.parse(args, label_required=self.config.label_required)
        if isinstance(cmd, str):
            return [Reply(cmd)]
        if cmd.everywhere and not auth.operator:
            return [Reply(texts.MOD_OPERATOR_ONLY)]
        return auth, cmd

    async def _policy_command(self, who: Who, cmd: moderation.ModCommand) -> str:
        """Show or edit this server's policy, within the operator's caps."""
        scope, caps = scope_of(who.guild_id), self.config.defaults
        if cmd.edits:
            refused = moderation.beyond_caps(cmd, caps)
            if refused is not None:
                return refused
            bounds = self.config.list_bounds
            try:
                data = await self.records.policy.edit_guild_policy(
                    who.platform,
                    scope,
                    lambda d: moderation.apply(cmd, d, here=who.chat_id, bounds=bounds),
                )
            except moderation.ListFull as e:
                return e.text
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
        # the views show other people's data: answered only where the asker alone reads them
        return [replace(a, private=True) for a in await self._view(p, view, cmd)]

    async def _view(self, p: str, view: str | None, cmd: moderation.ModCommand) -> list[Action]:
        """The queue, reviews, audit or log of this scope (None: everywhere)."""
        if cmd.sub == "queue":
            return [_queue_view(await self.records.places.open_in_scope(p, view), cmd.everywhere)]
        if cmd.sub == "reviews":
            return await self._reviews_view(await self.records.reviews.pending_reviews(p, view))
        if cmd.sub == "audit" and cmd.verb == moderation.AUDIT_FIND:
            return [await self._find(p, view, cmd)]
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

    async def _find(self, p: str, view: str | None, cmd: moderation.ModCommand) -> Reply:
        """``/mod audit find TERM``: the renders of this scope (None: everywhere) the term
        names, by requester, job id, fingerprint or mark; the same lines as the audit."""
        find = moderation.audit_find(cmd.args[0]) if cmd.args else None
        if find is None:  # parse let it through: it cannot be, but say so rather than guess
            return Reply(texts.MOD_BAD.format(usage=texts.MOD_USAGE["audit"]))
        rows = await self.records.log.find_renders(
            p, view, user=find.user, prefix=find.prefix, mark=find.mark, limit=_FOUND_SHOWN
        )
        if not rows:
            none = (
                texts.MOD_AUDIT_NO_MATCH_EVERYWHERE if cmd.everywhere else texts.MOD_AUDIT_NO_MATCH
            )
            return Reply(none.format(term=find.term))
        return Reply("\n".join(_audit_line(r, cmd.everywhere) for r in rows))

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
        unposted = await self.eraser.take_down(place, who.user_id, reason)
        short = place.job_id[:8]
        return [
            Reply(texts.MOD_TAKEN_DOWN.format(job=short) + _unposted(unposted, short)),
            Notify(
                texts.TAKEDOWN_NOTICE.format(job=short),
                platform=place.platform,
                chat_id=place.chat_id,
            ),
        ]

    async def _reviews_view(self, rows: list[ReviewRow]) -> list[Action]:
        """One message per pending review: the script, the phrase to listen for, previews of
        the voice note and photo (while retention keeps them), Approve and Deny.

        Previews, not the uploads: a worker decodes each upload in its jail and sends back
        a small copy (the photo downscaled, the voice note's first seconds), far within
        every platform's file limit; the gateway bounds how many are made at once."""
        if not rows:
            return [Reply(texts.MOD_REVIEWS_EMPTY)]
        shown = rows[:_REVIEWS_SHOWN]
        previews = await asyncio.gather(*(self._previews(r.job) for r in shown))
        out: list[Action] = []
        for r, (attachments, missing) in zip(shown, previews, strict=True):
            job = r.job
            phrase = texts.MOD_REVIEW_PHRASE.format(phrase=r.phrase) if r.phrase else ""
            short = job.job_id[:8]
            text = texts.MOD_REVIEW_LINE.format(
                job=short, user=job.user_id, script=job.script[:300], phrase=phrase
            )
            text += "".join(texts.MOD_REVIEW_NO_PREVIEW.format(what=m) for m in missing)
            buttons = (
                ButtonSpec(texts.MOD_APPROVE_BUTTON.format(job=short), "mod_approve", job.job_id),
                ButtonSpec(texts.MOD_DENY_BUTTON.format(job=short), "mod_deny", job.job_id),
            )
            out.append(Reply(text, buttons, attachments=attachments))
        return out

    async def _previews(self, job: RenderJob) -> tuple[tuple[Attachment, ...], list[str]]:
        """Previews of a review's voice note and photo, and the names of those without one."""
        await self.uploads.supply(job)  # the workers' copies, fresh (or gone with the files)
        made: list[Attachment] = []
        missing: list[str] = []
        for kind, digest, name in (
            ("audio", job.voice_hash, MEDIA_NAMES["voice"]),
            ("image", job.photo_hash, MEDIA_NAMES["photo"]),
        ):
            preview = await self.gateway.preview(kind, digest)
            if preview is None or not preview.data:
                missing.append(name)
            else:
                made.append(Attachment(preview.name, preview.data))
        return tuple(made), missing

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
        the requester is told either way. Nobody approves their own request: the review
        stays for another moderator. An approval counts in the job's scope, an operator's
        everywhere."""
        short = place.job_id[:8]
        if approve and (place.platform, place.user_id) == (who.platform, who.user_id):
            return [Reply(texts.MOD_SELF_APPROVAL.format(job=short))]
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
        row = await self.records.reviews.decide_review(
            place.job_id, approve, who.user_id, everywhere=self.authority(who).operator
        )
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

    async def cancel_batch(self, who: Who, ref: str) -> str:
        """Cancel every job of a batch (one file of several scripts) that has not ended: the
        batch's owner alone may (a moderator still cancels its jobs one by one, as any)."""
        ref = ref.strip().lower()
        places = await self.records.places.batch_places(ref) if _BATCH_REF.fullmatch(ref) else []
        if not places:  # echoed: one printable line, whatever was sent
            shown = " ".join("".join(c if c.isprintable() else " " for c in ref[:20]).split())
            return texts.BATCH_UNKNOWN.format(batch=shown)
        if any((p.platform, p.user_id) != (who.platform, who.user_id) for p in places):
            return texts.BATCH_NOT_YOURS
        counts = {outcome: 0 for outcome in CancelOutcome}
        for place in places:
            counts[await self.jobs.cancel(place.job_id)] += 1
        removed, stopping = counts[CancelOutcome.REMOVED], counts[CancelOutcome.STOPPING]
        if not removed and not stopping:
            return texts.BATCH_ALREADY.format(batch=ref[:8])
        closed = counts[CancelOutcome.CLOSED] + counts[CancelOutcome.UNKNOWN]
        return texts.BATCH_CANCELLED.format(
            batch=ref[:8], removed=removed, stopping=stopping, closed=closed
        )


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


def _unposted(outcomes: tuple[Unposted, ...], job: str) -> str:
    """What a takedown did in the chat: what was deleted, and each message still there with
    why it could not be."""
    if not outcomes:
        return texts.MOD_UNPOSTED_NOTHING
    name = texts.UNPOSTED_KINDS
    outcomes = tuple(sorted(outcomes, key=lambda o: o.kind != "video"))  # the video first
    gone = [name.get(o.kind, o.kind) for o in outcomes if o.removed]
    out = texts.MOD_UNPOSTED.format(what=", ".join(gone)) if gone else ""
    for o in outcomes:
        if not o.removed:
            out += texts.MOD_UNPOSTED_KEPT.format(
                what=name.get(o.kind, o.kind), reason=o.reason, job=job
            )
    return out


def _stamp(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(at))


def _consent(r: RenderRecord) -> tuple[str, str]:
    """How the video's consent stands, as the audit says it: the method and where it was
    given and counts ("moderator approval in server 1 by 7 (phrase mode)", "phrase heard"),
    or the server's mode when nothing was verified (attest, a review not approved)."""
    if not r.method:
        return r.mode, texts.CONSENT_EARLIER.format(verified=r.verified) if r.verified else ""
    if r.method == ConsentMethod.PHRASE:
        how = texts.CONSENT_PHRASE_HEARD
    else:
        template = (
            texts.CONSENT_BY_OPERATOR
            if r.method == ConsentMethod.OPERATOR
            else texts.CONSENT_BY_MODERATOR
        )
        how = template.format(scope=moderation.scope_name(r.given_in), by=r.by)
    if r.carried:
        how = texts.CONSENT_CARRIED.format(how=how)
    return how, texts.CONSENT_MODE.format(mode=r.mode)


def _audit_line(r: RenderRecord, everywhere: bool) -> str:
    how, verified = _consent(r)
    return texts.MOD_AUDIT_LINE.format(
        at=_stamp(r.at),
        where=moderation.where(r.scope if everywhere else None),
        user=r.user_id,
        job=r.job_id[:8],
        status=texts.MOD_TAKEN_DOWN_STATE if r.taken_down else r.status,
        mode=how,
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
