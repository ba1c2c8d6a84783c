"""The render queue: a job goes in whole or not at all, comes out by cancel, and has a
place in line.

The enqueue is one Redis transaction (``MULTI``/``EXEC``): arq's job record (JSON), the
job's place in the fair queue, its live record (``queued``) and its entry on the status
board (for a batch's job, also its place in the batch the board shows as one). Redis at
``maxmemory`` refuses such a transaction whole, so a refusal leaves nothing behind: no
record that says "queued" for a job no worker will ever see.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from arq.connections import ArqRedis
from arq.jobs import serialize_job
from redis.exceptions import WatchError

from bot.contract.jobs import (
    CLOSED_STATES,
    LIVE_STATES,
    RENDER_QUEUE,
    TASK_RENDER,
    CancelOutcome,
    JobState,
    Keys,
    RenderJob,
)
from bot.contract.ports import Position
from bot.jobs.book import JobBook
from bot.jobs.fair import fair_score, queue_positions
from bot.jobs.redis import busy_when_full, dumps

__all__ = ["RenderQueue", "JOB_EXPIRES"]

log = logging.getLogger(__name__)

#: arq drops a queued job no worker started within this
JOB_EXPIRES = timedelta(days=2)

# KEYS: queue, arq job key, in-progress key. Removes a job that has not started.
_CANCEL_QUEUED = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return removed
"""


class RenderQueue:
    """Enqueue, cancel and place in line, over one arq pool; states through the book."""

    def __init__(self, redis: ArqRedis, book: JobBook | None = None) -> None:
        self.redis = redis
        self.book = book or JobBook(redis)

    @busy_when_full
    async def enqueue(self, job: RenderJob) -> bool:
        """Queue a render fairly, atomically. True when it is queued now; False when the
        queue already holds it, or its record says it is closed. Raises
        :class:`~bot.contract.errors.Busy` (Redis full or unreachable) with nothing written."""
        job_key, record_key = Keys.arq_job(job.job_id), Keys.job(job.job_id)
        score = await fair_score(self.redis, job)
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(job_key, record_key)
            if await pipe.exists(job_key):
                return False
            state = await pipe.hget(record_key, "status")  # type: ignore[misc]
            if state is not None and state.decode() in CLOSED_STATES:
                return False
            now_ms = int(time.time() * 1000)
            payload = serialize_job(
                TASK_RENDER, (job.to_json(),), {}, None, now_ms, serializer=dumps
            )
            pipe.multi()
            pipe.psetex(job_key, int(JOB_EXPIRES.total_seconds() * 1000), payload)
            pipe.zadd(RENDER_QUEUE, {job.job_id: score})
            pipe.delete(record_key)
            pipe.hset(record_key, mapping=self.book.opening(job))
            pipe.expire(record_key, self.book.ttl)
            pipe.sadd(Keys.ACTIVE, job.job_id)
            if job.batch:  # its batch's one status message shows it (bot.worker.board)
                batch = Keys.batch(job.batch)
                pipe.hset(batch, mapping=self.book.batch_opening(job))
                pipe.expire(batch, self.book.ttl)
                pipe.sadd(Keys.batch_jobs(job.batch), job.job_id)
                pipe.expire(Keys.batch_jobs(job.batch), self.book.ttl)
            try:
                await pipe.execute()
            except WatchError:  # someone queued or closed it meanwhile
                return False
        log.info("job queued", extra={"job_id": job.job_id, "platform": job.platform})
        return True

    async def holds(self, job_id: str) -> bool:
        """Whether arq still has the job (queued, deferred for a retry, or running)."""
        return bool(await self.redis.exists(Keys.arq_job(job_id), Keys.in_progress(job_id)))

    async def position(self, job_id: str) -> Position | None:
        """The job's place in line, or None when it is not waiting (running or gone)."""
        positions, _ = await queue_positions(self.redis)
        return positions.get(job_id)

    @busy_when_full
    async def cancel(self, job_id: str) -> CancelOutcome:
        """Take a waiting job out of the queue (``removed``: cancelled now), or ask its worker
        to stop (``stopping``: the worker moves it to cancelled at its next frame batch)."""
        record = await self.book.read(job_id)
        if record is None:
            return CancelOutcome.UNKNOWN
        if record.state not in LIVE_STATES:
            return CancelOutcome.CLOSED
        await self.redis.set(Keys.cancel(job_id), b"1", ex=self.book.ttl)
        removed = await self.redis.eval(  # type: ignore[misc]
            _CANCEL_QUEUED,
            3,
            RENDER_QUEUE,
            Keys.arq_job(job_id),
            Keys.in_progress(job_id),
            job_id,
        )
        # not taken out of the queue and no worker on it: the queue had lost it, nothing runs
        if removed or not await self.redis.exists(Keys.in_progress(job_id)):
            await self.book.move(job_id, JobState.CANCELLED, finished=time.time())
            log.info("queued job cancelled", extra={"job_id": job_id})
            return CancelOutcome.REMOVED
        log.info("running job asked to stop", extra={"job_id": job_id})
        return CancelOutcome.STOPPING
