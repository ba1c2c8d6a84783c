"""The job contract between the bot and the workers, and every Redis key name.

Payloads are dataclasses that round-trip through JSON (never pickled objects), so a bot and
workers of different versions, on different hosts, can share one Redis.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from arq.constants import in_progress_key_prefix as IN_PROGRESS_PREFIX
from arq.constants import job_key_prefix as JOB_PREFIX

__all__ = [
    "RenderJob",
    "JobStatus",
    "job_id_for",
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


class JobState(StrEnum):
    """Where a job stands, in Redis (the workers' view) and in SQLite (the bot's record).

    The members are the strings stored; a state compares equal to its string."""

    QUEUED = "queued"
    RUNNING = "running"
    REVIEW = "review"  # waiting for a moderator (SQLite only)
    DONE = "done"
    FAILED = "failed"
    INVALID = "invalid"  # the inputs were refused
    CANCELLED = "cancelled"
    DENIED = "denied"  # a moderator said no (SQLite only)
    EXPIRED = "expired"  # no moderator answered in time (SQLite only)


#: the states a worker ends a job in
FINAL_STATES = (JobState.DONE, JobState.FAILED, JobState.INVALID, JobState.CANCELLED)
#: every state a job never leaves: a worker's, or a moderator's no, or a review run out
CLOSED_STATES = (*FINAL_STATES, JobState.DENIED, JobState.EXPIRED)
#: in the queue or on a worker
LIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
#: still taking a place in the person's allowance: live, or waiting for a moderator
OPEN_STATES = (*LIVE_STATES, JobState.REVIEW)


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

    @staticmethod
    def media(digest: str) -> str:
        return f"mouthpiece:media:{digest}"

    @staticmethod
    def intake(digest: str) -> str:
        """A worker's intake finding for an upload (the photo's face and landmarks, as
        ``engine.types.PhotoIntake`` JSON): the render reuses it instead of searching again.
        Lives as long as the upload's copy; erased with it."""
        return f"mouthpiece:intake:{digest}"

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
    def cancel(job_id: str) -> str:
        """Set by the owner's cancel; the worker polls it and stops at the next frame batch."""
        return f"mouthpiece:cancel:{job_id}"

    @staticmethod
    def status_lock(job_id: str) -> str:
        """Held (and renewed) by the one worker posting or editing the job's status message."""
        return f"mouthpiece:status-lock:{job_id}"

    @staticmethod
    def fair_user(platform: str, user_id: str) -> str:
        return f"mouthpiece:fair:user:{platform}:{user_id}"

    @staticmethod
    def in_progress(job_id: str) -> str:
        """arq's in-progress marker: the worker's heartbeat keeps its expiry short."""
        return f"{IN_PROGRESS_PREFIX}{job_id}"

    @staticmethod
    def arq_job(job_id: str) -> str:
        return f"{JOB_PREFIX}{job_id}"


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

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, data: str | bytes) -> RenderJob:
        raw = json.loads(data)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})


@dataclass(frozen=True)
class JobStatus:
    """What a worker reports about a job (kept in Redis under ``Keys.job``)."""

    status: str  # queued | running | done | failed | invalid | cancelled
    stage: str = ""
    fraction: float = 0.0
    error: str = ""
    output_bytes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def to_redis(self) -> dict[str, str]:
        return {
            "status": self.status,
            "stage": self.stage,
            "fraction": f"{self.fraction:.3f}",
            "error": self.error,
            "output_bytes": str(self.output_bytes),
            "seconds": json.dumps(self.seconds),
        }

    @classmethod
    def from_redis(cls, raw: dict[bytes, bytes] | dict[str, str]) -> JobStatus:
        d = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        return cls(
            status=d.get("status", "queued"),
            stage=d.get("stage", ""),
            fraction=float(d.get("fraction", 0) or 0),
            error=d.get("error", ""),
            output_bytes=int(d.get("output_bytes", 0) or 0),
            seconds=json.loads(d.get("seconds") or "{}"),
        )


def forget_token(ref: str) -> str:
    """The tombstone of an erased upload hash or job id: workers compare it with the names
    of the files they hold, and Redis never holds the erased id itself."""
    return hashlib.sha256(f"mouthpiece-forgotten:{ref}".encode()).hexdigest()


def job_id_for(platform: str, user_id: str, chat_id: str, draft_id: str) -> str:
    """Deterministic job id: re-sent or double-clicked submissions of one draft make one job."""
    return hashlib.sha256(f"{platform}|{user_id}|{chat_id}|{draft_id}".encode()).hexdigest()[:20]
