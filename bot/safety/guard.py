"""The safety side of every event: the narrow interface the conversation service calls.

:class:`Guard` answers, in order of an event's life: ``gate`` (``/mod`` and moderator
buttons, ``/forget``, bans, allowed channels), ``screen`` (the server's script blocklist),
``consent_intro`` (a phrase to say, in phrase mode), ``submit`` (consent, limits, review or
queue) and ``cancel_job`` (owners, and those with authority where the job was made). The
decisions themselves are pure functions in :mod:`bot.safety.policy` and
:mod:`bot.safety.moderation`; authority is decided in :mod:`bot.safety.authority`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

from bot.core import texts
from bot.core.events import Action, Button, Command, Event, Reply, Who
from bot.core.flow import Draft, FlowInput, Refuse, ScriptIn, TextIn
from bot.core.ports import Gateway
from bot.core.uploads import Uploads
from bot.jobs import FINAL_STATES, JobState, RenderJob, job_id_for
from bot.safety.authority import EVERYWHERE
from bot.safety.desk import Desk
from bot.safety.erasure import Eraser
from bot.safety.policy import (
    Denial,
    LimitExceeded,
    Safety,
    ServerPolicy,
    blocked,
    make_phrase,
    phrase_matches,
    scope_of,
)
from bot.safety.storage import SafetyStore

__all__ = ["Guard"]

log = logging.getLogger(__name__)
_LOST_AFTER = 6 * 3600.0  # an open job Redis no longer knows is counted as lost after this
_OPEN_TO_ALL = ("help", "forget", "status")  # commands a banned user may still use


class Guard:
    """Safety for the conversation service. Collaborators are passed in: the store, the
    queue gateway, the safety settings, the uploads (to hand a job's files to the workers),
    the label and the platforms' upload caps for the jobs it makes."""

    def __init__(
        self,
        store: SafetyStore,
        gateway: Gateway,
        config: Safety,
        uploads: Uploads,
        *,
        label: str | None,
        upload_bytes: dict[str, int],
    ) -> None:
        self.store = store
        self.records = store.safety
        self.gateway = gateway
        self.config = config
        self.uploads = uploads
        self.label = label
        self.upload_bytes = upload_bytes
        self.eraser = Eraser(store, gateway, config.out_dir)
        self.desk = Desk(store, gateway, config, uploads, self.eraser)

    # ---- gate: runs before the conversation sees the event ---------------------------
    async def gate(self, event: Event) -> list[Action] | None:
        """Answers for /mod, /forget, moderator buttons, bans and closed channels; None lets
        the event through to the conversation."""
        who = event.who
        if isinstance(event, Command) and event.name == "mod":
            return await self.desk.command(who, event.args)
        if isinstance(event, Button) and event.action.startswith("mod_"):
            return await self.desk.button(who, event.action, event.value)
        if isinstance(event, Command) and event.name == "forget":
            removed = await self.eraser.erase(who.platform, who.user_id)
            return [Reply(texts.FORGET_DONE.format(**asdict(removed)))]
        if isinstance(event, Command) and event.name in _OPEN_TO_ALL:
            return None
        ban = await self.records.ban_in(who.platform, scope_of(who.guild_id), who.user_id)
        if ban is not None:
            return [Reply(texts.BANNED_EVERYWHERE if ban == EVERYWHERE else texts.BANNED)]
        if who.guild_id is not None:
            policy = await self.policy(who)
            if policy.channels and who.chat_id not in policy.channels:
                return [Reply(texts.CHANNEL_NOT_ALLOWED)]
        return None

    async def policy(self, who: Who) -> ServerPolicy:
        """The operator's settings with this server's overrides, within the operator's caps."""
        overrides = await self.records.guild_policy(who.platform, scope_of(who.guild_id))
        return self.config.defaults.merge(overrides)

    async def screen(self, who: Who, flow_input: FlowInput, draft: Draft | None) -> FlowInput:
        """Refuse a script with a blocked phrase, before the draft keeps it."""
        script: str | None = None
        if isinstance(flow_input, ScriptIn):
            script = flow_input.text
        elif isinstance(flow_input, TextIn) and draft is not None and draft.state != "transcript":
            script = flow_input.text  # typed text becomes the script (not a transcript)
        if script is not None and blocked(script, (await self.policy(who)).blocklist):
            return Refuse(texts.SCRIPT_BLOCKED)
        return flow_input

    async def consent_intro(
        self, who: Who, draft: Draft | None, actions: list[Action]
    ) -> list[Action]:
        """In phrase mode, a new draft gets its own phrase, said right at /talk."""
        if draft is None or (await self.policy(who)).consent_mode != "phrase":
            return actions
        phrase = make_phrase()
        await self.records.put_phrase(who.platform, who.user_id, who.chat_id, draft.id, phrase)
        return [*actions, Reply(texts.PHRASE_INTRO.format(phrase=phrase))]

    async def cancel_job(self, who: Who, ref: str) -> str:
        return await self.desk.cancel_job(who, ref)

    # ---- submitting a render ---------------------------------------------------------
    async def submit(self, who: Who, draft: Draft) -> tuple[Action, Draft | None]:
        """Policy, consent and limits, then queue (or hold for review). Returns the answer and
        the draft to keep (None: the draft is done); a refusal keeps the draft."""
        policy = await self.policy(who)
        if blocked(draft.script or "", policy.blocklist):
            return Reply(texts.SCRIPT_BLOCKED), draft
        job = self._job(who, draft, policy)
        consent = await self._consent(who, draft, policy.consent_mode)
        if isinstance(consent, Reply):
            return consent, draft
        status, verified, phrase = consent
        if (
            status == JobState.REVIEW
            and who.guild_id is None
            and not self.config.dm_moderated(who.platform)
        ):
            return Reply(texts.REVIEW_UNAVAILABLE), draft  # nobody could approve it here
        missing = await self.uploads.supply(job)  # the workers fetch them, even after a day
        if missing is not None:
            return Reply(texts.MEDIA_GONE.format(what=missing)), draft
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
        if status == JobState.REVIEW:
            if added:
                await self.records.put_review(job, who.guild_id, phrase)
            return Reply(texts.AWAITING_REVIEW.format(job=job.job_id[:8])), None
        if added:
            await self.gateway.enqueue(job)
            log.info("job queued", extra={"job_id": job.job_id, "platform": who.platform})
        return Reply(await self._queued_text(job.job_id)), None

    def _job(self, who: Who, draft: Draft, policy: ServerPolicy) -> RenderJob:
        assert draft.script and draft.voice_hash and draft.photo_hash
        label = self.label
        if policy.label_off and not self.config.label_required:
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
            return JobState.REVIEW, "", None
        if mode != "phrase":
            return JobState.QUEUED, "", None
        assert draft.voice_hash
        records = self.records
        earlier = await records.voice_consent(who.platform, who.user_id, draft.voice_hash)
        if earlier:  # a saved voice carries its verified consent record
            return JobState.QUEUED, f"voice:{earlier}", None
        phrase = await records.phrase_for(who.platform, who.user_id, who.chat_id, draft.id)
        if phrase is None:
            phrase = make_phrase()
            await records.put_phrase(who.platform, who.user_id, who.chat_id, draft.id, phrase)
            return Reply(texts.PHRASE_NEEDED.format(phrase=phrase))
        heard = await self.gateway.transcribe(draft.voice_hash) if self.config.asr else None
        if heard is None:
            return JobState.REVIEW, "", phrase  # no speech recognition: a moderator listens
        if not phrase_matches(phrase, heard):
            return Reply(texts.PHRASE_NOT_HEARD.format(phrase=phrase))
        return JobState.QUEUED, "asr", phrase

    async def _sync_open_jobs(self) -> None:
        """Bring finished jobs' SQLite status up to date before counting open ones.

        Workers report status in Redis only; without this a finished job would keep counting
        against "concurrent" and the queue cap. One Redis read per open job (at most the
        queue cap). Syncing only ever closes jobs, so a race here can only be conservative;
        the count-and-insert itself is one SQLite transaction.
        """
        now = time.time()
        for job_id, created in await self.records.open_jobs_with_age():
            live = await self.gateway.status(job_id)
            if live is not None and live.status in FINAL_STATES:
                await self.store.update_job(
                    job_id,
                    live.status,
                    error=live.error,
                    output_bytes=live.output_bytes,
                    timings=live.seconds,
                )
            elif live is None and now - created > _LOST_AFTER:
                await self.store.update_job(job_id, JobState.FAILED, error="lost")

    async def _queued_text(self, job_id: str) -> str:
        position = await self.gateway.position(job_id)
        place = f"{texts.ordinal_place(position.ahead + 1)} in line" if position else "starting"
        return texts.QUEUED.format(job=job_id[:8], place=place)


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
