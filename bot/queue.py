"""The arq client: media hand-off, intake checks, fair render queue, position, cancel,
erasure. Redis only.

Media travel through Redis by content hash (with a TTL), so the bot and the workers may
run on different machines that share nothing but Redis; a job whose copy expired gets a
fresh one from the bot's own file (:meth:`Queue.supply_media`). With ``shared=True`` (bot and
workers share the data folder) no bytes go to Redis: the workers read the bot's file.

Fairness: arq runs the ready job with the lowest score first. Instead of the enqueue time,
a render's score is its *round*: one more than the later of the user's previous round and the
round now running. One user's ten jobs take rounds r+1..r+10, another user's job enqueued
later takes round r+1 and runs second. Rounds are small numbers (milliseconds after 1970),
so every queued job is always "due" and an idle worker never waits.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import DeserializationError, deserialize_job, deserialize_result
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.core.errors import Busy
from bot.core.ports import ErasePlan, MediaCheck, Position
from bot.jobs import (
    INTAKE_QUEUE,
    JOB_RECORDS_TTL,
    LIVE_STATES,
    RENDER_QUEUE,
    JobStatus,
    Keys,
    RenderJob,
    forget_token,
)

__all__ = [
    "Queue",
    "Position",
    "ROUND",
    "fair_score",
    "mark_round_started",
    "queue_positions",
    "redis_settings",
]

log = logging.getLogger(__name__)

#: score units per round; the rest orders jobs within a round by arrival
ROUND = 1_000_000
_JOB_TTL = timedelta(days=2)

# KEYS: global round, user's last round, sequence. ARGV: seconds the user's round is kept.
# Returns the score for a new job.
_FAIR_SCORE = """
local now_round = tonumber(redis.call('GET', KEYS[1]) or '0')
local user_round = tonumber(redis.call('GET', KEYS[2]) or '0')
local round = math.max(now_round, user_round) + 1
redis.call('SET', KEYS[2], round, 'EX', ARGV[1])
local seq = redis.call('INCR', KEYS[3]) % 1000000
return round * 1000000 + seq
"""
# KEYS: global round. ARGV: the started job's round. The global round only moves forward.
_ROUND_STARTED = """
local now_round = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > now_round then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""
# KEYS: queue, arq job key, in-progress key. Removes a job that has not started.
_CANCEL_QUEUED = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return removed
"""


_P = ParamSpec("_P")
_T = TypeVar("_T")


def busy_when_full(
    call: Callable[_P, Coroutine[Any, Any, _T]],
) -> Callable[_P, Coroutine[Any, Any, _T]]:
    """Redis at its ``maxmemory`` (``noeviction``: writes fail with OOM) or out of reach
    after the client's retries: raise :class:`~bot.core.errors.Busy`, which the service
    answers with "busy, try later" instead of an error."""

    @functools.wraps(call)
    async def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return await call(*args, **kwargs)
        except OutOfMemoryError as e:
            raise Busy("redis is at maxmemory") from e
        except (RedisConnectionError, RedisTimeoutError) as e:
            raise Busy(f"redis unreachable: {type(e).__name__}") from e

    return guarded


def redis_settings(url: str) -> RedisSettings:
    """arq's connection settings, with commands retried through a Redis restart of ~30 s."""
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    settings = RedisSettings.from_dsn(url)
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError, ConnectionError]
    settings.retry = Retry(ExponentialBackoff(cap=5.0, base=0.2), retries=12)
    return settings


async def fair_score(redis: ArqRedis, platform: str, user_id: str) -> int:
    return int(
        await redis.eval(
            _FAIR_SCORE,
            3,
            Keys.FAIR_ROUND,
            Keys.fair_user(platform, user_id),
            Keys.FAIR_SEQ,
            str(JOB_RECORDS_TTL),
        )  # type: ignore[misc]
    )


async def mark_round_started(redis: ArqRedis, score: int) -> None:
    """A worker started a job with ``score``: later enqueues join from its round on."""
    await redis.eval(_ROUND_STARTED, 1, Keys.FAIR_ROUND, str(score // ROUND))  # type: ignore[misc]


async def queue_positions(redis: ArqRedis) -> tuple[dict[str, Position], list[str]]:
    """Every queued job's position, and the ids of running jobs, from one look at the queue."""
    entries = await redis.zrange(RENDER_QUEUE, 0, -1)
    ids = [e.decode() if isinstance(e, bytes) else str(e) for e in entries]
    if not ids:
        return {}, []
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.exists(Keys.in_progress(job_id))
        flags = await pipe.execute()
    running = [j for j, f in zip(ids, flags, strict=True) if f]
    waiting = [j for j, f in zip(ids, flags, strict=True) if not f]
    return {j: Position(i, len(running)) for i, j in enumerate(waiting)}, running


class Queue:
    """What the bot process needs from Redis (implements the service's Gateway).

    ``shared``: the workers read the bot's own files (one data folder): uploads are not
    copied into Redis. ``tombstone_seconds``: how long workers can still find a forgotten
    upload or job's tombstone; at least as long as a worker may keep a copy (its cache
    retention)."""

    def __init__(
        self,
        redis: ArqRedis,
        *,
        media_ttl: int = 86_400,
        intake_timeout: float = 20.0,
        tombstone_seconds: float = 2 * 86_400,
        shared: bool = False,
    ) -> None:
        self.redis = redis
        self.shared = shared
        self.media_ttl = media_ttl
        self.intake_timeout = intake_timeout
        self.tombstone_seconds = tombstone_seconds
        self._poll = min(0.1, max(0.005, intake_timeout / 4))  # answer polls within the wait

    @classmethod
    async def connect(cls, url: str, **kw: float | bool) -> Queue:
        return cls(await create_pool(redis_settings(url)), **kw)  # type: ignore[arg-type]

    async def close(self) -> None:
        await self.redis.aclose()

    @busy_when_full
    async def put_media(self, digest: str, data: bytes) -> None:
        if self.shared:
            return  # the workers read the bot's file
        await self.redis.set(Keys.media(digest), data, ex=self.media_ttl)

    @busy_when_full
    async def supply_media(self, digest: str, path: Path | None) -> bool:
        """Make sure a worker can fetch an upload now: keep the Redis copy another
        ``media_ttl`` seconds, or put a fresh one from the bot's file (``path``). False when
        neither exists (expired, or erased). Shared: whether the bot's file is there."""
        if self.shared:
            return path is not None and await asyncio.to_thread(path.is_file)
        key = Keys.media(digest)
        if await self.redis.expire(key, self.media_ttl):
            return True
        try:
            data = await asyncio.to_thread(path.read_bytes) if path is not None else None
        except FileNotFoundError:
            data = None
        if data is None:
            return False
        await self.redis.set(key, data, ex=self.media_ttl)
        log.info("upload copied to redis again", extra={"bytes": len(data)})
        return True

    async def _intake(self, function: str, *args: str, timeout: float) -> Any:
        """Run an intake function on a worker and read its answer, which is then deleted
        (its record holds an upload hash or a transcript); None when none came in time."""
        job = await self.redis.enqueue_job(function, *args, _queue_name=INTAKE_QUEUE)
        if job is None:
            return None
        try:
            return await job.result(timeout=timeout, poll_delay=self._poll)
        except TimeoutError:
            log.warning("intake timed out", extra={"function": function})
            return None
        finally:
            await self.redis.delete(result_key_prefix + job.job_id)

    @busy_when_full
    async def check_media(self, kind: str, digest: str) -> MediaCheck | None:
        """Ask a worker to validate an upload; None when no answer came in time."""
        raw = await self._intake("check_media", kind, digest, timeout=self.intake_timeout)
        return MediaCheck.from_json(raw) if isinstance(raw, str) else None

    @busy_when_full
    async def transcribe(self, digest: str) -> str | None:
        """What a worker's speech recognition hears in a voice note (the consent phrase check);
        None when no worker answered in time or none has speech recognition."""
        text = await self._intake("transcribe", digest, timeout=self.intake_timeout * 3)
        return text if isinstance(text, str) else None

    @busy_when_full
    async def notify(self, platform: str, chat_id: str, text: str, job_id: str = "") -> None:
        """Have a worker send ``text`` to a chat (the bot process has no delivery of its own
        outside a conversation: an expired review's requester is told this way)."""
        await self.redis.enqueue_job(
            "notify", platform, chat_id, text, job_id, _queue_name=INTAKE_QUEUE
        )

    @busy_when_full
    async def erase(self, plan: ErasePlan) -> None:
        """Remove from Redis everything of an erasure: upload copies, the jobs' status and
        delivery records, arq's job and result records naming the jobs or uploads (scripts,
        hashes, transcripts), the person's fair-queue round; then leave tombstones (hashes
        only) so every worker removes its copies too."""
        keys = [k for d in plan.digests for k in (Keys.media(d), Keys.intake(d))]
        for job_id in plan.job_ids:
            keys += [Keys.job(job_id), Keys.delivered(job_id), Keys.arq_job(job_id)]
            keys.append(result_key_prefix + job_id)
        if plan.user is not None:
            keys.append(Keys.fair_user(plan.platform, plan.user))
        if keys:
            await self.redis.delete(*keys)
        if plan.job_ids:
            await self.redis.srem(Keys.ACTIVE, *plan.job_ids)  # type: ignore[misc]
        await self._erase_arq_records(plan)
        await self._tombstones((*plan.digests, *plan.job_ids))

    async def _erase_arq_records(self, plan: ErasePlan) -> None:
        """arq keeps each intake and render call (arguments, and a result for a while):
        delete those whose arguments name an erased upload or job, or the erased person."""
        needles = {*plan.digests, *plan.job_ids}
        for prefix, read in (
            (job_key_prefix, deserialize_job),
            (result_key_prefix, deserialize_result),
        ):
            async for key in self.redis.scan_iter(match=f"{prefix}*", count=500):
                raw = await self.redis.get(key)
                if raw is None:
                    continue
                try:
                    args = read(raw).args
                except DeserializationError:
                    continue
                if _names(args, needles, plan):
                    await self.redis.delete(key)

    async def _tombstones(self, refs: tuple[str, ...]) -> None:
        if not refs:
            return
        now = time.time()
        await self.redis.zadd(Keys.FORGOTTEN, {forget_token(r): now for r in refs})
        await self.redis.zremrangebyscore(Keys.FORGOTTEN, "-inf", now - self.tombstone_seconds)
        await self.redis.incr(Keys.FORGOTTEN_SEQ)

    @busy_when_full
    async def enqueue(self, job: RenderJob) -> bool:
        """Queue a render fairly; False when a job with this id is already queued or done."""
        key = Keys.job(job.job_id)
        fresh = await self.redis.hsetnx(key, "status", "queued")  # type: ignore[misc]
        if not fresh:
            return False
        routing = {
            "platform": job.platform,
            "chat_id": job.chat_id,
            "user_id": job.user_id,
            "chars": str(len(job.script)),
            "enqueued": f"{datetime.now(UTC).timestamp():.3f}",
        }
        await self.redis.hset(key, mapping={**JobStatus("queued").to_redis(), **routing})  # type: ignore[misc]
        await self.redis.expire(key, JOB_RECORDS_TTL)
        score = await fair_score(self.redis, job.platform, job.user_id)
        queued = await self.redis.enqueue_job(
            "render",
            job.to_json(),
            _job_id=job.job_id,
            _queue_name=RENDER_QUEUE,
            _defer_until=datetime.fromtimestamp(score / 1000, UTC),
            _expires=_JOB_TTL,
        )
        await self.redis.sadd(Keys.ACTIVE, job.job_id)  # type: ignore[misc]
        return queued is not None

    async def position(self, job_id: str) -> Position | None:
        """The job's place in line, or None when it is not waiting (running or gone)."""
        positions, _ = await queue_positions(self.redis)
        return positions.get(job_id)

    @busy_when_full
    async def cancel(self, job_id: str) -> str:
        """Cancel a job: "removed" (was queued), "stopping" (running), or its final status."""
        status = await self.status(job_id)
        if status is None:
            return "unknown"
        if status.status not in LIVE_STATES:
            return status.status
        await self.redis.set(Keys.cancel(job_id), b"1", ex=JOB_RECORDS_TTL)
        removed = await self.redis.eval(  # type: ignore[misc]
            _CANCEL_QUEUED,
            3,
            RENDER_QUEUE,
            Keys.arq_job(job_id),
            Keys.in_progress(job_id),
            job_id,
        )
        if removed:
            await self.redis.hset(Keys.job(job_id), mapping={"status": "cancelled"})  # type: ignore[misc]
            log.info("queued job cancelled", extra={"job_id": job_id})
            return "removed"
        log.info("running job asked to stop", extra={"job_id": job_id})
        return "stopping"

    async def status(self, job_id: str) -> JobStatus | None:
        raw = await self.redis.hgetall(Keys.job(job_id))  # type: ignore[misc]
        return JobStatus.from_redis(raw) if raw else None


def _names(args: tuple[Any, ...], needles: set[str], plan: ErasePlan) -> bool:
    """Whether a queued call's arguments name an erased upload or job (or, for a render,
    belong to the erased person)."""
    for arg in args:
        if not isinstance(arg, str):
            continue
        if arg in needles:
            return True
        if arg.startswith("{"):  # a render's payload
            try:
                data = json.loads(arg)
            except ValueError:
                continue
            if data.get("job_id") in needles or (
                plan.user is not None
                and (data.get("platform"), data.get("user_id")) == (plan.platform, plan.user)
            ):
                return True
    return False
