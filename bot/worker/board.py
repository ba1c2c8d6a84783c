"""The live status message of every job: position while queued, stage and ETA while running.

arq has no progress or position API, so the state lives in our own Redis keys
(:class:`bot.contract.jobs.Keys`): the rendering worker writes its stage and fraction into the job's
hash; the *board* turns that, plus the queue order, into one message per job that it posts
once and then edits. Each message is edited at most once per ``min_edit_seconds`` (Telegram
allows about one message a second per chat, Discord five edits per five seconds per message).

A batch (the jobs made from one file of several scripts, :attr:`RenderJob.batch`) has one
message for all its jobs ("Batch of 5 (...): 2 done, 1 rendering 40%, 2 queued") with one
Cancel for them all; its fields live in the batch's record (:meth:`Keys.batch`), and it stays
on the board until every job of the batch has ended.

One poster per job: every worker runs a board, and a job's message is posted or edited only
by the board holding the job's lock (:func:`renewed_lock`, renewed while a slow send is in
flight), so two workers never post the same status twice. Jobs are shown by separate tasks: a
slow or failing chat delays nobody else's status. A chat that keeps refusing (a user who
blocked the bot) is retried with a growing wait and given up after a few permanent errors.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from arq.connections import ArqRedis

from bot.contract import texts
from bot.contract.events import WEB_CHAT, ButtonSpec
from bot.contract.jobs import FINAL_STATES, JobRecord, JobState, Keys
from bot.contract.ports import Position
from bot.contract.texts import ordinal_place as ordinal
from bot.jobs.book import JobBook
from bot.jobs.fair import queue_positions
from bot.jobs.locks import renewed_lock
from bot.worker.delivery.http import DeliveryError

__all__ = [
    "StatusBoard",
    "Messenger",
    "Speed",
    "Backoff",
    "overall_fraction",
    "learn_speed",
    "ordinal",
]

log = logging.getLogger(__name__)

#: each stage's share of a render, for one overall percentage (video dominates)
_STAGE_SPAN = {
    "inputs": (0.0, 0.03),
    "speech": (0.03, 0.25),
    "video": (0.25, 0.97),
    "encode": (0.97, 1.0),
}
_EMA = 0.3  # weight of the newest render in the learned speed
_WORKER_FRESH = 30.0  # seconds: a worker that has not beaten its heart this long is gone


class Messenger(Protocol):
    """What the worker asks of a platform's delivery (bot.worker.delivery.telegram, .discord)."""

    async def send_status(
        self, chat_id: str, text: str, buttons: tuple[ButtonSpec, ...], *, user_id: str = ""
    ) -> str: ...

    async def edit_status(
        self,
        chat_id: str,
        message_id: str,
        text: str,
        buttons: tuple[ButtonSpec, ...],
        *,
        user_id: str = "",
    ) -> None: ...

    async def show_working(self, chat_id: str) -> bool:
        """Show that a video is being made (it fades after a few seconds); False when the
        platform has no such indicator, so the caller stops asking."""
        ...


def overall_fraction(stage: str, fraction: float) -> float:
    lo, hi = _STAGE_SPAN.get(stage, (0.0, 0.0))
    return lo + (hi - lo) * max(0.0, min(1.0, fraction))


def _minutes(seconds: float) -> str:
    """A human duration: "7 s", "40 s", "3 min"."""
    if seconds < 20:
        return f"{max(1, round(seconds)):.0f} s"
    if seconds < 90:
        return f"{round(seconds / 10) * 10:.0f} s"
    return f"{seconds / 60:.0f} min"


@dataclass(frozen=True)
class Speed:
    """Learned render speed: seconds per script character, per worker and overall."""

    per_worker: dict[str, float]
    overall: float | None

    def for_worker(self, worker: str) -> float | None:
        return self.per_worker.get(worker, self.overall)


async def learn_speed(redis: ArqRedis, worker: str, chars: int, seconds: float) -> None:
    """Fold one finished render into the worker's and the overall moving average."""
    if chars <= 0 or seconds <= 0:
        return
    sample = seconds / chars
    for field in (f"{worker}:spc", "spc"):
        old = await redis.hget(Keys.STATS, field)  # type: ignore[misc]
        value = sample if old is None else (1 - _EMA) * float(old) + _EMA * sample
        await redis.hset(Keys.STATS, field, f"{value:.6f}")  # type: ignore[misc]


async def read_speed(redis: ArqRedis) -> Speed:
    raw = await redis.hgetall(Keys.STATS)  # type: ignore[misc]
    d = {_s(k): float(_s(v)) for k, v in raw.items()}
    per = {k.removesuffix(":spc"): v for k, v in d.items() if k.endswith(":spc")}
    return Speed(per, d.get("spc"))


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


@dataclass(frozen=True)
class Backoff:
    """Waits between failed sends of one job's status message, and when to stop trying."""

    first: float = 5.0  # seconds after the first failure; doubled after each further one
    most: float = 600.0
    give_up_after: int = 5  # permanent errors (blocked bot, no access) without a success

    def wait(self, failures: int) -> float:
        return min(self.most, self.first * 2 ** max(0, failures - 1))


#: a batch's key among the messages a pass shows (and in its status lock's name)
_BATCH_KEY = "batch:"
#: which count of a batch's message each job state adds to (the rest: "failed")
_BATCH_PART = {
    JobState.QUEUED: "queued",
    JobState.RUNNING: "running",
    JobState.DELIVERING: "running",
    JobState.RETRYING: "retrying",
    JobState.DONE: "done",
    JobState.CANCELLED: "cancelled",
}


@dataclass(frozen=True)
class _Message:
    """One status message: a lone job's (its fields in the job's record) or a batch's (in
    the batch's record), and the board entries it stands for (dropped once it is final)."""

    job_id: str = ""
    batch: str = ""
    members: tuple[str, ...] = ()

    @property
    def cancel(self) -> ButtonSpec:
        if self.batch:
            return ButtonSpec(texts.CANCEL_BATCH_BUTTON, "cancel_batch", self.batch)
        return ButtonSpec(texts.CANCEL_JOB_BUTTON, "cancel_job", self.job_id)


class StatusBoard:
    """Posts and edits each active job's status message. Call :meth:`tick` every second or so,
    and :meth:`close` at the end."""

    def __init__(
        self,
        redis: ArqRedis,
        messengers: dict[str, Messenger],
        *,
        name: str,
        min_edit_seconds: float = 3.0,
        backoff: Backoff | None = None,
        lock_seconds: float = 15.0,
        pass_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.messengers = messengers
        self.name = name
        self.min_edit_seconds = min_edit_seconds
        self.backoff = backoff or Backoff()
        self.lock_seconds = lock_seconds
        self.pass_seconds = pass_seconds
        self.clock = clock
        self.book = JobBook(redis)
        self._inflight: dict[str, asyncio.Task[int]] = {}

    async def beat(self) -> None:
        """Say this worker is alive (for the ETA's worker count)."""
        await self.redis.hset(Keys.WORKERS, self.name, f"{time.time():.0f}")  # type: ignore[misc]

    async def live_workers(self) -> int:
        raw = await self.redis.hgetall(Keys.WORKERS)  # type: ignore[misc]
        now = time.time()
        return sum(1 for v in raw.values() if now - float(_s(v)) < _WORKER_FRESH) or 1

    async def tick(self) -> int:
        """One pass over the active jobs; returns how many messages were sent or edited.

        Each job is shown by its own task under its lock; the pass waits up to
        ``pass_seconds`` for them. A task still sending (a slow chat) keeps running and its
        job is skipped by later passes until it is done."""
        members = await self.redis.smembers(Keys.ACTIVE)  # type: ignore[misc]
        active = list(map(_s, members))
        batch_of = await self._batch_of(active)
        shown: dict[str, list[str]] = {}  # each message's key -> the entries it stands for
        for job_id in active:
            batch = batch_of.get(job_id, "")
            shown.setdefault(_BATCH_KEY + batch if batch else job_id, []).append(job_id)
        keys = [k for k in shown if k not in self._inflight]
        if not keys:
            return 0
        positions, _ = await queue_positions(self.redis)
        speed = await read_speed(self.redis)
        workers = await self.live_workers()
        started = []
        for key in keys:
            if key.startswith(_BATCH_KEY):
                show = self._batch(key.removeprefix(_BATCH_KEY), tuple(shown[key]))
            else:
                show = self._job(key, positions.get(key), speed, workers)
            task = asyncio.create_task(show)
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._finished, key))
            started.append(task)
        done, _ = await asyncio.wait(started, timeout=self.pass_seconds)
        return sum(t.result() for t in done if not t.cancelled() and t.exception() is None)

    async def _batch_of(self, jobs: list[str]) -> dict[str, str]:
        """The batch of each job that has one (one round trip for them all)."""
        if not jobs:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in jobs:
                pipe.hget(Keys.job(job_id), "batch")
            found = await pipe.execute()
        return {j: _s(b) for j, b in zip(jobs, found, strict=True) if b}

    def _finished(self, job_id: str, task: asyncio.Task[int]) -> None:
        self._inflight.pop(job_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "status message task failed", exc_info=task.exception(), extra={"job_id": job_id}
            )

    async def close(self) -> None:
        """Stop the sends still in flight (their locks are released)."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _job(self, job_id: str, position: Position | None, speed: Speed, workers: int) -> int:
        async with renewed_lock(self.redis, Keys.status_lock(job_id), self.lock_seconds) as mine:
            if not mine:
                return 0  # another worker's board is showing it right now
            record = await self.book.read(job_id)  # read under the lock: current
            if (
                record is None
                or record.platform not in self.messengers
                or record.chat_id == WEB_CHAT  # the studio's page shows it, not a message
            ):
                await self.redis.srem(Keys.ACTIVE, job_id)  # type: ignore[misc]
                return 0
            text, final = self.describe(job_id, record, position, speed, workers)
            return await self._show(_Message(job_id=job_id, members=(job_id,)), record, text, final)

    async def _batch(self, batch: str, active: tuple[str, ...]) -> int:
        """Show a batch's one message (``active``: its jobs this pass found on the board)."""
        key = Keys.status_lock(_BATCH_KEY + batch)
        async with renewed_lock(self.redis, key, self.lock_seconds) as mine:
            if not mine:
                return 0
            found = await self.book.read_batch(batch)
            record, ids = found if found is not None else (None, [])
            jobs = [r for r in [await self.book.read(j) for j in ids] if r is not None]
            if (
                record is None
                or not jobs
                or record.platform not in self.messengers
                or record.chat_id == WEB_CHAT
            ):
                await self.redis.srem(Keys.ACTIVE, *active, *ids)  # type: ignore[misc]
                return 0
            text, final = self.describe_batch(batch, jobs, record.batch_size)
            message = _Message(batch=batch, members=(*active, *ids))
            return await self._show(message, record, text, final)

    def describe_batch(self, batch: str, jobs: list[JobRecord], size: int = 0) -> tuple[str, bool]:
        """A batch's status message ("2 done, 1 rendering 40%, 2 queued, 2 not queued yet"),
        and whether every job of it queued so far has ended. ``size``: the batch's scripts,
        the ones a limit holds back (not queued yet) among them: while some are, the message
        never says the batch is done (the board shows it again as they are queued)."""
        counts: dict[str, int] = {}
        waiting = max(0, size - len(jobs))
        if waiting:
            counts["waiting"] = waiting
        percents: list[str] = []
        for record in jobs:
            part = _BATCH_PART.get(record.state, "failed")
            if part == "running":
                percents.append(f"{int(overall_fraction(record.stage, record.fraction) * 100)}%")
            counts[part] = counts.get(part, 0) + 1
        parts = ", ".join(
            template.format(n=counts[part], percent=" · ".join(percents))
            for part, template in texts.BATCH_PARTS.items()
            if counts.get(part)
        )
        final = all(record.state in FINAL_STATES for record in jobs)
        template = texts.STATUS_BATCH
        if final and not waiting:
            all_done = counts.get("done", 0) == len(jobs)
            template = texts.STATUS_BATCH_DONE if all_done else texts.STATUS_BATCH_ENDED
        count = len(jobs) + waiting
        return template.format(batch=batch[:8], count=count, parts=parts), final

    def describe(
        self,
        job_id: str,
        record: JobRecord,
        position: Position | None,
        speed: Speed,
        workers: int,
    ) -> tuple[str, bool]:
        """The status message's text for the job's state, and whether that state is final."""
        job, state, chars = job_id[:8], record.state, record.chars
        if state == JobState.QUEUED and position is not None:
            eta = ""
            if speed.overall is not None:
                wait = (position.ahead + position.running) * speed.overall * max(chars, 1) / workers
                eta = f", about {_minutes(wait + speed.overall * chars)} until it is done"
            return texts.STATUS_QUEUED.format(
                job=job, place=ordinal(position.ahead + 1), eta=eta
            ), False
        if state in (JobState.RUNNING, JobState.DELIVERING):
            done = overall_fraction(record.stage, record.fraction)
            elapsed = time.time() - (record.started or time.time())
            per_char = speed.for_worker(record.worker)
            eta = ""
            if done >= 0.1:
                eta = f", about {_minutes(elapsed * (1 - done) / done)} left"
            elif per_char is not None:
                eta = f", about {_minutes(max(0.0, per_char * chars - elapsed))} left"
            stage = texts.STAGE_NAMES.get(record.stage, "starting")
            return texts.STATUS_RUNNING.format(
                job=job, stage=stage, percent=int(done * 100), eta=eta
            ), False
        if state == JobState.RETRYING:
            return texts.STATUS_RETRYING.format(job=job, attempt=record.attempt or 2), False
        if state == JobState.DONE:
            took = record.finished - record.enqueued
            return texts.STATUS_DONE.format(job=job, took=_minutes(max(took, 1.0))), True
        if state == JobState.CANCELLED:
            return texts.STATUS_CANCELLED.format(job=job), True
        if state in FINAL_STATES:
            return texts.STATUS_FAILED.format(
                job=job, reason=record.error or texts.FAILED_GENERIC
            ), True
        return texts.STATUS_QUEUED.format(job=job, place="waiting", eta=""), False

    async def _show(self, msg: _Message, record: JobRecord, text: str, final: bool) -> int:
        now = self.clock()
        if record.msg_text == text:
            if final:
                await self.redis.srem(Keys.ACTIVE, *msg.members)  # type: ignore[misc]
            return 0
        if now < record.msg_retry_at:
            return 0  # backing off after failures
        if now - record.msg_at < self.min_edit_seconds:
            return 0  # the platform's edit rate: the next pass shows the newest state
        buttons = () if final else (msg.cancel,)
        messenger = self.messengers[record.platform]
        chat, user, msg_id = record.chat_id, record.user_id, record.msg_id
        try:
            if msg_id:
                await messenger.edit_status(chat, msg_id, text, buttons, user_id=user)
            else:
                msg_id = await messenger.send_status(chat, text, buttons, user_id=user)
        except DeliveryError as e:
            await self._failed(msg, record, e)
            return 0
        await self._note(msg, msg_id=msg_id, msg_text=text, msg_at=self.clock())
        await self._forget(msg, "msg_fails", "msg_permanent", "msg_retry_at")
        if final:
            await self.redis.srem(Keys.ACTIVE, *msg.members)  # type: ignore[misc]
        return 1

    async def _failed(self, msg: _Message, record: JobRecord, error: DeliveryError) -> None:
        """Back off; after ``give_up_after`` permanent errors without a success, stop showing
        this job (the chat refuses us: a blocked bot, lost access)."""
        fails = record.msg_fails + 1
        permanent = record.msg_permanent + (0 if error.retryable else 1)
        if not error.retryable:  # the message may be gone: post a fresh one next time
            await self._forget(msg, "msg_id")
        await self._note(
            msg,
            msg_fails=fails,
            msg_permanent=permanent,
            msg_retry_at=self.clock() + self.backoff.wait(fails),
        )
        extra = {"job_id": msg.job_id or msg.batch, "error": str(error), "failures": fails}
        if permanent >= self.backoff.give_up_after:
            await self.redis.srem(Keys.ACTIVE, *msg.members)  # type: ignore[misc]
            await self._note(msg, msg_gave_up=True)
            log.warning("status message given up", extra=extra)
        else:
            log.warning("status message failed", extra=extra)

    async def _note(self, msg: _Message, **fields: Any) -> None:
        if msg.batch:
            await self.book.note_batch(msg.batch, **fields)
        else:
            await self.book.note(msg.job_id, **fields)

    async def _forget(self, msg: _Message, *names: str) -> None:
        if msg.batch:
            await self.book.forget_batch_fields(msg.batch, *names)
        else:
            await self.book.forget_fields(msg.job_id, *names)
