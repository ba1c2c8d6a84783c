"""The ports: what the conversation, the safety package and the job lifecycle need from
Redis and the store, typed once as Protocols, and the values that cross them (a worker's
verdict on an upload, an erasure's plan, a job event, the rows the store hands back).
Implemented in the chat process (:mod:`bot.chat.queue`, :mod:`bot.chat.store`); nothing
here imports them. The whole store, as the conversation sees it, is
:class:`bot.conversation.storage.Store`."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from bot.contract.events import ButtonSpec
from bot.contract.jobs import CancelOutcome, JobRecord, JobState, RenderJob

__all__ = [
    "JobActivity",
    "FaceFrame",
    "WebSession",
    "WebLogins",
    "Gateway",
    "JobQueue",
    "JobStore",
    "JobControl",
    "MediaSupply",
    "JobEvent",
    "LiveJob",
    "MediaCheck",
    "ErasePlan",
    "Position",
    "MediaStore",
    "LastMedia",
    "VoiceProfile",
    "Avatar",
    "JobRow",
    "ConsentMethod",
    "Verification",
    "MediaPreview",
    "MarkReport",
    "Posted",
    "Unposted",
    "posted_in",
]


@dataclass(frozen=True)
class MediaCheck:
    """A worker's verdict on an upload."""

    ok: bool
    reason: str = ""
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()

    def to_json(self) -> str:
        """The one wire form (a worker's answer through arq)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> MediaCheck:
        """Tolerant of fields it does not know; ValueError when ``raw`` is not a verdict."""
        try:
            d = json.loads(raw)
            return cls(
                ok=bool(d["ok"]),
                reason=str(d.get("reason", "")),
                seconds=float(d.get("seconds", 0.0)),
                warnings=tuple(str(w) for w in d.get("warnings", ())),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as e:
            raise ValueError(f"not a media check: {e}") from e


@dataclass(frozen=True)
class Position:
    """Where a queued job stands: ``ahead`` jobs wait before it, ``running`` are rendering."""

    ahead: int
    running: int


@dataclass(frozen=True)
class ErasePlan:
    """What an erasure asks the queue to remove: the Redis copies of these uploads, these
    jobs' records (status, arq job and result records holding their scripts), anything else
    naming them, and for a whole person (``user``) their queue bookkeeping. Workers learn
    of it through tombstones (hashes, never the ids themselves) and clear their caches."""

    platform: str
    digests: tuple[str, ...] = ()
    job_ids: tuple[str, ...] = ()
    user: str | None = None  # set when the person's data goes everywhere


class ConsentMethod(StrEnum):
    """How a job's consent was verified (a consent record's ``method``)."""

    PHRASE = "phrase"  # speech recognition heard the phrase in the voice note: valid anywhere
    APPROVAL = "approval"  # a server's moderator approved: valid in that server (or DMs) only
    OPERATOR = "operator"  # one of the bot's operators approved: valid everywhere


@dataclass(frozen=True)
class Verification:
    """A job's verified consent, as its consent record keeps it: how (``method``), where it
    counts (``scope``: a server id, "" the direct messages, "*" everywhere), who approved
    (a moderator's or operator's user id), and for a voice that already carried a
    verification, that earlier consent record's id (``carried_from``)."""

    method: ConsentMethod
    scope: str
    by: str = ""
    carried_from: int | None = None


@dataclass(frozen=True)
class MediaPreview:
    """A small copy of an upload for a moderator's review, made on a worker from what its
    decode jail read (a downscaled photo, the voice note's first seconds re-encoded small):
    ``name`` and ``data``, or the ``reason`` there is none."""

    name: str = ""
    data: bytes = b""
    reason: str = ""

    def to_json(self) -> str:
        """The one wire form (a worker's answer through arq: the bytes in base64)."""
        blob = base64.b64encode(self.data).decode()
        return json.dumps({"name": self.name, "data": blob, "reason": self.reason})

    @classmethod
    def from_json(cls, raw: str | bytes) -> MediaPreview:
        """ValueError when ``raw`` is not a preview."""
        try:
            d = json.loads(raw)
            return cls(
                str(d.get("name", "")),
                base64.b64decode(str(d.get("data", "")), validate=True),
                str(d.get("reason", "")),
            )
        except (TypeError, AttributeError, ValueError) as e:
            raise ValueError(f"not a media preview: {e}") from e


#: what a job id read from a file may look like before it is looked up (ids are hex; the
#: engine's command line makes "cli-" ones)
_JOB_REF = re.compile(r"[0-9A-Za-z_-]{1,64}")


@dataclass(frozen=True)
class MarkReport:
    """What a worker read from a file a moderator sent to ``/mod verify``: every mark's verdict
    (the fields of ``engine.verify.Verdict.to_json()``) and the report's lines
    (``engine.verify.report_lines``, made on the worker: the chat process never imports the
    engine), or the one-line ``reason`` the file could not be read. The file's marks are
    claims of whoever made the file: :attr:`token` and :attr:`job_id` are checked for shape
    only, to be looked up."""

    verdict: dict[str, Any] = field(default_factory=dict)
    lines: tuple[str, ...] = ()
    reason: str = ""

    @property
    def token(self) -> int | None:
        """The job token read from the speech (``"0x1a2b3c4d"`` on the wire), or None."""
        raw = self.verdict.get("token")
        if not isinstance(raw, str) or not raw.startswith("0x"):
            return None
        try:
            token = int(raw, 16)
        except ValueError:
            return None
        return token if 0 <= token < 1 << 32 else None

    @property
    def job_id(self) -> str | None:
        """The job the file names: its manifest's claim first, else its metadata's; None
        when neither names one that looks like a job id."""
        manifest = self.verdict.get("manifest")
        claims = manifest.get("claims") if isinstance(manifest, dict) else None
        for raw in (
            claims.get("job_id") if isinstance(claims, dict) else None,
            self.verdict.get("job_id"),
        ):
            if isinstance(raw, str) and _JOB_REF.fullmatch(raw):
                return raw
        return None

    def to_json(self) -> str:
        """The one wire form (a worker's answer through arq)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> MarkReport:
        """ValueError when ``raw`` is not a report."""
        try:
            d = json.loads(raw)
            verdict, lines = d.get("verdict") or {}, d.get("lines") or []
            if not isinstance(verdict, dict) or not isinstance(lines, list):
                raise TypeError("verdict or lines of the wrong type")
            return cls(verdict, tuple(str(line) for line in lines), str(d.get("reason") or ""))
        except (TypeError, AttributeError, ValueError) as e:
            raise ValueError(f"not a mark report: {e}") from e


@dataclass(frozen=True)
class Posted:
    """A message the bot posted in a job's chat: its video (``kind`` "video") or its status
    message ("status"), by the platform's message id."""

    kind: str
    message_id: str


def posted_in(record: JobRecord) -> tuple[Posted, ...]:
    """The messages a job's live record says were posted for it: its status message (the
    board's), its preview and its video (the delivery's)."""
    out = [Posted("status", record.msg_id)] if record.msg_id else []
    if record.preview_msg_id:
        out.append(Posted("preview", record.preview_msg_id))
    if record.video_msg_id:
        out.append(Posted("video", record.video_msg_id))
    return tuple(out)


@dataclass(frozen=True)
class Unposted:
    """What deleting one posted message came to: ``removed`` (deleted now, or already gone),
    else the platform's ``reason`` (Telegram lets a bot delete a message only within 48
    hours of posting it; no worker answered; the bot lost access to the chat)."""

    kind: str
    message_id: str
    removed: bool
    reason: str = ""

    @staticmethod
    def to_json(outcomes: tuple[Unposted, ...]) -> str:
        """The one wire form of a worker's answer (a list)."""
        return json.dumps([asdict(o) for o in outcomes])

    @staticmethod
    def from_json(raw: str | bytes) -> tuple[Unposted, ...]:
        """ValueError when ``raw`` is not a list of outcomes."""
        try:
            return tuple(
                Unposted(str(d["kind"]), str(d["message_id"]), bool(d["removed"]), str(d["reason"]))
                for d in json.loads(raw)
            )
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise ValueError(f"not unpost outcomes: {e}") from e


class Gateway(Protocol):
    """Uploads and intake through Redis: copies for the workers, their checks, erasure, and
    lines a worker sends for the bot (``notify``; ``notify_staff`` with buttons that any of
    the scope's moderators may press: a review waiting for them); a moderator's ``/mod
    verify`` (``expect_file``: the wait for their next file, a string the safety package
    writes and reads; ``verify_media``: a worker reads a file's marks, None when none
    answered in time)."""

    async def put_media(self, digest: str, data: bytes) -> None: ...
    async def supply_media(self, digest: str, path: Path | None, job_id: str = "") -> bool: ...
    async def check_media(self, kind: str, digest: str) -> MediaCheck | None: ...
    async def transcribe(self, digest: str, language: str = "") -> str | None: ...
    async def notify(self, platform: str, chat_id: str, text: str, job_id: str = "") -> None: ...
    async def notify_staff(
        self, platform: str, chat_id: str, text: str, buttons: tuple[ButtonSpec, ...]
    ) -> None: ...
    async def erase(self, plan: ErasePlan) -> None: ...
    async def preview(self, kind: str, digest: str) -> MediaPreview | None: ...
    async def photo_face(self, digest: str) -> FaceFrame | None: ...
    # a moderator's /mod verify: the wait for their next file, and a worker's reading of it
    async def expect_file(
        self, platform: str, user_id: str, request: str, seconds: int
    ) -> None: ...
    async def expected_file(self, platform: str, user_id: str) -> str | None: ...
    async def drop_expected_file(self, platform: str, user_id: str) -> None: ...
    async def verify_media(self, data: bytes) -> MarkReport | None: ...
    async def posted(self, job_id: str) -> tuple[Posted, ...]: ...
    async def unpost(
        self, platform: str, chat_id: str, messages: tuple[Posted, ...]
    ) -> tuple[Unposted, ...]: ...


@dataclass(frozen=True)
class JobEvent:
    """One state change from the job-events stream (``id``: the stream's entry id)."""

    id: str
    job_id: str
    was: str
    to: JobState
    error: str = ""
    output_bytes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveJob:
    """A job the store holds as live (queued, running, retrying, delivering)."""

    job: RenderJob
    state: JobState
    created: float


class JobQueue(Protocol):
    """The render queue and the jobs' live records in Redis (:mod:`bot.jobs`)."""

    async def enqueue(self, job: RenderJob) -> bool: ...
    async def holds(self, job_id: str) -> bool: ...
    async def position(self, job_id: str) -> Position | None: ...
    async def cancel(self, job_id: str) -> CancelOutcome: ...
    async def cancel_requested(self, job_id: str) -> bool: ...
    async def record(self, job_id: str) -> JobRecord | None: ...
    async def move(self, job_id: str, to: JobState, **fields: object) -> JobState | None: ...
    async def events(self, consumer: str, block_ms: int) -> list[JobEvent]: ...
    async def ack(self, *event_ids: str) -> None: ...


class JobStore(Protocol):
    """The store's job history (``store.jobs``), as the job lifecycle writes it."""

    async def add(
        self,
        job: RenderJob,
        guild_id: str | None,
        consent_mode: str = "attest",
        *,
        limits: Any = None,  # the safety package's RateLimits
        status: str = JobState.QUEUED,
        verified: Verification | None = None,
        now: float | None = None,
    ) -> bool: ...

    async def remove(self, job_id: str) -> None: ...

    async def activity(
        self, platform: str, scope: str | None, since: float, *, limit: int = 20_000
    ) -> list[JobActivity]:
        """Jobs asked since ``since`` in ``scope`` (a server, "" direct messages, None
        everywhere on the platform), oldest first, for the dashboard's charts."""
        ...

    async def move(
        self,
        job_id: str,
        to: JobState,
        *,
        error: str = "",
        output_bytes: int = 0,
        timings: dict[str, float] | None = None,
    ) -> bool: ...

    async def live(self, created_before: float) -> list[LiveJob]: ...

    async def state(self, job_id: str) -> JobState | None: ...

    async def recent(
        self, platform: str, user_id: str, *, limit: int = 5, open_only: bool = False
    ) -> list[JobRow]: ...

    async def keep_posted(self, job_id: str, messages: tuple[Posted, ...]) -> None: ...


class JobControl(Protocol):
    """What the safety package may ask of the job lifecycle (approve a review, cancel)."""

    async def approve(self, job: RenderJob) -> None: ...
    async def cancel(self, job_id: str) -> CancelOutcome: ...


class MediaSupply(Protocol):
    """Makes sure the workers can fetch a job's uploads (bot.jobs.media.Uploads)."""

    async def supply(self, job: RenderJob) -> str | None: ...


# ---- the store's rows, as the core reads them (never a database row) ---------------------
@dataclass(frozen=True)
class LastMedia:
    """The person's last voice note and photo, for "use my last photo" and /voice save."""

    voice_hash: str | None = None
    voice_seconds: float | None = None
    voice_text: str | None = None
    photo_hash: str | None = None


@dataclass(frozen=True)
class VoiceProfile:
    """A saved voice."""

    name: str
    digest: str
    seconds: float
    transcript: str | None


@dataclass(frozen=True)
class Avatar:
    """A saved avatar: a photo and a voice note (with its transcript) under a name, and the
    scopes (a server id, "" the direct messages) whose consent it carries."""

    name: str
    photo_digest: str
    voice_digest: str
    voice_seconds: float
    transcript: str | None
    consented_in: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobRow:
    """A job as the bot recorded it."""

    job_id: str
    status: str
    error: str
    created: float
    output_bytes: int


class MediaStore(Protocol):
    """Where the bot keeps uploads (``store.media``): the part bot.jobs.media needs."""

    async def put(self, digest: str, kind: str, size: int, mime: str, path: Path) -> None: ...

    async def path(self, digest: str) -> Path | None: ...


@dataclass(frozen=True)
class JobActivity:
    """One job as the dashboard's charts count it: where, its state, when it was asked,
    started and finished (None: not yet)."""

    scope: str  # the server ("": direct messages)
    status: str
    created: float
    started: float | None
    finished: float | None


@dataclass(frozen=True)
class FaceFrame:
    """Where the intake check found the face in a photo: the box in pixels of the working
    image it looked at (``width`` x ``height``)."""

    width: int
    height: int
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: whose it is, the token its forms carry (CSRF), when it ends, and
    ``scope``: the server whose moderator asked /web there ("": none), as the platform said
    at that moment (bot.safety.authority judged it; the dashboard acts within it)."""

    session_id: str
    platform: str
    user_id: str
    csrf: str
    expires: float
    scope: str = ""


class WebLogins(Protocol):
    """The web studio's sign-in records (``store.web``): used link nonces and sessions."""

    async def use_nonce(self, nonce: str, expires: float, now: float) -> bool:
        """Record a sign-in link's nonce as used; False when it was used before."""
        ...

    async def open_session(
        self, platform: str, user_id: str, now: float, seconds: float, scope: str = ""
    ) -> WebSession: ...

    async def session(self, session_id: str, now: float) -> WebSession | None: ...

    async def close_session(self, session_id: str) -> None: ...

    async def close_all(self, platform: str, user_id: str) -> int: ...
