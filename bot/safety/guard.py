"""The safety side of every event: the narrow interface the conversation service calls.

:class:`Guard` answers, in order of an event's life: ``gate`` (``/mod`` and moderator
buttons, ``/forget``, bans, allowed channels), ``screen`` (the server's script blocklist),
``consent_intro`` (a phrase to say, in phrase mode), ``admit`` (policy and consent for a
submission: the job to make, queued or held for review) and ``cancel_job`` (owners, and
those with authority where the job was made); ``verify_*`` for a moderator's file sent to
``/mod verify`` (:mod:`bot.safety.verify`). It never queues anything itself: the job
lifecycle (:mod:`bot.jobs`) does, handed in as a :class:`~bot.contract.ports.JobControl`. The
decisions themselves are pure functions in :mod:`bot.safety.policy` and
:mod:`bot.safety.moderation`; authority is decided in :mod:`bot.safety.authority`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

from bot.contract import texts
from bot.contract.events import Action, Button, Command, Event, Media, Reply, Who
from bot.contract.jobs import JobState, RenderJob, Submission, job_id_for
from bot.contract.ports import ConsentMethod, Gateway, JobControl, MediaSupply, Verification
from bot.safety.announce import announce_review, review_desks
from bot.safety.authority import EVERYWHERE, Authority, authority_of
from bot.safety.desk import Desk
from bot.safety.erasure import Eraser, Removed
from bot.safety.policy import (
    Denial,
    RateLimits,
    Safety,
    ServerPolicy,
    blocked,
    make_phrase,
    phrase_language,
    phrase_matches,
    scope_of,
)
from bot.safety.rights import forwarded_refusal, posting_refusal
from bot.safety.signin import LINK_SECONDS, WebAccess
from bot.safety.storage import SafetyStore
from bot.safety.verify import VerifyRequest
from spoken_text.languages import LANGUAGES, resolve

__all__ = ["Guard", "Admission", "limit_text"]

_OPEN_TO_ALL = ("help", "forget", "status")  # commands a banned user may still use


@dataclass(frozen=True)
class Admission:
    """A submission safety lets through: the job to make, the state it starts in (queued,
    or review: held for a moderator), its consent record and the limits to count."""

    job: RenderJob
    guild_id: str | None
    consent_mode: str
    limits: RateLimits
    state: JobState
    verified: Verification | None
    phrase: str | None


class Guard:
    """Safety for the conversation service. Collaborators are passed in: the store, the
    queue gateway, the safety settings, the uploads (to hand a job's files to the workers),
    the job lifecycle (to approve and cancel), the label and the platforms' upload caps for
    the jobs it makes."""

    def __init__(
        self,
        store: SafetyStore,
        gateway: Gateway,
        config: Safety,
        uploads: MediaSupply,
        jobs: JobControl,
        *,
        label: str | None,
        upload_bytes: dict[str, int],
        web: WebAccess | None = None,
    ) -> None:
        self.store = store
        self.records = store.safety
        self.gateway = gateway
        self.config = config
        self.uploads = uploads
        self.label = label
        self.upload_bytes = upload_bytes
        self.web = web  # the web studio's sign-in; None: /web says it is off
        self.eraser = Eraser(store, gateway, jobs, config.out_dir)
        self.desk = Desk(store, config, uploads, jobs, self.eraser)

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
            removed = await self.forget(who.platform, who.user_id)
            return [Reply(texts.FORGET_DONE.format(**asdict(removed)))]
        if isinstance(event, Command) and event.name in _OPEN_TO_ALL:
            return None
        ban = await self.records.bans.ban_in(who.platform, scope_of(who.guild_id), who.user_id)
        if ban is not None:
            return [Reply(texts.BANNED_EVERYWHERE if ban == EVERYWHERE else texts.BANNED)]
        if isinstance(event, Command) and event.name == "web":
            return [self.web_link(who)]
        if who.guild_id is not None:
            policy = await self.policy(who)
            if policy.channels and who.chat_id not in policy.channels:
                return [Reply(texts.CHANNEL_NOT_ALLOWED)]
        cannot_post = posting_refusal(who, event)  # /talk, Render: the member's own rights
        if cannot_post is not None:
            return [Reply(cannot_post)]
        return None

    async def forget(self, platform: str, user_id: str) -> Removed:
        """/forget (in chat or in the web studio): erase everything of the person's, and sign
        out every browser of theirs."""
        removed = await self.eraser.erase(platform, user_id)
        if self.web is not None:
            await self.web.sign_out_everywhere(platform, user_id)
        return removed

    def authority(self, who: Who) -> Authority:
        """What ``who`` may act on (:func:`bot.safety.authority.authority_of`)."""
        return authority_of(who, self.config.staff)

    def web_link(self, who: Who) -> Reply:
        """/web: a single-use sign-in link for the asker alone (private), or that the web
        studio is off."""
        if self.web is None:
            return Reply(texts.WEB_OFF, private=True)
        # asked in a server its asker moderates (the platform's word, judged here): the
        # session may open that server's dashboard
        auth = authority_of(who, self.config.staff)
        scope = who.guild_id if who.guild_id is not None and auth.moderator else ""
        link = self.web.link(who.platform, who.user_id, scope)
        return Reply(texts.WEB_LINK.format(minutes=LINK_SECONDS // 60, link=link), private=True)

    # ---- /mod verify: a moderator's file, checked instead of used ---------------------
    async def verify_awaited(self, media: Media) -> VerifyRequest | None:
        """The ``/mod verify`` this file answers (taken: one file per request), or None: the
        file goes on as any other."""
        return await self.desk.verifier.awaited(media.who)

    def verify_request(self, command: Command) -> VerifyRequest | list[Action] | None:
        """For a command sent with a file: the ``/mod verify`` request the file answers, the
        refusal to show, or None (another command: it runs as usual, the file unread)."""
        if command.name != "mod":
            return None
        return self.desk.verify_request(command.who, command.args)

    async def verify_file(self, request: VerifyRequest, data: bytes) -> list[Action]:
        """A worker's reading of the file's marks and the jobs they map to in the request's
        scope, answered privately."""
        return await self.desk.verifier.check(request, data)

    async def policy(self, who: Who) -> ServerPolicy:
        """The operator's settings with this server's overrides, within the operator's caps."""
        overrides = await self.records.policy.guild_policy(who.platform, scope_of(who.guild_id))
        return self.config.defaults.merge(overrides)

    async def forwarded(self, media: Media) -> str | None:
        """The refusal of a file forwarded from someone else's message, under this place's
        consent mode (:func:`bot.safety.rights.forwarded_refusal`), or None."""
        if not media.forwarded:
            return None
        return forwarded_refusal(media.kind, (await self.policy(media.who)).consent_mode)

    async def script_blocked(self, who: Who, script: str) -> bool:
        """Whether the server's blocklist refuses this script."""
        return blocked(script, (await self.policy(who)).blocklist)

    async def consent_intro(
        self, who: Who, draft_id: str | None, actions: list[Action], *, language: str = "en"
    ) -> list[Action]:
        """In phrase mode, a new draft gets its own phrase, said right at /talk, in
        ``language`` (the one chosen with /talk; English when none was)."""
        if draft_id is None or (await self.policy(who)).consent_mode != "phrase":
            return actions
        phrase = await self._new_phrase(who, draft_id, language)
        return [*actions, Reply(texts.PHRASE_INTRO.format(phrase=phrase))]

    async def phrase_language(self, who: Who, draft_id: str, language: str) -> Reply | None:
        """In phrase mode, the draft's phrase made again in ``language`` (its script's) when
        it was made in another: what to tell the person; None when nothing changed. Called
        only before the voice note comes (one recorded with the first phrase stays good:
        its recognition follows the phrase's own language)."""
        entry = await self.records.consent.phrase_entry(
            who.platform, who.user_id, who.chat_id, draft_id
        )
        wanted = phrase_language(language)
        if entry is None or entry[1] == wanted:
            return None
        if (await self.policy(who)).consent_mode != "phrase":
            return None
        phrase = await self._new_phrase(who, draft_id, wanted)
        name = LANGUAGES[wanted].name
        return Reply(texts.PHRASE_LANGUAGE.format(name=name, phrase=phrase))

    async def _new_phrase(self, who: Who, draft_id: str, language: str) -> str:
        """A fresh phrase for the draft in ``language`` (English where there are no words
        for it), kept with its language."""
        wanted = phrase_language(language)
        phrase = make_phrase(language=wanted)
        await self.records.consent.put_phrase(
            who.platform, who.user_id, who.chat_id, draft_id, phrase, wanted
        )
        return phrase

    async def cancel_job(self, who: Who, ref: str) -> str:
        return await self.desk.cancel_job(who, ref)

    async def cancel_batch(self, who: Who, batch: str) -> str:
        """Cancel a batch's jobs that have not ended (its owner's Cancel on the batch's status
        message)."""
        return await self.desk.cancel_batch(who, batch)

    # ---- admitting a render ----------------------------------------------------------
    async def admit(self, who: Who, sub: Submission) -> Admission | Reply:
        """Policy and consent for a submission: the job to make and how it starts, or the
        refusal to show (the draft is kept)."""
        policy = await self.policy(who)
        if blocked(sub.script, policy.blocklist):
            return Reply(texts.SCRIPT_BLOCKED)
        # a forwarded voice taken under the phrase check; the mode may have changed since
        forwarded = forwarded_refusal("audio", policy.consent_mode) if sub.voice_forwarded else None
        if forwarded is not None:
            return Reply(forwarded)
        consent = await self._consent(who, sub, policy.consent_mode)
        if isinstance(consent, Reply):
            return consent
        state, verified, phrase = consent
        if (
            state == JobState.REVIEW
            and who.guild_id is None
            and not self.config.dm_moderated(who.platform)
        ):
            return Reply(texts.REVIEW_UNAVAILABLE)  # nobody could approve it here
        job = replace(self._job(who, sub, policy), consent=_consent_method(state, verified))
        missing = await self.uploads.supply(job)  # the workers fetch them, even after a day
        if missing is not None:
            return Reply(texts.MEDIA_GONE.format(what=missing))
        return Admission(
            job, who.guild_id, policy.consent_mode, policy.limits, state, verified, phrase
        )

    async def hold_for_review(self, admission: Admission) -> None:
        """A recorded job waits for a moderator (with the phrase they listen for); the
        scope's moderators hear of it where they work (:mod:`bot.safety.announce`)."""
        job, scope = admission.job, scope_of(admission.guild_id)
        await self.records.reviews.put_review(job, admission.guild_id, admission.phrase)
        overrides = await self.records.policy.guild_policy(job.platform, scope)
        channel = self.config.defaults.merge(overrides).reviews_channel
        chats = review_desks(job.platform, scope, channel, self.config.staff, job.user_id)
        await announce_review(self.gateway, job, scope, admission.phrase, chats)

    def _job(self, who: Who, sub: Submission, policy: ServerPolicy) -> RenderJob:
        label = self.label
        if policy.label_off and not self.config.label_required:
            label = None
        return RenderJob(
            job_id=job_id_for(sub.draft_id, sub.part, sub.version),
            platform=who.platform,
            user_id=who.user_id,
            chat_id=who.chat_id,
            script=sub.script,
            voice_hash=sub.voice_hash,
            photo_hash=sub.photo_hash,
            voice_text=sub.voice_text,
            max_bytes=self.upload_bytes.get(who.platform),
            label=label,
            label_position=policy.label_position,
            guild_id=who.guild_id or "",
            batch=sub.batch,
            title=sub.title,
            batch_size=sub.batch_size,
            language=sub.language,
        )

    async def _consent(
        self, who: Who, sub: Submission, mode: str
    ) -> Reply | tuple[JobState, Verification | None, str | None]:
        """(status, verification, phrase) for the job, or the refusal to show."""
        if mode == "review":
            return JobState.REVIEW, None, None
        if mode != "phrase":
            return JobState.QUEUED, None, None
        records = self.records
        earlier = await records.consent.voice_consent(
            who.platform, who.user_id, sub.voice_hash, scope_of(who.guild_id)
        )
        if earlier is not None:  # the voice carries a verification that counts here
            method = ConsentMethod(earlier.method)
            carried = Verification(method, earlier.valid_in, earlier.by, earlier.id)
            return JobState.QUEUED, carried, None
        entry = await records.consent.phrase_entry(
            who.platform, who.user_id, who.chat_id, sub.draft_id
        )
        if entry is None:  # in the script's language (chosen, or detected)
            phrase = await self._new_phrase(who, sub.draft_id, _language_of(sub))
            return Reply(texts.PHRASE_NEEDED.format(phrase=phrase))
        phrase, language = entry
        heard = await self.gateway.transcribe(sub.voice_hash, language) if self.config.asr else None
        if heard is None:
            return JobState.REVIEW, None, phrase  # no speech recognition: a moderator listens
        if not phrase_matches(phrase, heard, language=language):
            return Reply(texts.PHRASE_NOT_HEARD.format(phrase=phrase))
        # proof about the recording itself: it counts wherever the voice is used
        return JobState.QUEUED, Verification(ConsentMethod.PHRASE, EVERYWHERE), phrase


def _language_of(sub: Submission) -> str:
    """The language the submission's script is spoken in: chosen, or detected."""
    try:
        return resolve(sub.language or None, sub.script)
    except ValueError:  # a choice this version does not know: as if none was made
        return resolve(None, sub.script)


def _consent_method(state: JobState, verified: Verification | None) -> str:
    """What the video's manifest says of consent: how it was verified, or that a moderator
    approves it before it renders, or (attest) that the requester declared it."""
    if verified is not None:
        return ConsentMethod(verified.method).value
    return ConsentMethod.APPROVAL.value if state == JobState.REVIEW else "declared"


def limit_text(denial: Denial) -> str:
    """The one line that tells a person which limit they reached and when it frees."""
    if denial.allowed == 0:
        return texts.LIMIT_OFF
    template = {
        "day": texts.LIMIT_DAY,
        "hour": texts.LIMIT_HOUR,
        "concurrent": texts.LIMIT_CONCURRENT,
        "queue": texts.LIMIT_QUEUE,
        "queue_server": texts.LIMIT_QUEUE_SERVER,
        "queue_dm": texts.LIMIT_QUEUE_DM,
    }[denial.limit]
    return template.format(allowed=denial.allowed, when=texts.when(denial.retry_in(time.time())))
