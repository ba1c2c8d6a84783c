"""The job contract between the bot and the workers, and every Redis key name.

Payloads are dataclasses that round-trip through JSON (never pickled objects), so a bot and
workers of different versions, on different hosts, can share one Redis.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

__all__ = ["RenderJob", "JobStatus", "job_id_for", "Keys", "RENDER_QUEUE", "INTAKE_QUEUE"]

RENDER_QUEUE = "mouthpiece:render"
INTAKE_QUEUE = "mouthpiece:intake"


class Keys:
    """Redis key names, in one place."""

    @staticmethod
    def media(digest: str) -> str:
        return f"mouthpiece:media:{digest}"

    @staticmethod
    def job(job_id: str) -> str:
        return f"mouthpiece:job:{job_id}"

    @staticmethod
    def delivered(job_id: str) -> str:
        return f"mouthpiece:delivered:{job_id}"


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
    label: str | None = "AI-generated"
    reply_to: str | None = None  # platform message id to answer, if any

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


def job_id_for(platform: str, user_id: str, chat_id: str, draft_id: str) -> str:
    """Deterministic job id: re-sent or double-clicked submissions of one draft make one job."""
    return hashlib.sha256(f"{platform}|{user_id}|{chat_id}|{draft_id}".encode()).hexdigest()[:20]
