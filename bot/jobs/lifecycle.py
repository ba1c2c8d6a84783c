"""The job lifecycle in the bot process: submit, approve, cancel, follow, reconcile.

One owner for every job's life. The worker reports what happens to a job as moves of its
live record (:class:`bot.jobs.book.JobBook`, the transition table in Redis); this class is
the only writer of the job history in the store, and applies those moves to it in order,
once each, through the same table (:meth:`Lifecycle.follow`). Nothing else reads Redis to
patch the store ("lazy syncs" are gone).

Submit cannot lie: the store records the job (counting the limits in one transaction), the
queue takes it (one Redis transaction, :class:`bot.jobs.queue.RenderQueue`), and only then
is the person told "Queued". When Redis refuses, the store's row is removed and the person
hears "busy, try later", draft kept. A crash between the two leaves a row the queue does not
hold: :meth:`Lifecycle.reconcile` (every minute) queues it, or fails it with the person told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.contract import texts
from bot.contract.errors import Busy
from bot.contract.jobs import (
    CLOSED_STATES,
    CancelOutcome,
    IllegalTransition,
    JobRecord,
    JobState,
    RenderJob,
)
from bot.contract.ports import (
    JobEvent,
    JobQueue,
    JobStore,
    LiveJob,
    MediaSupply,
    Position,
    Verification,
    posted_in,
)

__all__ = ["Lifecycle", "Submitted", "Reconciled", "Notify"]

log = logging.getLogger(__name__)

Notify = Callable[[str, str, str, str], Awaitable[None]]  # platform, chat, text, job id
#: a job younger than this may still be between the store and the queue (a submit running)
SUBMIT_GRACE = 60.0


@dataclass(frozen=True)
class Submitted:
    """A submit's outcome: whether this call recorded the job (False: it existed already)
    and its place in line (None: starting now, or held for review)."""

    added: bool
    position: Position | None


@dataclass(frozen=True)
class Reconciled:
    """What a reconcile pass did."""

    requeued: int = 0
    failed: int = 0
    closed: int = 0


class Lifecycle:
    """Submit, approve, cancel, follow the workers' reports, reconcile. Collaborators are
    passed in: the store's job history, the render queue, the uploads, a way to tell a chat."""

    def __init__(
        self,
        history: JobStore,
        queue: JobQueue,
        uploads: MediaSupply,
        notify: Notify,
        *,
        consumer: str = "",
    ) -> None:
        self.history = history
        self.queue = queue
        self.uploads = uploads
        self.notify = notify
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._applying = asyncio.Lock()  # one reader of the stream per process: in order

    # ---- submit ------------------------------------------------------------------------
    async def submit(
        self,
        job: RenderJob,
        guild_id: str | None,
        consent_mode: str,
        *,
        limits: Any,
        state: JobState,
        verified: Verification | None,
    ) -> Submitted:
        """Record the job, then queue it (``state`` queued) or hold it (``review``).
        Raises :class:`~bot.safety.policy.LimitExceeded` (nothing recorded) and
        :class:`~bot.contract.errors.Busy` (Redis refused: the record is removed again)."""
        added = await self.history.add(
            job, guild_id, consent_mode, limits=limits, status=state, verified=verified
        )
        if state == JobState.REVIEW:
            return Submitted(added, None)
        if not added and await self.history.state(job.job_id) != JobState.QUEUED:
            return Submitted(False, await self.queue.position(job.job_id))
        try:
            await self.queue.enqueue(job)
        except Busy:
            if added:
                await self.history.remove(job.job_id)  # as if never asked: nothing to run
            raise
        return Submitted(added, await self.queue.position(job.job_id))

    async def approve(self, job: RenderJob) -> None:
        """A moderator approved a review (the store already says queued): queue it. When
        Redis refuses now, the reconciler queues it later."""
        try:
            await self.queue.enqueue(job)
        except Busy:
            log.warning("approved job not queued yet", extra={"job_id": job.job_id})

    # ---- cancel ------------------------------------------------------------------------
    async def cancel(self, job_id: str) -> CancelOutcome:
        """Cancel a job: out of the queue (``removed``), or its worker asked to stop
        (``stopping``). A job the store holds as live but Redis does not know is cancelled
        in the store, so the reconciler never queues it again."""
        outcome = await self.queue.cancel(job_id)
        if outcome == CancelOutcome.REMOVED:
            await self.history.move(job_id, JobState.CANCELLED)
        elif outcome == CancelOutcome.UNKNOWN and await self.history.move(
            job_id, JobState.CANCELLED
        ):
            return CancelOutcome.REMOVED
        return outcome

    # ---- the workers' reports, applied to the store ------------------------------------
    async def catch_up(self) -> int:
        """Apply every report not applied yet, now (before counting limits or answering
        /status: the store then knows what the workers finished a moment ago)."""
        applied = 0
        try:
            while (n := await self.follow_once(block_ms=0)) > 0:
                applied += n
        except Busy:  # Redis full or away: the follower applies them later
            log.warning("job reports not applied now: redis busy")
        return applied

    async def follow_once(self, block_ms: int = 1000) -> int:
        """Apply the next state changes from the job-events stream to the store (each
        acknowledged once applied, so a crash re-applies it: moves are idempotent). Waits
        up to ``block_ms`` for one (0: does not wait)."""
        async with self._applying:
            return await self._apply(await self.queue.events(self.consumer, block_ms))

    async def _apply(self, events: list[JobEvent]) -> int:
        for event in events:
            moved = await self.history.move(
                event.job_id,
                event.to,
                error=event.error,
                output_bytes=event.output_bytes,
                timings=event.seconds,
            )
            if not moved:
                log.debug("event not applied", extra={"job_id": event.job_id, "to": event.to})
            if event.to in CLOSED_STATES:  # its messages in the chat, for a takedown later
                record = await self.queue.record(event.job_id)
                if record is not None:
                    await self.history.keep_posted(event.job_id, posted_in(record))
        if events:
            await self.queue.ack(*(e.id for e in events))
        return len(events)

    async def follow(self, *, idle: float = 1.0) -> None:
        """Apply the workers' reports until cancelled; rides out Redis outages."""
        failures = 0
        while True:
            try:
                await self.follow_once(int(idle * 1000))
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("job events not applied; retrying")
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))

    # ---- reconcile ---------------------------------------------------------------------
    async def reconcile(self, *, now: float | None = None) -> Reconciled:
        """Every job the store holds as live is in Redis's hands, or is made so: a closed
        record is applied, a job the queue lost is queued again (when it had not started
        and its uploads are still there) or failed with its owner told."""
        now = time.time() if now is None else now
        requeued = failed = closed = 0
        for live in await self.history.live(created_before=now - SUBMIT_GRACE):
            job = live.job
            record = await self.queue.record(job.job_id)
            if record is not None and record.state in CLOSED_STATES:
                await self.history.move(
                    job.job_id,
                    record.state,
                    error=record.error,
                    output_bytes=record.output_bytes,
                    timings=record.seconds,
                )
                await self.history.keep_posted(job.job_id, posted_in(record))
                closed += 1
                continue
            if await self.queue.holds(job.job_id):
                continue
            if await self.queue.cancel_requested(job.job_id):
                await self._close(job, JobState.CANCELLED, "")
                closed += 1
                continue
            if await self._requeue(live, record):
                requeued += 1
                continue
            await self._close(job, JobState.FAILED, texts.JOB_LOST)
            await self.notify(
                job.platform,
                job.chat_id,
                texts.JOB_LOST_NOTICE.format(job=job.job_id[:8]),
                job.job_id,
            )
            failed += 1
        return Reconciled(requeued, failed, closed)

    async def _requeue(self, live: LiveJob, record: JobRecord | None) -> bool:
        """Queue again a job the queue lost before any worker started it (its uploads still
        there); False when it had started, or cannot be."""
        never_started = record is None or record.state == JobState.QUEUED
        if live.state != JobState.QUEUED or not never_started:
            return False
        if await self.uploads.supply(live.job) is not None:
            return False
        if not await self.queue.enqueue(live.job):
            return False
        log.warning("lost job queued again", extra={"job_id": live.job.job_id})
        return True

    async def _close(self, job: RenderJob, to: JobState, error: str) -> None:
        # the record may have moved on by itself; the store follows the table either way
        with contextlib.suppress(IllegalTransition):
            await self.queue.move(job.job_id, to, error=error, finished=time.time())
        await self.history.move(job.job_id, to, error=error)
