"""The job book: the one writer of every job's live record in Redis.

Every state change goes through :meth:`JobBook.move`, which applies the transition table
(:data:`bot.contract.jobs.TRANSITIONS`) atomically in Redis: it reads the state, refuses a
move the table does not allow, writes the new state with its fields and appends the change
to the job-events stream, all in one script. The bot's :class:`bot.jobs.lifecycle.Lifecycle`
applies those events to the store, in order, once each (the store is the history; Redis
holds the live record). Progress and the status message's bookkeeping are notes
(:meth:`JobBook.note`): they never change the state.

A job whose record is gone (erased, or expired after a week) is never brought back by a late
writer: moves and notes write only where a record exists.
"""

from __future__ import annotations

import time
from typing import Any

from arq.connections import ArqRedis

from bot.contract.jobs import (
    JOB_RECORDS_TTL,
    IllegalTransition,
    JobRecord,
    JobState,
    Keys,
    RenderJob,
    predecessors,
)

__all__ = ["JobBook", "EVENTS_KEPT"]

#: how many state changes the events stream keeps (the bot applies them within seconds)
EVENTS_KEPT = 100_000

# KEYS: the record, the events stream. ARGV: new state, ",allowed,previous,states,", ttl,
# job id, events kept, then field/value pairs. Returns {1, was} (moved), {0, ''} (no record:
# nothing written), {-1, was} (not allowed: nothing written).
_MOVE = """
local was = redis.call('HGET', KEYS[1], 'status')
if not was then return {0, ''} end
if not string.find(ARGV[2], ',' .. was .. ',', 1, true) then return {-1, was} end
local fields = {'status', ARGV[1]}
local event = {'job', ARGV[4], 'from', was, 'to', ARGV[1]}
for i = 6, #ARGV, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  if ARGV[i] == 'error' or ARGV[i] == 'output_bytes' or ARGV[i] == 'seconds' then
    event[#event + 1] = ARGV[i]
    event[#event + 1] = ARGV[i + 1]
  end
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', unpack(event))
return {1, was}
"""
# KEYS: the record. ARGV: ttl, then field/value pairs. Writes only where the record exists.
_NOTE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


class JobBook:
    """Reads and writes job records (:class:`~bot.contract.jobs.JobRecord`) in Redis."""

    def __init__(self, redis: ArqRedis, *, ttl: int = JOB_RECORDS_TTL) -> None:
        self.redis = redis
        self.ttl = ttl

    async def read(self, job_id: str) -> JobRecord | None:
        raw = await self.redis.hgetall(Keys.job(job_id))  # type: ignore[misc]
        return JobRecord.from_redis(raw) if raw else None

    def opening(self, job: RenderJob) -> dict[str, str]:
        """The first fields of a queued job's record (written inside the enqueue)."""
        return JobRecord(
            state=JobState.QUEUED,
            platform=job.platform,
            chat_id=job.chat_id,
            user_id=job.user_id,
            chars=len(job.script),
            enqueued=time.time(),
            batch=job.batch,
        ).to_redis()

    def batch_opening(self, job: RenderJob) -> dict[str, str]:
        """The routing fields of a batch's record (written with each of its jobs' enqueue;
        its status message's fields are left as they are)."""
        return JobRecord.encode(
            platform=job.platform,
            chat_id=job.chat_id,
            user_id=job.user_id,
            batch_size=job.batch_size,
        )

    async def read_batch(self, batch: str) -> tuple[JobRecord, list[str]] | None:
        """A batch's record (its routing and status message fields, in a JobRecord's shape)
        and its jobs' ids, sorted; None when the batch has no record (erased, expired)."""
        raw = await self.redis.hgetall(Keys.batch(batch))  # type: ignore[misc]
        if not raw:
            return None
        members = await self.redis.smembers(Keys.batch_jobs(batch))  # type: ignore[misc]
        ids = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
        return JobRecord.from_redis(raw), ids

    async def move(self, job_id: str, to: JobState, **fields: Any) -> JobState | None:
        """Move the job to ``to`` with ``fields`` (JobRecord attributes); returns the state it
        left, or None when the job has no record (nothing written). Raises
        :class:`~bot.contract.jobs.IllegalTransition` for a move the table refuses."""
        allowed = "," + ",".join(s.value for s in predecessors(to)) + ","
        pairs = [x for kv in JobRecord.encode(**fields).items() for x in kv]
        moved, was = await self.redis.eval(  # type: ignore[misc]
            _MOVE,
            2,
            Keys.job(job_id),
            Keys.JOB_EVENTS,
            to.value,
            allowed,
            str(self.ttl),
            job_id,
            str(EVENTS_KEPT),
            *pairs,
        )
        was_text = was.decode() if isinstance(was, bytes) else str(was)
        if moved == 0:
            return None
        if moved < 0:
            raise IllegalTransition(job_id, was_text, to)
        return JobState(was_text)

    async def note(self, job_id: str, **fields: Any) -> bool:
        """Progress or status-message fields; never the state. False: no record."""
        return await self._note(Keys.job(job_id), fields)

    async def note_batch(self, batch: str, **fields: Any) -> bool:
        """A batch's status-message fields. False: the batch has no record."""
        return await self._note(Keys.batch(batch), fields)

    async def _note(self, key: str, fields: dict[str, Any]) -> bool:
        if "state" in fields:
            raise TypeError("a state changes only through JobBook.move")
        pairs = [x for kv in JobRecord.encode(**fields).items() for x in kv]
        return bool(await self.redis.eval(_NOTE, 1, key, str(self.ttl), *pairs))  # type: ignore[misc]

    async def forget_fields(self, job_id: str, *names: str) -> None:
        """Clear status-message fields (back to their defaults)."""
        await self._forget(Keys.job(job_id), names)

    async def forget_batch_fields(self, batch: str, *names: str) -> None:
        """Clear a batch's status-message fields."""
        await self._forget(Keys.batch(batch), names)

    async def _forget(self, key: str, names: tuple[str, ...]) -> None:
        stored = [next(iter(JobRecord.encode(**{n: ""}))) for n in names]
        await self.redis.hdel(key, *stored)  # type: ignore[misc]
