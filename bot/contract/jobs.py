"""The job contract between the bot and the workers, and every Redis key name.

Payloads are dataclasses that round-trip through JSON (never pickled objects), so a bot and
workers of different versions, on different hosts, can share one Redis.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from arq.constants import in_progress_key_prefix as IN_PROGRESS_PREFIX
from arq.constants import job_key_prefix as JOB_PREFIX

__all__ = [
    "SCOPE_WIDTH",
    "RenderJob",
    "Submission",
    "JobRecord",
    "job_id_for",
    "batch_id_for",
    "new_draft_id",
    "TRANSITIONS",
    "IllegalTransition",
    "may_move",
    "predecessors",
    "CancelOutcome",
    "DeliveryMark",
    "TASK_RENDER",
    "TASK_CHECK_MEDIA",
    "TASK_TRANSCRIBE",
    "TASK_NOTIFY",
    "TASK_NOTIFY_STAFF",
    "TASK_PREVIEW",
    "TASK_UNPOST",
    "TASK_VERIFY_MEDIA",
    "forget_token",
    "Keys",
    "RENDER_QUEUE",
    "LABEL",
    "JOB_RECORDS_TTL",
    "LABEL_POSITIONS",
    "INTAKE_QUEUE",
    "JobState",
    "FINAL_STATES",
    "CLOSED_STATES",
    "LIVE_STATES",
    "OPEN_STATES",
    "sql_states",
]

#: the visible caption burnt into every video, and the corners it may sit in (the first is
#: the default; the worker's engine takes the same: ``engine.media.label``)
LABEL = "AI-generated"
LABEL_POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")
#: seconds Redis keeps a job's records: status, cancel flag, delivery mark, its owner's
#: fair-queue round
JOB_RECORDS_TTL = 7 * 86_400
RENDER_QUEUE = "mouthpiece:render"
INTAKE_QUEUE = "mouthpiece:intake"
#: the arq task names the bot enqueues and the workers run
TASK_RENDER = "render"
TASK_CHECK_MEDIA = "check_media"
TASK_TRANSCRIBE = "transcribe"
TASK_NOTIFY = "notify"
TASK_NOTIFY_STAFF = "notify_staff"  # a line with moderators' buttons (a review waiting)
TASK_PREVIEW = "preview"  # a small copy of an upload for a moderator's review
TASK_UNPOST = "unpost"  # delete messages the bot posted for a job (a takedown)
TASK_VERIFY_MEDIA = "verify_media"  # read the marks of a file a moderator sent to /mod verify


class JobState(StrEnum):
    """Where a job stands: one value for every state a job can be in, in Redis (the live
    record, :class:`JobRecord`) and in the store (the history). A state compares equal to
    its string. Every change goes through :data:`TRANSITIONS` (see :func:`may_move`)."""

    REVIEW = "review"  # waiting for a moderator (the store only: not queued yet)
    QUEUED = "queued"  # accepted by the queue, waiting for a worker
    RUNNING = "running"  # a worker is rendering it
    RETRYING = "retrying"  # a try failed for a passing reason; queued again after a wait
    DELIVERING = "delivering"  # rendered; the video is being sent to the chat
    DONE = "done"
    FAILED = "failed"
    INVALID = "invalid"  # the inputs were refused
    CANCELLED = "cancelled"
    DENIED = "denied"  # a moderator said no (the store only)
    EXPIRED = "expired"  # no moderator answered in time (the store only)


#: the states a worker ends a job in
FINAL_STATES = (JobState.DONE, JobState.FAILED, JobState.INVALID, JobState.CANCELLED)
#: every state a job never leaves: a worker's, or a moderator's no, or a review run out
CLOSED_STATES = (*FINAL_STATES, JobState.DENIED, JobState.EXPIRED)
#: in the queue or on a worker: holds a place in the queue and in the person's allowance
LIVE_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.RETRYING, JobState.DELIVERING)
#: still taking a place in the person's allowance: live, or waiting for a moderator
OPEN_STATES = (*LIVE_STATES, JobState.REVIEW)

_S = JobState
#: The one transition table: state -> the states it may move to. A worker's re-run after a
#: crash starts from whatever the crashed try left (running, delivering), hence the moves
#: back to ``running``; a shutdown puts a running job back in line (``queued``). Closed
#: states go nowhere.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    _S.REVIEW: frozenset({_S.QUEUED, _S.DENIED, _S.EXPIRED, _S.CANCELLED}),
    _S.QUEUED: frozenset({_S.RUNNING, _S.CANCELLED, _S.FAILED, _S.DONE, _S.INVALID}),
    _S.RUNNING: frozenset({_S.RUNNING, _S.DELIVERING, _S.RETRYING, _S.QUEUED, *FINAL_STATES}),
    _S.RETRYING: frozenset({_S.RUNNING, _S.QUEUED, *FINAL_STATES}),
    _S.DELIVERING: frozenset({_S.RUNNING, _S.RETRYING, _S.QUEUED, *FINAL_STATES}),
    **{s: frozenset() for s in CLOSED_STATES},
}


class IllegalTransition(Exception):
    """A move the transition table does not allow (a bug, or a stale writer): refused."""

    def __init__(self, job_id: str, was: str | None, to: str) -> None:
        super().__init__(f"job {job_id[:8]}: {was or 'nothing'} -> {to} is not allowed")
        self.job_id, self.was, self.to = job_id, was, to


def may_move(was: JobState | str | None, to: JobState | str) -> bool:
    """Whether the table allows ``was -> to`` (``None``: no record yet, only ``queued`` or
    ``review`` may begin a job)."""
    if was is None or was == "":
        return to in (JobState.QUEUED, JobState.REVIEW)
    try:
        return JobState(to) in TRANSITIONS[JobState(was)]
    except ValueError:
        return False


def predecessors(to: JobState) -> tuple[JobState, ...]:
    """The states from which the table allows a move to ``to`` (for guarded SQL updates)."""
    return tuple(s for s, nexts in TRANSITIONS.items() if to in nexts)


class CancelOutcome(StrEnum):
    """What a cancel did: took the job out of the queue, asked its worker to stop, found it
    already closed, or found nothing."""

    REMOVED = "removed"
    STOPPING = "stopping"
    CLOSED = "closed"
    UNKNOWN = "unknown"


class DeliveryMark(StrEnum):
    """The job's delivery mark in Redis (:meth:`Keys.delivered`): who may send, what went.

    ``sending``/``resent`` carry a lease (``sending:<deadline>``) while a worker talks to the
    platform; ``video`` and ``notice`` are final. See :func:`bot.jobs.delivery.claim`."""

    SENDING = "sending"
    RESENT = "resent"
    VIDEO = "video"
    NOTICE = "notice"

    @classmethod
    def parse(cls, raw: bytes | str | None) -> tuple[DeliveryMark | None, float]:
        """(mark, lease deadline) from the stored value; the first release's ``1`` is a
        video. Unknown values read as no mark."""
        if raw is None:
            return None, 0.0
        text = raw.decode() if isinstance(raw, bytes) else raw
        if text == "1":
            return cls.VIDEO, 0.0
        name, _, deadline = text.partition(":")
        try:
            return cls(name), float(deadline or 0)
        except ValueError:
            return None, 0.0


def sql_states(states: Iterable[JobState]) -> str:
    """States as an SQL list, ``('done','failed')``: built from the enum, never user text."""
    return "(" + ",".join(f"'{JobState(s).value}'" for s in states) + ")"


class Keys:
    """Redis key names, in one place. arq's own keys (queue, job, in-progress) are arq's."""

    #: jobs whose chat status message is still live (queued or running, or a final edit owed)
    ACTIVE = "mouthpiece:active"
    #: fair queue: global virtual round, per-user last round, a sequence for ties
    FAIR_ROUND = "mouthpiece:fair:round"
    FAIR_SEQ = "mouthpiece:fair:seq"
    #: learned render speed per worker (EMA of seconds per script character, stage shares)
    STATS = "mouthpiece:stats"
    #: live workers (hash: worker name -> heartbeat time)
    WORKERS = "mouthpiece:workers"
    #: tombstones of erased uploads and jobs (zset: forget_token -> when), and a counter
    #: bumped on each erasure, so workers sweep their copies only when something changed
    FORGOTTEN = "mouthpiece:forgotten"
    FORGOTTEN_SEQ = "mouthpiece:forgotten:seq"
    #: every state change of every job, in order (a stream): the bot's job book applies
    #: them to the store (consumer group :data:`EVENTS_GROUP`), once each
    JOB_EVENTS = "mouthpiece:job-events"
    EVENTS_GROUP = "bot"

    @staticmethod
    def media(digest: str) -> str:
        return f"mouthpiece:media:{digest}"

    @staticmethod
    def media_link(digest: str, ref: str) -> str:
        """The fetch hand-off (``MOUTHPIECE_MEDIA_URL``): a signed link to the chat process's
        file of an upload, for one job or intake check (``ref``), never the bytes. Lives as
        long as the link; signed again whenever the job is supplied again; erased with the
        upload."""
        return f"mouthpiece:media-link:{digest}:{ref}"

    @staticmethod
    def intake(digest: str) -> str:
        """A worker's intake finding for an upload (the photo's face and landmarks, as
        ``engine.types.PhotoIntake`` JSON): the render reuses it instead of searching again.
        Lives as long as the upload's copy; erased with it."""
        return f"mouthpiece:intake:{digest}"

    @staticmethod
    def evidence(ref: str) -> str:
        """A file a moderator sent to ``/mod verify``, by a random reference: someone else's
        video, never an upload. Held (short TTL) only until a worker has read its marks."""
        return f"mouthpiece:evidence:{ref}"

    @staticmethod
    def expected_file(platform: str, user_id: str) -> str:
        """A moderator's ``/mod verify`` waiting for their next file (JSON: where it was
        asked, the scope it looks in); expires after the wait."""
        return f"mouthpiece:verify-wait:{platform}:{user_id}"

    @staticmethod
    def job(job_id: str) -> str:
        """Hash: status, stage, fraction, error, routing (platform, chat, user), status message."""
        return f"mouthpiece:job:{job_id}"

    @staticmethod
    def delivered(job_id: str) -> str:
        """Set once the video (value ``video``) or the failure notice (``notice``) reached the
        chat: never send twice, and never take a notice for a delivered video."""
        return f"mouthpiece:delivered:{job_id}"

    @staticmethod
    def preview(job_id: str) -> str:
        """The job's preview (its first seconds, sent before the video): ``sending`` from just
        before the send, then ``sent:<message id>``, or ``failed``. Set once (``SET NX``) and
        never sent again after that: a preview goes out at most once."""
        return f"mouthpiece:preview:{job_id}"

    @staticmethod
    def cancel(job_id: str) -> str:
        """Set by the owner's cancel; the worker polls it and stops at the next frame batch."""
        return f"mouthpiece:cancel:{job_id}"

    @staticmethod
    def batch(batch_id: str) -> str:
        """Hash: a batch's routing (platform, chat, user) and its one status message (the
        board's ``msg_*`` fields, as a :class:`JobRecord` holds them for a lone job)."""
        return f"mouthpiece:batch:{batch_id}"

    @staticmethod
    def batch_jobs(batch_id: str) -> str:
        """Set: the ids of a batch's jobs the queue took (the board shows them together)."""
        return f"mouthpiece:batch-jobs:{batch_id}"

    @staticmethod
    def status_lock(job_id: str) -> str:
        """Held (and renewed) by the one worker posting or editing the job's status message."""
        return f"mouthpiece:status-lock:{job_id}"

    @staticmethod
    def fair_user(platform: str, user_id: str) -> str:
        return f"mouthpiece:fair:user:{platform}:{user_id}"

    @staticmethod
    def fair_scope(platform: str, guild_id: str) -> str:
        """The fair queue's clock of one scope: a server, or a platform's direct messages."""
        return f"mouthpiece:fair:scope:{platform}:{guild_id or 'dm'}"

    @staticmethod
    def in_progress(job_id: str) -> str:
        """arq's in-progress marker: the worker's heartbeat keeps its expiry short."""
        return f"{IN_PROGRESS_PREFIX}{job_id}"

    @staticmethod
    def arq_job(job_id: str) -> str:
        return f"{JOB_PREFIX}{job_id}"


@dataclass(frozen=True)
class Submission:
    """What a person asks to render, as the conversation hands it to safety and the job
    lifecycle: the draft's id (random) and what it holds. Not a draft: safety never sees
    the conversation's state."""

    draft_id: str
    script: str
    voice_hash: str
    photo_hash: str
    voice_text: str | None = None
    voice_forwarded: bool = False  # the voice note came forwarded from someone else's message
    # one script of a batch (a file of several): its place in the draft's scripts (the job's
    # id comes from the draft's and this), the batch's id and the script's title
    part: int | None = None
    batch: str = ""
    title: str = ""
    version: str = ""  # what the batch holds (job_id_for): a changed batch gets other ids
    batch_size: int = 0  # the batch's number of scripts
    language: str = ""  # the language chosen for the video (spoken_text.languages); "": detected


#: jobs one scope (a server; a platform's direct messages) may have in one round of the fair
#: queue (bot.jobs.fair)
SCOPE_WIDTH = 2


@dataclass(frozen=True)
class RenderJob:
    """One render, as the worker receives it. Media are referenced by content hash."""

    job_id: str
    platform: str  # "telegram" | "discord"
    user_id: str
    chat_id: str
    script: str
    voice_hash: str
    photo_hash: str
    voice_text: str | None = None
    max_bytes: int | None = None
    seed: int = 0
    label: str | None = LABEL
    label_position: str = LABEL_POSITIONS[0]  # set per server by moderators
    guild_id: str = ""  # the server it was asked in ("": direct messages): its fair-share scope
    # how the consent of the person shown and heard was given, for the video's signed
    # manifest (a method, never personal data): "declared" by the requester, a spoken
    # "phrase" heard, a moderator's "approval", an "operator"'s; "" for older jobs
    consent: str = ""
    # a batch's job: the batch it belongs to (its jobs share one status message), the
    # script's title from the batch file ("" for none) and how many scripts the batch has
    batch: str = ""
    title: str = ""
    batch_size: int = 0
    # the language the video is spoken in, as chosen (a code of spoken_text.languages); "":
    # detected from the script (older jobs too)
    language: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, data: str | bytes) -> RenderJob:
        raw = json.loads(data)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})


@dataclass(frozen=True)
class JobRecord:
    """A job's live record in Redis (:meth:`Keys.job`), typed: its state and progress, who
    and where it is for, and its chat status message (the board's fields, ``msg_*``).

    Written only through :class:`bot.jobs.book.JobBook` (state changes through the
    transition table, progress and message fields as notes); read with :meth:`from_redis`,
    which ignores fields it does not know and reads a missing one as its default."""

    state: JobState = JobState.QUEUED
    stage: str = ""
    fraction: float = 0.0
    error: str = ""
    output_bytes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    platform: str = ""
    chat_id: str = ""
    user_id: str = ""
    chars: int = 0  # script length, for the ETA
    enqueued: float = 0.0
    started: float = 0.0
    finished: float = 0.0
    worker: str = ""
    attempt: int = 0
    msg_id: str = ""  # the status message's platform message id
    msg_text: str = ""
    msg_at: float = 0.0
    msg_fails: int = 0
    msg_permanent: int = 0
    msg_retry_at: float = 0.0
    msg_gave_up: bool = False
    video_msg_id: str = ""  # the posted video's platform message id (a takedown deletes it)
    preview_msg_id: str = ""  # the posted preview's (a takedown deletes it too)
    batch: str = ""  # the batch whose one status message shows this job ("": its own message)
    batch_size: int = 0  # a batch's record: its scripts, queued yet or not (its message counts)

    #: the hash field each attribute is stored under (the state keeps its first name)
    _FIELD = {"state": "status", "attempt": "try"}

    @classmethod
    def encode(cls, **values: object) -> dict[str, str]:
        """Hash fields for these attribute values (a partial record); a name that is not an
        attribute raises, so no stray field is ever written."""
        known = cls.__dataclass_fields__
        out: dict[str, str] = {}
        for name, value in values.items():
            if name not in known or name.startswith("_"):
                raise TypeError(f"JobRecord has no field {name!r}")
            if isinstance(value, bool):
                text = "1" if value else ""
            elif isinstance(value, float):
                text = f"{value:.3f}"
            elif isinstance(value, dict):
                text = json.dumps(value)
            else:
                text = str(value)
            out[cls._FIELD.get(name, name)] = text
        return out

    def to_redis(self) -> dict[str, str]:
        return self.encode(**{f: getattr(self, f) for f in self.__dataclass_fields__})

    @classmethod
    def from_redis(cls, raw: dict[bytes, bytes] | dict[str, str]) -> JobRecord:
        d = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        values: dict[str, object] = {}
        for name, spec in cls.__dataclass_fields__.items():
            text = d.get(cls._FIELD.get(name, name))
            if text is None or text == "":
                continue
            try:
                if name == "state":
                    values[name] = JobState(text)
                elif name == "seconds":
                    values[name] = {str(k): float(v) for k, v in json.loads(text).items()}
                elif spec.type in ("int",):
                    values[name] = int(float(text))
                elif spec.type in ("float",):
                    values[name] = float(text)
                elif spec.type in ("bool",):
                    values[name] = text not in ("", "0")
                else:
                    values[name] = text
            except (ValueError, TypeError, AttributeError):
                continue  # an unreadable field reads as its default
        return cls(**values)  # type: ignore[arg-type]


def forget_token(ref: str) -> str:
    """The tombstone of an erased upload hash or job id: workers compare it with the names
    of the files they hold, and Redis never holds the erased id itself."""
    return hashlib.sha256(f"mouthpiece-forgotten:{ref}".encode()).hexdigest()


def new_draft_id() -> str:
    """A fresh draft id: random, never derived from what was sent or who sent it."""
    return secrets.token_hex(16)


def job_id_for(draft_id: str, part: int | None = None, version: str = "") -> str:
    """The job id of a draft's render: re-sent or double-clicked submissions of one draft
    make one job. Draft ids are random (:func:`new_draft_id`), so job ids cannot be guessed
    from a photo, a script or anyone's public id. ``part``: the script's place in a batch
    draft (each script its own job); ``version``: what the batch holds (a draft changed after
    some of its videos were made is another batch, with other ids)."""
    key = draft_id if part is None else f"{draft_id}|{part}"
    key += f"|{version}" if version else ""
    return hashlib.sha256(f"mouthpiece-job|{key}".encode()).hexdigest()[:20]


def batch_id_for(draft_id: str, version: str = "") -> str:
    """The batch id of a batch draft's jobs: the same on every press of Render while the
    draft holds the same batch (``version``), so a second press (after a limit let only some
    through) adds the rest to the same batch."""
    key = f"{draft_id}|{version}" if version else draft_id
    return hashlib.sha256(f"mouthpiece-batch|{key}".encode()).hexdigest()[:20]
