"""Runs one event: load the draft, check limits, step the flow, persist, enqueue.

The only I/O in ``bot.core``. Storage and the queue are injected (``Store``-like and
``Gateway``), so the service runs the same under Telegram, Discord and tests.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.core import texts
from bot.core.events import Action, Button, ButtonSpec, Command, Event, Media, Reply, Text, Who
from bot.core.flow import (
    Draft,
    Enqueue,
    FlowInput,
    PhotoIn,
    Press,
    Refuse,
    Rules,
    ScriptIn,
    Start,
    Stop,
    TextIn,
    VoiceIn,
    missing,
    speech_seconds,
    step,
)
from bot.jobs import JobStatus, RenderJob, job_id_for

__all__ = ["Service", "Gateway", "MediaCheck", "Limits"]

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[\w-]{1,32}$")
_SCRIPT_FILE_BYTES = 100_000


@dataclass(frozen=True)
class MediaCheck:
    """A worker's verdict on an upload."""

    ok: bool
    reason: str = ""
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    max_script_chars: int = 1000
    min_voice_seconds: float = 3.0
    max_voice_seconds: float = 30.0
    max_file_bytes: int = 20_000_000
    max_script_seconds: float = 120.0  # estimated seconds of speech (flow.speech_seconds)
    needs_transcript: bool = False
    label: str | None = "AI-generated"


class Gateway(Protocol):
    async def put_media(self, digest: str, data: bytes) -> None: ...
    async def check_media(self, kind: str, digest: str) -> MediaCheck | None: ...
    async def enqueue(self, job: RenderJob) -> bool: ...
    async def status(self, job_id: str) -> JobStatus | None: ...


class Service:
    """The conversation service. ``await service.handle(event)`` returns actions to show."""

    def __init__(
        self,
        store: object,
        gateway: Gateway,
        media_dir: Path,
        limits: Limits,
        upload_bytes: dict[str, int] | None = None,
    ) -> None:
        self.store: Any = store  # bot.store.Store (typed loosely: core does not import it)
        self.gateway = gateway
        self.media_dir = media_dir
        self.limits = limits
        self.rules = Rules(needs_transcript=limits.needs_transcript)
        self.upload_bytes = upload_bytes or {}

    async def handle(self, event: Event) -> list[Action]:
        who = event.who
        draft = await self.store.get_draft(who.platform, who.user_id, who.chat_id)
        if isinstance(event, Command):
            special = await self._command(event, draft)
            if special is not None:
                return special
        flow_input = await self._translate(event, draft)
        if flow_input is None:
            return [Reply(texts.UNKNOWN_COMMAND)]
        new, effects = step(draft, flow_input, self.rules)
        actions: list[Action] = []
        for effect in effects:
            if isinstance(effect, Enqueue):
                actions.append(await self._enqueue(who, effect.draft))
            else:
                actions.append(effect)
        if isinstance(flow_input, Start):
            actions = [self._with_shortcuts(a, await self._shortcuts(who)) for a in actions]
        await self.store.put_draft(who.platform, who.user_id, who.chat_id, new)
        return actions

    # ---- translation of events into flow inputs ---------------------------------------
    async def _translate(self, event: Event, draft: Draft | None) -> FlowInput | None:
        if isinstance(event, Command):
            if event.name in ("talk", "start"):
                return Start(uuid.uuid4().hex[:12])
            return Stop() if event.name == "cancel" else None
        if isinstance(event, Text):
            if draft is not None and draft.state == "transcript":
                return TextIn(event.text)
            return self._script(event.text, draft)
        if isinstance(event, Button):
            return await self._button(event, draft)
        return await self._media(event)

    def _script(self, text: str, draft: Draft | None) -> FlowInput:
        clean = " ".join(text.split())
        if draft is None:
            return TextIn(clean)
        if not clean or not any(ch.isalnum() for ch in clean):
            return Refuse(texts.SCRIPT_EMPTY)
        if len(clean) > self.limits.max_script_chars:
            return Refuse(
                texts.SCRIPT_TOO_LONG.format(chars=len(clean), limit=self.limits.max_script_chars)
            )
        if speech_seconds(clean) > self.limits.max_script_seconds:
            return Refuse(
                texts.SCRIPT_TOO_SLOW.format(
                    seconds=speech_seconds(clean), limit=self.limits.max_script_seconds
                )
            )
        return ScriptIn(clean)

    async def _button(self, event: Button, draft: Draft | None) -> FlowInput:
        who = event.who
        if event.action == "use_voice":
            for v in await self.store.voices(who.platform, who.user_id):
                if v.name == event.value:
                    return VoiceIn(v.digest, v.seconds, v.transcript)
            return Refuse(texts.VOICES_NONE)
        if event.action == "last_photo":
            row = await self.store.last_media(who.platform, who.user_id)
            if row is not None and row["last_photo_hash"]:
                return PhotoIn(row["last_photo_hash"])
        return Press(event.action)

    async def _media(self, event: Media) -> FlowInput:
        limit = self.limits.max_file_bytes if event.kind != "text" else _SCRIPT_FILE_BYTES
        if event.size is not None and event.size > limit:
            return Refuse(texts.TOO_BIG.format(mb=event.size / 1e6, limit=limit / 1e6))
        if (
            event.kind == "audio"
            and event.duration
            and event.duration > self.limits.max_voice_seconds * 2
        ):
            return Refuse(
                texts.VOICE_TOO_LONG.format(
                    seconds=event.duration, max=self.limits.max_voice_seconds
                )
            )
        if event.kind not in ("audio", "image", "text"):
            return Refuse(texts.BAD_FILE_TYPE)
        data = await event.fetch()
        if len(data) > limit:
            return Refuse(texts.TOO_BIG.format(mb=len(data) / 1e6, limit=limit / 1e6))
        if event.kind == "text":
            try:
                return self._script(data.decode("utf-8-sig"), Draft(id="-"))
            except UnicodeDecodeError:
                return Refuse(texts.SCRIPT_NOT_TEXT)
        return await self._upload(event, data)

    async def _upload(self, event: Media, data: bytes) -> FlowInput:
        digest = hashlib.sha256(data).hexdigest()
        path = self._save(digest, data, event)
        await self.store.put_media(digest, event.kind, len(data), event.mime, path)
        await self.gateway.put_media(digest, data)
        check = await self.gateway.check_media(event.kind, digest)
        who = event.who
        if check is not None and not check.ok:
            return Refuse(check.reason)
        if event.kind == "image":
            await self.store.remember_media(who.platform, who.user_id, photo=digest)
            return PhotoIn(digest, check.warnings if check else (texts.CHECK_SLOW,))
        seconds = check.seconds if check else float(event.duration or 0.0)
        if check is not None and seconds < self.limits.min_voice_seconds:
            return Refuse(
                texts.VOICE_TOO_SHORT.format(seconds=seconds, min=self.limits.min_voice_seconds)
            )
        if seconds > self.limits.max_voice_seconds:
            return Refuse(
                texts.VOICE_TOO_LONG.format(seconds=seconds, max=self.limits.max_voice_seconds)
            )
        await self.store.remember_media(who.platform, who.user_id, voice=(digest, seconds, None))
        return VoiceIn(digest, seconds)

    def _save(self, digest: str, data: bytes, event: Media) -> Path:
        """Content-addressed copy under data/media (written atomically)."""
        ext = Path(event.filename).suffix.lower()[:8] or {"audio": ".ogg", "image": ".jpg"}.get(
            event.kind, ""
        )
        path = self.media_dir / digest[:2] / f"{digest}{ext}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".up.")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        return path

    # ---- commands that do not step the flow --------------------------------------------
    async def _command(self, event: Command, draft: Draft | None) -> list[Action] | None:
        who = event.who
        if event.name == "help":
            return [Reply(texts.HELP)]
        if event.name == "status":
            return [Reply(await self._status(who, draft))]
        if event.name == "voices":
            voices = await self.store.voices(who.platform, who.user_id)
            if not voices:
                return [Reply(texts.VOICES_NONE)]
            return [
                Reply(
                    texts.VOICES_LIST.format(names=", ".join(v.name for v in voices)),
                    tuple(ButtonSpec(v.name, "use_voice", v.name) for v in voices[:10]),
                )
            ]
        if event.name == "voice":
            return [Reply(await self._save_voice(who, event.args, draft))]
        if event.name in ("talk", "start", "cancel"):
            return None
        return [Reply(texts.UNKNOWN_COMMAND)]

    async def _save_voice(self, who: Who, args: str, draft: Draft | None) -> str:
        parts = args.split()
        if len(parts) != 2 or parts[0] != "save" or not _NAME.match(parts[1]):
            return texts.VOICE_SAVE_USAGE
        digest, seconds, text = None, 0.0, None
        if draft and draft.voice_hash:
            digest, seconds, text = draft.voice_hash, draft.voice_seconds, draft.voice_text
        else:
            row = await self.store.last_media(who.platform, who.user_id)
            if row is not None and row["last_voice_hash"]:
                digest, seconds, text = (
                    row["last_voice_hash"],
                    row["last_voice_seconds"],
                    row["last_voice_text"],
                )
        if digest is None:
            return texts.NO_VOICE_TO_SAVE
        await self.store.save_voice(who.platform, who.user_id, parts[1], digest, seconds, text)
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
        for job in await self.store.jobs(who.platform, who.user_id):
            status = job.status
            live = await self.gateway.status(job.job_id)
            if live is not None and live.status != status:
                await self.store.update_job(
                    job.job_id,
                    live.status,
                    error=live.error,
                    output_bytes=live.output_bytes,
                    timings=live.seconds,
                )
                status = live.status
            detail = (
                f" ({live.stage} {live.fraction * 100:.0f}%)"
                if live and live.status == "running"
                else ""
            )
            if live and live.error:
                detail = f": {live.error}"
            lines.append(texts.STATUS_JOB.format(job=job.job_id[:8], status=status, detail=detail))
        return "\n".join(lines) or texts.STATUS_NONE

    async def _shortcuts(self, who: Who) -> tuple[ButtonSpec, ...]:
        buttons = [
            ButtonSpec(f"Voice: {v.name}", "use_voice", v.name)
            for v in (await self.store.voices(who.platform, who.user_id))[:5]
        ]
        row = await self.store.last_media(who.platform, who.user_id)
        if row is not None and row["last_photo_hash"]:
            buttons.append(ButtonSpec("Use my last photo", "last_photo"))
        return tuple(buttons)

    @staticmethod
    def _with_shortcuts(action: Action, buttons: tuple[ButtonSpec, ...]) -> Action:
        return Reply(action.text, action.buttons + buttons) if buttons else action

    # ---- rendering ---------------------------------------------------------------------
    async def _enqueue(self, who: Who, draft: Draft) -> Action:
        assert draft.script and draft.voice_hash and draft.photo_hash
        job = RenderJob(
            job_id=job_id_for(who.platform, who.user_id, who.chat_id, draft.id),
            platform=who.platform,
            user_id=who.user_id,
            chat_id=who.chat_id,
            script=draft.script,
            voice_hash=draft.voice_hash,
            photo_hash=draft.photo_hash,
            voice_text=draft.voice_text,
            max_bytes=self.upload_bytes.get(who.platform),
            label=self.limits.label,
        )
        if await self.store.add_job(job, who.guild_id):
            await self.gateway.enqueue(job)
            log.info("job queued", extra={"job_id": job.job_id, "platform": who.platform})
        return Reply(texts.QUEUED.format(job=job.job_id[:8]))
