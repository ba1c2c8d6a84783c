"""Runs one event: load the draft, check limits, step the flow, persist, submit.

Storage and Redis are injected (a ``Store`` and a :class:`QueuePort`), so the service runs
the same under Telegram, Discord and tests. Safety (bans, consent, limits, moderation,
erasure) is :class:`bot.safety.Guard`'s: ``handle`` calls it at fixed points and never
decides authority itself. Jobs are the lifecycle's (:class:`bot.jobs.Lifecycle`): the
service hands it what safety admitted and says "Queued" only once the queue took it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from bot.contract import texts
from bot.contract.errors import Busy, DiskFull, MediaTooLarge, is_disk_full
from bot.contract.events import (
    WEB_CHAT,
    Action,
    Button,
    ButtonSpec,
    Command,
    Event,
    Media,
    Notify,
    Reply,
    Text,
    Who,
)
from bot.contract.jobs import LABEL, JobState, Submission, new_draft_id
from bot.contract.ports import Gateway, JobQueue, MediaCheck, Position
from bot.conversation.avatars import NAME, AvatarDesk
from bot.conversation.batches import BatchError, is_csv, read_scripts
from bot.conversation.flow import (
    UNNAMED,
    BatchIn,
    Draft,
    Enqueue,
    FlowInput,
    LangIn,
    PhotoIn,
    Press,
    Refuse,
    Rules,
    ScriptIn,
    Start,
    Stop,
    TextIn,
    VoiceIn,
    language_choice,
    measure_script,
    missing,
    script_language,
    step,
)
from bot.conversation.holds import BatchRender, batch_of, submit_admitted
from bot.conversation.storage import Store
from bot.conversation.studio import Studio
from bot.jobs.lifecycle import Lifecycle
from bot.jobs.media import Uploads
from bot.lanes import Lanes
from bot.safety import Guard, Safety
from bot.safety.guard import limit_text
from bot.safety.policy import Denial, LimitExceeded, UploadLimits, decide_upload
from bot.safety.signin import WebAccess, WebSignIn
from bot.safety.verify import VerifyRequest
from spoken_text.languages import LANGUAGES, SUPPORTED

__all__ = ["Service", "Gateway", "QueuePort", "MediaCheck", "Limits"]

log = logging.getLogger(__name__)

_SCRIPT_FILE_BYTES = 100_000
#: what /mod verify reads: a video, its audio, or a file whose type its sender did not say
_VERIFIED_KINDS = ("video", "audio", "other")


class QueuePort(Gateway, JobQueue, Protocol):
    """Everything the chat process asks of Redis (:class:`bot.chat.queue.Queue`)."""


@dataclass(frozen=True)
class Limits:
    max_script_chars: int = 1000  # typed, and as spoken (numbers and symbols as words)
    min_voice_seconds: float = 3.0
    max_voice_seconds: float = 30.0
    max_file_bytes: int = 20_000_000
    max_script_seconds: float = 120.0  # estimated seconds of speech (flow.speech_seconds)
    needs_transcript: bool = False
    label: str | None = LABEL
    uploads: UploadLimits = field(default_factory=UploadLimits)  # per person: files/h, bytes/day
    max_saved_voices: int = 10  # per person (negative: no cap)
    max_avatars: int = 10  # per person (negative: no cap)
    parallel_downloads: int = 8  # uploads downloaded and stored at once (memory: 8 x 20 MB)
    # uploads are refused while the upload folder's disk has less free (0: no floor; the
    # bot's MOUTHPIECE_MIN_FREE_BYTES sets one)
    min_free_bytes: int = 0
    max_batch_scripts: int = 10  # scripts of one batch file, one video each (1: no batches)


class Service:
    """The conversation service. ``await service.handle(event)`` returns actions to show.

    Safety (bans, channels, blocklist, consent, limits, /mod, /forget, cancelling a job)
    is the :class:`~bot.safety.Guard`'s; ``handle`` calls it."""

    def __init__(
        self,
        store: Store,
        gateway: QueuePort,
        media_dir: Path,
        limits: Limits,
        upload_bytes: dict[str, int] | None = None,
        safety: Safety | None = None,
        web: WebSignIn | None = None,
        lanes: Lanes | None = None,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.media_dir = media_dir
        self.limits = limits
        self.rules = Rules(needs_transcript=limits.needs_transcript)
        self.upload_bytes = upload_bytes or {}
        self.safety = safety or Safety()
        self.uploads = Uploads(store.media, gateway, media_dir, limits.min_free_bytes)
        self.jobs = Lifecycle(store.jobs, gateway, self.uploads, gateway.notify)
        self.guard = Guard(
            store,
            gateway,
            self.safety,
            self.uploads,
            self.jobs,
            label=limits.label,
            upload_bytes=self.upload_bytes,
            web=WebAccess(web, store.web) if web is not None else None,
        )
        self.studio = Studio(  # the web studio's side of the core
            store,
            self.guard,
            self.jobs,
            self.handle,
            max_chars=limits.max_script_chars,
            max_seconds=limits.max_script_seconds,
        )
        self._downloads = asyncio.Semaphore(max(1, limits.parallel_downloads))
        # one person's events, and the pass that queues their held batches, take turns (in
        # every process on one Redis when ``lanes`` is :class:`bot.jobs.locks.SharedLanes`)
        self.locks = lanes if lanes is not None else Lanes()
        self.batches = BatchRender(store, self.guard, self.jobs, gateway.notify, self.locks)
        self.avatars = AvatarDesk(store, self._whole_script, max_avatars=limits.max_avatars)

    async def handle(self, event: Event) -> list[Action]:
        """Run one event; a full or unreachable queue store is answered "busy, try later",
        a full disk "can't store files right now" (the draft stays as it was). A person's
        events run one at a time (across front-ends too), and never alongside a pass that
        queues their held batch (:mod:`bot.conversation.holds`)."""
        try:
            async with self.locks.hold((event.who.platform, event.who.user_id)):
                actions = await self._handle(event)
        except Busy as e:
            log.warning("busy", extra={"platform": event.who.platform, "error": str(e)})
            return [Reply(texts.BUSY)]
        except (OSError, DiskFull) as e:
            if not is_disk_full(e):
                raise
            log.warning("disk full", extra={"platform": event.who.platform, "error": str(e)})
            return [Reply(texts.DISK_FULL)]
        # a notice for a web studio (a requester told of a moderator's decision) goes to no
        # chat: the studio's page shows the job's state
        return [a for a in actions if not (isinstance(a, Notify) and a.chat_id == WEB_CHAT)]

    async def _handle(self, event: Event) -> list[Action]:
        who = event.who
        verified = await self._verification(event)  # a file for a moderator's /mod verify
        if verified is not None:
            return verified
        gated = await self.guard.gate(event)  # /mod, /forget, bans, closed channels
        if gated is not None:
            return gated
        draft = await self.store.drafts.get(who.platform, who.user_id, who.chat_id)
        if isinstance(event, Button) and event.action in ("cancel_job", "cancel_batch"):
            return [Reply(await self._cancel(who, event))]
        if isinstance(event, Command) and event.name == "cancel" and event.args.strip():
            return [Reply(await self.guard.cancel_job(who, event.args.strip()))]
        if isinstance(event, Command):
            special = await self._command(event, draft)
            if special is not None:
                return special
        flow_input = await self._translate(event, draft)
        if flow_input is None:
            return [Reply(texts.UNKNOWN_COMMAND)]
        flow_input = await self._screen(who, flow_input, draft)  # script blocklist
        new, effects = step(draft, flow_input, self.rules)
        if new is not None and new.id == UNNAMED:  # started by media: a fresh random id
            new = replace(new, id=new_draft_id())
        actions: list[Action] = []
        for effect in effects:
            if isinstance(effect, Enqueue):
                action, kept = await self._submit(who, effect.draft)  # consent, limits, queue
                actions.append(action)
                new = kept if kept is not None else new
            else:
                actions.append(effect)
        actions = await self._phrase(who, flow_input, draft, new, actions)
        await self.store.drafts.put(
            who.platform, who.user_id, who.chat_id, new, guild_id=who.guild_id
        )
        return actions

    async def _phrase(
        self,
        who: Who,
        flow_input: FlowInput,
        before: Draft | None,
        new: Draft | None,
        actions: list[Action],
    ) -> list[Action]:
        """The consent phrase's part of an answer, in phrase mode: a new draft's phrase (with
        /talk's shortcuts), or the phrase made again in the script's language when the
        script (or /lang) changed it before any voice note came."""
        if isinstance(flow_input, Start):
            actions = [self._with_shortcuts(a, await self._shortcuts(who)) for a in actions]
            language = _phrase_language(new) if new else "en"
            return await self.guard.consent_intro(
                who, new.id if new else None, actions, language=language
            )
        if new is None or new.voice_hash or not _may_change_language(flow_input, before):
            return actions
        said = await self.guard.phrase_language(who, new.id, _phrase_language(new))
        return [*actions, said] if said is not None else actions

    async def _cancel(self, who: Who, event: Button) -> str:
        """A batch's one Cancel (ending its held rest first: nothing of it is queued after
        this answer), or one job's."""
        if event.action == "cancel_job":
            return await self.guard.cancel_job(who, event.value)
        stopped = await self.batches.end_hold(who, event.value)
        said = await self.guard.cancel_batch(who, event.value)
        return said + (texts.BATCH_HOLD_STOPPED.format(left=stopped) if stopped else "")

    async def _screen(self, who: Who, flow_input: FlowInput, draft: Draft | None) -> FlowInput:
        """Refuse a script with a blocked phrase, before the draft keeps it."""
        script: str | None = None
        if isinstance(flow_input, ScriptIn):
            script = flow_input.text
        elif isinstance(flow_input, TextIn) and draft is not None and draft.state != "transcript":
            script = flow_input.text  # typed text becomes the script (not a transcript)
        if script is not None and await self.guard.script_blocked(who, script):
            return Refuse(texts.SCRIPT_BLOCKED)
        return flow_input

    async def _submit(self, who: Who, draft: Draft) -> tuple[Action, Draft | None]:
        """Safety admits the draft (consent, policy), the lifecycle records and queues it.
        Returns the answer and the draft to keep (None: done); a refusal keeps the draft,
        and so does a busy Redis (:class:`Busy` goes up to :meth:`handle`)."""
        if draft.scripts:  # one job per script, the rest held while a limit frees (holds)
            return await self.batches.render(who, draft)
        assert draft.script and draft.voice_hash and draft.photo_hash
        sub = Submission(
            draft.id,
            draft.script,
            draft.voice_hash,
            draft.photo_hash,
            draft.voice_text,
            draft.voice_forwarded,
            language=draft.language,
        )
        admitted = await self.guard.admit(who, sub)
        if isinstance(admitted, Reply):
            return admitted, draft
        await self.jobs.catch_up()  # limits count what the workers finished until now
        try:
            submitted = await submit_admitted(self.jobs, admitted)
        except LimitExceeded as e:
            return Reply(limit_text(e.denial) + texts.DRAFT_KEPT), draft
        job_id = admitted.job.job_id
        if admitted.state == JobState.REVIEW:
            if submitted.added:
                await self.guard.hold_for_review(admitted)
            return Reply(texts.AWAITING_REVIEW.format(job=job_id[:8])), None
        return Reply(_queued_text(job_id, submitted.position)), None

    # ---- translation of events into flow inputs ---------------------------------------
    async def _translate(self, event: Event, draft: Draft | None) -> FlowInput | None:
        if isinstance(event, Command) and event.name == "say":  # a whole draft, or why not
            return await self.avatars.say(event.who, event.args)
        if isinstance(event, Command):
            if event.name in ("talk", "start"):
                return self._start(event)
            if event.name == "lang":
                return self._language(event.args, draft)
            return Stop() if event.name == "cancel" else None
        if isinstance(event, Text):
            if draft is not None and draft.state == "transcript":
                return TextIn(event.text)
            return self._script(event.text, draft)
        if isinstance(event, Button):
            return await self._button(event, draft)
        return await self._media(event, draft.language if draft else "")

    @staticmethod
    def _start(event: Command) -> Start | Refuse:
        """/talk, or /talk CODE: a new draft spoken in that language. An unknown code is
        refused (the draft under way is kept); /start's unknown words are ignored (Telegram
        sends /start with a link's payload)."""
        words = event.args.split()
        choice = language_choice(words[0] if words else "")
        if choice is None and event.name == "talk":
            return Refuse(_unknown_language())
        return Start(new_draft_id(), choice or "")

    @staticmethod
    def _language(args: str, draft: Draft | None) -> FlowInput:
        """/lang CODE (or auto): the draft's language; /lang alone says what it is now."""
        words = args.split()
        if not words:
            codes = ", ".join(SUPPORTED)
            if draft is None:
                return Refuse(texts.LANG_NO_DRAFT)
            if draft.language in LANGUAGES:
                name = LANGUAGES[draft.language].name
                return Refuse(texts.LANG_NOW.format(name=name, codes=codes))
            return Refuse(texts.LANG_NOW_AUTO.format(codes=codes))
        choice = language_choice(words[0])
        return Refuse(_unknown_language()) if choice is None else LangIn(choice)

    def _script(self, text: str, draft: Draft | None) -> FlowInput:
        clean = " ".join(text.split())
        if draft is None:
            return TextIn(clean)
        return self._limited(clean, draft.language)

    def _limited(self, clean: str, language: str = "") -> ScriptIn | Refuse:
        """A script (whitespace collapsed) as the limits take it: words to say, within the
        length and speech time, counted on what the voice will say (numbers and symbols
        written out as words) in ``language`` (the draft's; "": detected)."""
        if not clean or not any(ch.isalnum() for ch in clean):
            return Refuse(texts.SCRIPT_EMPTY)
        measure = measure_script(
            clean, self.limits.max_script_chars, self.limits.max_script_seconds, language
        )
        return Refuse(measure.reason) if measure.reason else ScriptIn(clean)

    async def _button(self, event: Button, draft: Draft | None) -> FlowInput:
        who = event.who
        if event.action == "use_voice":
            for v in await self.store.voices.list(who.platform, who.user_id):
                if v.name == event.value:
                    return VoiceIn(v.digest, v.seconds, v.transcript)
            return Refuse(texts.VOICES_NONE)
        if event.action == "last_photo":
            row = await self.store.media.last(who.platform, who.user_id)
            if row is not None and row.photo_hash:
                return PhotoIn(row.photo_hash)
        return Press(event.action)

    async def _media(self, event: Media, language: str = "") -> FlowInput:
        limit = self.limits.max_file_bytes if event.kind != "text" else _SCRIPT_FILE_BYTES
        refused = await self._before_download(event, limit)
        if refused is not None:
            return refused
        async with self._downloads:  # bounds the upload bytes held in memory at once
            data = await self._download(event, limit)
            if isinstance(data, Refuse):
                return data
            if event.kind == "text":
                return await self._script_file(event, data, language)
            try:
                digest = await self.uploads.keep(event, data)
            except DiskFull as e:
                log.warning("upload refused: disk full", extra={"error": str(e)})
                return Refuse(texts.DISK_FULL)
        return await self._upload(event, digest)

    async def _script_file(self, event: Media, data: bytes, language: str = "") -> FlowInput:
        """A .txt or .csv: one script, checked as a typed one is; or a batch (several scripts,
        :mod:`bot.conversation.batches`), each checked the same way and against the server's
        blocklist, the first refused named by its number."""
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return Refuse(texts.SCRIPT_NOT_TEXT)
        try:
            csv_file = is_csv(event.filename, event.mime)
            pieces = read_scripts(text, csv_file=csv_file, most=self.limits.max_batch_scripts)
        except BatchError as e:
            return Refuse(e.reason)
        if len(pieces) == 1:  # one script: as it always was (the blocklist comes after)
            return self._limited(" ".join(pieces[0].script.split()), language)
        scripts: list[str] = []
        for number, piece in enumerate(pieces, start=1):
            checked = await self._whole_script(event.who, piece.script, language)
            if isinstance(checked, Refuse):
                return Refuse(texts.BATCH_SCRIPT.format(number=number, reason=checked.reason))
            scripts.append(checked.text)
        return BatchIn(tuple(scripts), tuple(p.title for p in pieces))

    async def _whole_script(self, who: Who, text: str, language: str = "") -> ScriptIn | Refuse:
        """A script that comes whole, outside the flow's own screening (one of a batch file,
        a /say): the limits as for a typed one (in ``language``, "": detected), then the
        scope's blocklist."""
        checked = self._limited(" ".join(text.split()), language)
        if isinstance(checked, ScriptIn) and await self.guard.script_blocked(who, checked.text):
            return Refuse(texts.SCRIPT_BLOCKED)
        return checked

    async def _before_download(self, event: Media, limit: int) -> Refuse | None:
        """What the platform declared (size, length, type) and the person's upload quota:
        a refusal here costs no download."""
        too_big = _declared_too_big(event, limit)
        if too_big is not None:
            return too_big
        if event.kind == "audio" and _seconds(event.duration) > self.limits.max_voice_seconds * 2:
            return Refuse(
                texts.VOICE_TOO_LONG.format(
                    seconds=_seconds(event.duration), max=self.limits.max_voice_seconds
                )
            )
        if event.kind not in ("audio", "image", "text"):
            return Refuse(texts.BAD_FILE_TYPE)
        not_theirs = await self.guard.forwarded(event)  # someone else's, forwarded
        if not_theirs is not None:
            return Refuse(not_theirs)
        if event.kind != "text" and not await self.uploads.has_room(max(0, event.size or 0)):
            log.warning("upload refused: free space below the floor")
            return Refuse(texts.DISK_FULL)
        return await self._over_quota(event)

    async def _over_quota(self, event: Media) -> Refuse | None:
        """The person's upload quota, against the size the platform declared."""
        who = event.who
        usage = await self.store.uploads.usage(who.platform, who.user_id, time.time())
        denial = decide_upload(self.limits.uploads, usage, max(0, event.size or 0))
        return Refuse(_upload_limit_text(denial)) if denial is not None else None

    async def _download(self, event: Media, limit: int) -> bytes | Refuse:
        """The file's bytes, counted against the person's quota (atomically), or a refusal."""
        try:
            data = await event.fetch()
        except MediaTooLarge as e:
            return Refuse(texts.TOO_BIG.format(mb=e.size / 1e6, limit=limit / 1e6))
        if len(data) > limit:
            return Refuse(texts.TOO_BIG.format(mb=len(data) / 1e6, limit=limit / 1e6))
        who = event.who
        try:
            await self.store.uploads.add(who.platform, who.user_id, len(data), self.limits.uploads)
        except LimitExceeded as e:
            return Refuse(_upload_limit_text(e.denial))
        return data

    async def _upload(self, event: Media, digest: str) -> FlowInput:
        """A worker's check of a stored upload, then the flow input it makes. The wait holds
        only this person's lane (adapters order each person's events), never anyone else's."""
        check = await self.gateway.check_media(event.kind, digest)
        who = event.who
        if check is not None and not check.ok:
            return Refuse(check.reason)
        if event.kind == "image":
            await self.store.media.remember(who.platform, who.user_id, photo=digest)
            return PhotoIn(digest, check.warnings if check else (texts.CHECK_SLOW,))
        seconds = check.seconds if check else _seconds(event.duration)
        if check is not None and seconds < self.limits.min_voice_seconds:
            return Refuse(
                texts.VOICE_TOO_SHORT.format(seconds=seconds, min=self.limits.min_voice_seconds)
            )
        if seconds > self.limits.max_voice_seconds:
            return Refuse(
                texts.VOICE_TOO_LONG.format(seconds=seconds, max=self.limits.max_voice_seconds)
            )
        if event.forwarded:  # this draft's only: never the "last voice" /voice save keeps
            return VoiceIn(digest, seconds, forwarded=True)
        await self.store.media.remember(who.platform, who.user_id, voice=(digest, seconds, None))
        return VoiceIn(digest, seconds)

    # ---- /mod verify: a moderator's file, checked instead of used ---------------------------
    async def _verification(self, event: Event) -> list[Action] | None:
        """The answer to a file a moderator's ``/mod verify`` waits for, or that came with a
        command; None for every other event (nothing is downloaded)."""
        if isinstance(event, Command) and event.file is not None:
            return await self._command_with_file(event, event.file)
        if isinstance(event, Media):
            request = await self.guard.verify_awaited(event)
            if request is not None:
                return await self._verify(event, request)
        return None

    async def _command_with_file(self, event: Command, file: Media) -> list[Action]:
        """A command that came with a file: ``/mod verify`` checks it at once; any other
        command runs alone, and the file is never downloaded."""
        command = replace(event, file=None)
        request = self.guard.verify_request(command)
        if request is None:
            return await self._handle(command)
        if isinstance(request, list):  # refused: not a moderator, a bad command
            return request
        return await self._verify(file, request)

    async def _verify(self, event: Media, request: VerifyRequest) -> list[Action]:
        """Download a moderator's file for ``/mod verify`` within the usual bounds (the file
        limit, their upload quota) and have safety check it. The file is someone's evidence,
        not an upload: it is never stored, nor remembered as their last voice or photo."""
        if event.kind not in _VERIFIED_KINDS:
            return [Reply(texts.MOD_VERIFY_NOT_MEDIA, private=True)]
        limit = self.limits.max_file_bytes
        refused = _declared_too_big(event, limit) or await self._over_quota(event)
        if refused is None:
            async with self._downloads:  # bounds the bytes held in memory at once
                data = await self._download(event, limit)
            if not isinstance(data, Refuse):
                return await self.guard.verify_file(request, data)
            refused = data
        return [Reply(refused.reason, private=True)]

    # ---- commands that do not step the flow --------------------------------------------
    async def _command(self, event: Command, draft: Draft | None) -> list[Action] | None:
        who = event.who
        if event.name == "help":
            return [Reply(texts.HELP)]
        if event.name == "status":
            return [Reply(await self._status(who, draft))]
        if event.name == "voices":
            voices = await self.store.voices.list(who.platform, who.user_id)
            if not voices:
                return [Reply(texts.VOICES_NONE)]
            return [
                Reply(
                    texts.VOICES_LIST.format(names=", ".join(v.name for v in voices)),
                    tuple(ButtonSpec(v.name, "use_voice", v.name) for v in voices[:10]),
                )
            ]
        if event.name == "voice":
            return [Reply(await self._voice_command(who, event.args, draft))]
        if event.name == "avatar":
            return [Reply(await self.avatars.command(who, event.args))]
        if event.name == "avatars":
            return [await self.avatars.listing(who)]
        if event.name in ("talk", "start", "cancel", "say", "lang"):
            return None
        return [Reply(texts.UNKNOWN_COMMAND)]

    async def _voice_command(self, who: Who, args: str, draft: Draft | None) -> str:
        """/voice save NAME (at most ``max_saved_voices`` per person), /voice delete NAME."""
        parts = args.split()
        if len(parts) != 2 or parts[0] not in ("save", "delete") or not NAME.match(parts[1]):
            return texts.VOICE_SAVE_USAGE
        if parts[0] == "delete":
            gone = await self.store.voices.delete(who.platform, who.user_id, parts[1])
            return (texts.VOICE_DELETED if gone else texts.VOICE_NOT_FOUND).format(name=parts[1])
        digest, seconds, text = None, 0.0, None
        if draft and draft.voice_hash and draft.voice_forwarded:
            return texts.VOICE_SAVE_FORWARDED  # someone else's: it rides on no consent record
        if draft and draft.voice_hash:
            digest, seconds, text = draft.voice_hash, draft.voice_seconds, draft.voice_text
        else:
            row = await self.store.media.last(who.platform, who.user_id)
            if row is not None and row.voice_hash:
                digest, seconds, text = (
                    row.voice_hash,
                    row.voice_seconds or 0.0,
                    row.voice_text,
                )
        if digest is None:
            return texts.NO_VOICE_TO_SAVE
        saved = await self.store.voices.save(
            who.platform,
            who.user_id,
            parts[1],
            digest,
            seconds,
            text,
            max_voices=self.limits.max_saved_voices,
        )
        if not saved:
            return texts.VOICES_FULL.format(max=self.limits.max_saved_voices)
        await self.store.safety.consent.link_voice_consent(who.platform, who.user_id, parts[1])
        return texts.VOICE_SAVED.format(name=parts[1])

    async def _status(self, who: Who, draft: Draft | None) -> str:
        lines = []
        if draft is not None:
            have = [k for k in ("script", "voice", "photo") if k not in missing(draft)]
            lines.append(
                texts.STATUS_DRAFT.format(
                    have=", ".join(have) or "nothing yet",
                    missing=", ".join(missing(draft)) or "nothing",
                )
            )
        if draft is not None and draft.held:
            left = await self.batches.left(draft)
            lines.append(texts.STATUS_HELD.format(batch=batch_of(draft)[:8], left=left))
        await self.jobs.catch_up()
        for job in await self.store.jobs.recent(who.platform, who.user_id):
            live = await self.jobs.queue.record(job.job_id)  # progress; the store has the state
            detail = (
                f" ({live.stage} {live.fraction * 100:.0f}%)"
                if live and job.status == JobState.RUNNING
                else ""
            )
            if job.error:
                detail = f": {job.error}"
            lines.append(
                texts.STATUS_JOB.format(job=job.job_id[:8], status=job.status, detail=detail)
            )
        return "\n".join(lines) or texts.STATUS_NONE

    async def _shortcuts(self, who: Who) -> tuple[ButtonSpec, ...]:
        buttons = [
            ButtonSpec(texts.VOICE_BUTTON.format(name=v.name), "use_voice", v.name)
            for v in (await self.store.voices.list(who.platform, who.user_id))[:5]
        ]
        row = await self.store.media.last(who.platform, who.user_id)
        if row is not None and row.photo_hash:
            buttons.append(ButtonSpec(texts.LAST_PHOTO_BUTTON, "last_photo"))
        return tuple(buttons)

    @staticmethod
    def _with_shortcuts(action: Action, buttons: tuple[ButtonSpec, ...]) -> Action:
        return Reply(action.text, action.buttons + buttons) if buttons else action


def _unknown_language() -> str:
    return texts.LANG_UNKNOWN.format(codes=", ".join(SUPPORTED))


def _phrase_language(draft: Draft) -> str:
    """The language the draft's consent phrase is said in: its script's (chosen or
    detected), or with no script yet the chosen one ("en" when none)."""
    if draft.script:
        return script_language(draft.language, draft.script)
    return draft.language or "en"


def _may_change_language(flow_input: FlowInput, before: Draft | None) -> bool:
    """Whether this input may have changed the language the draft is spoken in: a script
    (typed text outside the transcript question, a file, a batch) or /lang."""
    if isinstance(flow_input, TextIn):
        return before is not None and before.state != "transcript"
    return isinstance(flow_input, ScriptIn | BatchIn | LangIn)


def _declared_too_big(event: Media, limit: int) -> Refuse | None:
    if event.size is not None and event.size > limit:
        return Refuse(texts.TOO_BIG.format(mb=event.size / 1e6, limit=limit / 1e6))
    return None


def _seconds(declared: float | None) -> float:
    """A platform's declared duration, or 0 when it is missing or not a sane number."""
    if declared is None or not math.isfinite(declared) or declared < 0:
        return 0.0
    return float(declared)


def _queued_text(job_id: str, position: Position | None) -> str:
    place = f"{texts.ordinal_place(position.ahead + 1)} in line" if position else "starting"
    return texts.QUEUED.format(job=job_id[:8], place=place)


def _upload_limit_text(denial: Denial) -> str:
    if denial.limit == "upload_bytes_total":
        return texts.LIMIT_UPLOAD_BYTES_TOTAL
    if denial.allowed == 0:
        return texts.LIMIT_OFF
    when = texts.when(denial.retry_in(time.time()))
    if denial.limit == "uploads":
        return texts.LIMIT_UPLOADS.format(allowed=denial.allowed, when=when)
    return texts.LIMIT_UPLOAD_BYTES.format(limit=denial.allowed / 1e6, when=when)
