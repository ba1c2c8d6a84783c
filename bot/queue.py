"""The arq client: media hand-off, intake checks, render jobs, job status. Redis only.

Media travel through Redis by content hash (with a TTL), so the bot and the workers may
run on different machines that share nothing but Redis.
"""

from __future__ import annotations

import logging

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from bot.core.service import MediaCheck
from bot.jobs import INTAKE_QUEUE, RENDER_QUEUE, JobStatus, Keys, RenderJob

__all__ = ["Queue"]

log = logging.getLogger(__name__)


class Queue:
    """What the bot process needs from Redis (implements the service's Gateway)."""

    def __init__(
        self, redis: ArqRedis, *, media_ttl: int = 86_400, intake_timeout: float = 20.0
    ) -> None:
        self.redis = redis
        self.media_ttl = media_ttl
        self.intake_timeout = intake_timeout

    @classmethod
    async def connect(cls, url: str, **kw: float) -> Queue:
        return cls(await create_pool(RedisSettings.from_dsn(url)), **kw)  # type: ignore[arg-type]

    async def close(self) -> None:
        await self.redis.aclose()

    async def put_media(self, digest: str, data: bytes) -> None:
        await self.redis.set(Keys.media(digest), data, ex=self.media_ttl)

    async def check_media(self, kind: str, digest: str) -> MediaCheck | None:
        """Ask a worker to validate an upload; None when no answer came in time."""
        job = await self.redis.enqueue_job("check_media", kind, digest, _queue_name=INTAKE_QUEUE)
        if job is None:
            return None
        try:
            raw = await job.result(timeout=self.intake_timeout, poll_delay=0.1)
        except TimeoutError:
            log.warning("intake check timed out", extra={"kind": kind})
            return None
        return MediaCheck(
            ok=bool(raw["ok"]),
            reason=raw.get("reason", ""),
            seconds=float(raw.get("seconds", 0.0)),
            warnings=tuple(raw.get("warnings", ())),
        )

    async def enqueue(self, job: RenderJob) -> bool:
        """Queue a render; False when a job with this id is already queued or done."""
        await self.redis.hset(Keys.job(job.job_id), mapping=JobStatus("queued").to_redis())  # type: ignore[misc]
        queued = await self.redis.enqueue_job(
            "render", job.to_json(), _job_id=job.job_id, _queue_name=RENDER_QUEUE
        )
        return queued is not None

    async def status(self, job_id: str) -> JobStatus | None:
        raw = await self.redis.hgetall(Keys.job(job_id))  # type: ignore[misc]
        return JobStatus.from_redis(raw) if raw else None
