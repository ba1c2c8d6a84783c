"""The render task: one job from the queue to the chat, reporting every state change
through the job book (the transition table) and sending under the delivery claim.

Crash recovery: arq marks a started job "in progress" for its whole timeout, so a job whose
worker was killed would wait hours before another worker may run it. Here the render keeps
that marker alive with a heartbeat of ``heartbeat_seconds`` instead: once a worker dies, the
marker expires within that bound and the next worker polling the queue runs the job again.
The heartbeat and the cancel watcher ride out Redis errors (retrying with backoff); when the
marker lapsed meanwhile and another worker has taken the job, this one gives the render up
without writing anything, and the delivery claim (:mod:`bot.jobs.delivery`) still decides
who sends. A re-run that finds the video delivered only finishes the bookkeeping, and one
that finds the rendered file skips rendering.

Preview: a job whose script is long enough (:func:`preview_of`) first renders its opening, a
sentence of about ``MOUTHPIECE_PREVIEW_SECONDS``, with the same photo, voice, transcript, seed
and options (the same label, marks and job id; its MP4 is titled as the preview), and sends it
while the full video renders: the preview delays the full render by its own render time only.
It is best effort and at most once: a failed render or send is logged and the full video goes
on; the send is claimed in Redis (:meth:`Keys.preview`) before it starts and never repeated by a
re-run; no preview once the full video is rendered or any of its delivery has begun. A cancel
during the preview stops the job as a cancel does. The file, ``.<job>.preview.mp4`` beside the
video (found by an erasure as the job's), is deleted once sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arq import Retry
from redis.exceptions import RedisError

from bot.contract import texts
from bot.contract.events import WEB_CHAT
from bot.contract.jobs import (
    DeliveryMark,
    IllegalTransition,
    JobState,
    Keys,
    RenderJob,
    forget_token,
)
from bot.conversation.flow import script_language, speech_seconds
from bot.jobs.delivery import Claim, mark_of, sending_for
from bot.jobs.fair import mark_round_started
from bot.safety.erasure import remove_job_files
from bot.settings import BotSettings
from bot.worker.board import learn_speed, overall_fraction
from bot.worker.context import WorkerContext, context
from bot.worker.delivery.http import DeliveryError
from bot.worker.intake import drop_fetched, media_file, photo_intake
from bot.worker.outbox import (
    AlreadySent,
    SomeoneSending,
    claim_preview,
    deliver_once,
    preview_failed,
    preview_wanted,
    send_preview,
    tell,
)
from engine import Engine, InvalidInput, RenderOptions, RenderRequest
from engine.errors import Cancelled, TransientError
from engine.types import Progress, RenderResult
from spoken_text import opening
from spoken_text.languages import LANGUAGES

__all__ = ["render", "job_timeout", "preview_of", "preview_path", "RUN_GRACE", "PREVIEW_STAGE"]

log = logging.getLogger(__name__)
#: arq's own limit on one run: the render's timeout (at most render_timeout_max) must fire
#: first, so the user is told; delivery and bookkeeping come after it
RUN_GRACE = 600.0
#: the job's stage (its record, the status board) while its preview renders
PREVIEW_STAGE = "preview"
#: once the full video is rendered, its delivery waits this long for the preview's send (so
#: the preview comes first), then cuts that send off
PREVIEW_SEND_WAIT = 60.0


class _LeaseLost(Exception):
    """The in-progress marker lapsed and another worker holds the job now: give it up."""


class _TimedOut(TimeoutError):
    """The render ran past ``limit`` seconds (its :func:`job_timeout`, estimated once)."""

    def __init__(self, limit: float) -> None:
        super().__init__(f"render took longer than {limit:.0f} s")
        self.limit = limit


def job_timeout(
    engine: Engine, script: str, settings: BotSettings, preview: str = "", language: str = ""
) -> float:
    """Seconds a render of ``script`` may take: sized from its length, not a fixed number.

    Speech length is the conversation's own estimate (:func:`bot.conversation.flow.speech_seconds`,
    the one the script limit uses), counted on the script as spoken: numbers and symbols
    written out as words, so a script of digits gets the time its words take. The lip-sync
    backend's estimate (measured on this machine where it can) covers the frames, and the
    speech stage is allowed as long as the speech itself. Three times that, plus a floor.

    With ``preview`` (the opening rendered first), the time a job of the preview alone would
    get is added: both renders of the job together stay within ``render_timeout_max``.
    ``language``: the job's (its speaking rate; "": detected).
    """
    total = _allowance(engine, script, settings, language)
    if preview:
        total += _allowance(engine, preview, settings, language)
    return min(settings.render_timeout_max, total)


def _allowance(engine: Engine, script: str, settings: BotSettings, language: str = "") -> float:
    options = RenderOptions()
    speech = max(1.0, speech_seconds(script, language))
    frames = math.ceil((speech + options.tail_seconds) * options.fps)
    lipsync = engine.lipsync.estimate_seconds(frames, options) or speech * 2
    return settings.render_timeout_floor + 3 * (lipsync + speech)


def preview_of(script: str, seconds: float, language: str = "") -> str | None:
    """What a job's preview says: the opening of ``script`` said in about ``seconds``
    (:func:`spoken_text.opening`: its first sentence, or its first clauses or words). None
    when the job gets no preview: previews are off (0), or the script is short, its estimated
    speech no more than twice the opening's, nor than twice ``seconds``. ``language``: the
    script's (chosen, or "" detected from the whole script)."""
    if seconds <= 0:
        return None
    first = opening(script, seconds)
    language = script_language(language, script)
    whole = speech_seconds(script, language)
    if not first or whole <= 2 * max(seconds, speech_seconds(first, language)):
        return None
    return first


def preview_path(out_dir: Path, job_id: str) -> Path:
    """Where a job's preview is rendered: ``.<job>.preview.mp4`` beside its video, a name the
    erasures match as the job's (:func:`bot.safety.erasure.remove_job_files`, the sweeps)."""
    return out_dir / f".{job_id}.preview.mp4"


@dataclass(frozen=True)
class _Plan:
    """One run's renders: the preview's words ("": none) and time limit, the video's limit."""

    opening: str
    preview_limit: float
    limit: float


def _plan(engine: Engine, job: RenderJob, settings: BotSettings) -> _Plan:
    """The run's renders. A batch's video gets no preview: its first video comes soon and
    shows the look, and a preview per video would double the batch's messages."""
    script, language = job.script, script_language(job.language, job.script)
    limit = job_timeout(engine, script, settings, language=language)
    first = None if job.batch else preview_of(script, settings.preview_seconds, language)
    if first is None:
        return _Plan("", 0.0, limit)
    room = job_timeout(engine, script, settings, preview=first, language=language) - limit
    if room <= 0:  # the video alone may take render_timeout_max: no time for a preview
        return _Plan("", 0.0, limit)
    return _Plan(first, room, limit)


async def _finish(w: WorkerContext, job_id: str, to: JobState, **fields: Any) -> str:
    """Move the job to a final state (through the table) and owe its status its last edit."""
    try:
        moved = await w.book.move(job_id, to, finished=time.time(), **fields)
    except IllegalTransition as e:  # it closed meanwhile (the bot cancelled or failed it)
        log.info("job already closed", extra={"job_id": job_id, "state": e.was})
        return e.was or to.value
    if moved is not None:
        await w.pool.sadd(Keys.ACTIVE, job_id)  # type: ignore[misc]
    w.count(to.value)
    return to.value


async def _told(w: WorkerContext, job_id: str) -> str:
    record = await w.book.read(job_id)
    return record.error if record is not None and record.error else texts.FAILED_GENERIC


async def render(ctx: dict[str, Any], payload: str) -> str:
    """Render one job and deliver the MP4 to its chat. Returns the final state."""
    job = RenderJob.from_json(payload)
    w = context(ctx)
    settings = w.settings
    job_id, attempt = job.job_id, int(ctx.get("job_try", 1))
    # 1. A re-run after a crash: the video may have been delivered, the user told that the job
    #    failed, or the job cancelled or erased.
    mark = await mark_of(w.pool, job_id)
    if mark == DeliveryMark.VIDEO:
        return await _finish(w, job_id, JobState.DONE, stage="done", fraction=1.0)
    if mark == DeliveryMark.NOTICE:
        return await _finish(w, job_id, JobState.FAILED, error=await _told(w, job_id))
    if await w.pool.exists(Keys.cancel(job_id)) or await _forgotten(w, job_id):
        return await _finish(w, job_id, JobState.CANCELLED)
    busy = await sending_for(w.pool, job_id)
    if busy > 0:  # another worker is sending it right now: see how that ends, not render again
        raise Retry(defer=busy + 1.0)
    if attempt > settings.render_max_tries:
        reason = texts.FAILED_TRIES.format(tries=settings.render_max_tries)
        await tell(w, job, reason)
        return await _finish(w, job_id, JobState.FAILED, error=reason)
    await mark_round_started(w.pool, int(ctx.get("score", 0)))
    try:
        was = await w.book.move(
            job_id,
            JobState.RUNNING,
            stage="inputs",
            fraction=0.0,
            worker=w.name,
            started=time.time(),
            attempt=attempt,
        )
    except IllegalTransition as e:
        return e.was or ""
    if was is None:  # no record: erased, or a week old
        log.warning("job has no record; not rendered", extra={"job_id": job_id})
        return JobState.CANCELLED.value
    # 2. Keep arq's in-progress marker short-lived while we work; watch for a cancel.
    stop = threading.Event()
    lease = _Lease(w, job_id, stop)
    helpers = [
        asyncio.create_task(lease.keep()),
        asyncio.create_task(_watch_cancel(w, job_id, stop)),
        asyncio.create_task(_show_working(w, job)),
    ]
    try:
        return await _render_and_deliver(w, job, attempt, stop, lease)
    except _LeaseLost:
        log.warning("job taken over by another worker; given up", extra={"job_id": job_id})
        raise Retry(defer=settings.heartbeat_seconds) from None  # arq keeps it queued
    except asyncio.CancelledError:  # shutdown: arq puts the job back in line
        with contextlib.suppress(IllegalTransition, RedisError):
            await asyncio.shield(w.book.move(job_id, JobState.QUEUED, stage="", fraction=0.0))
        raise
    finally:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        # uploads fetched from the bot's media server serve this run only: a retry fetches
        # again, and no copy outlives the render
        await asyncio.shield(drop_fetched(w, job_id))


async def _render_and_deliver(
    w: WorkerContext, job: RenderJob, attempt: int, stop: threading.Event, lease: _Lease
) -> str:
    job_id = job.job_id
    try:
        size = await _produce_and_send(w, job, stop, lease)
    except _LeaseLost:
        raise
    except Cancelled:
        if w.shutting_down.is_set():
            raise asyncio.CancelledError from None  # arq puts it back in line, same place
        if lease.lost.is_set():
            raise _LeaseLost from None
        return await _finish(w, job_id, JobState.CANCELLED)
    except Exception as e:
        return await _after_failure(w, job, attempt, e)
    if size is None:  # erased while it rendered: nothing went out
        return await _finish(w, job_id, JobState.CANCELLED)
    return await _finish(w, job_id, JobState.DONE, stage="done", fraction=1.0, output_bytes=size)


async def _produce_and_send(
    w: WorkerContext, job: RenderJob, stop: threading.Event, lease: _Lease
) -> int | None:
    """Render (unless an earlier try left the file), then send under the delivery claim.
    The video's size, or None when the job was erased meanwhile (nothing is sent)."""
    output: Path = w.out_dir / f"{job.job_id}.mp4"
    if not output.exists():  # an earlier try may have rendered it and failed to deliver
        # The first estimate may measure the backend (a network forward): off the loop, and
        # before the render shares the model.
        plan = await asyncio.to_thread(_plan, w.rendering, job, w.settings)
        sending = await _preview(w, job, plan, stop, lease) if plan.opening else None
        try:
            await _render(w, job, output, stop, plan.limit)
        except BaseException as e:  # a failure's notice (or a retry) comes after the preview;
            # a cancel, a lost job or a shutdown cuts its send off
            stopped = isinstance(e, Cancelled) or not isinstance(e, Exception)
            await _let_go(sending, job.job_id, wait=not stopped)
            raise
        await _let_go(sending, job.job_id, wait=True)  # the preview first, then the video
    await lease.confirm()  # still ours after the render (Redis may have been away)
    if await _forgotten(w, job.job_id):
        await asyncio.to_thread(remove_job_files, output.parent, (job.job_id,))
        return None
    await w.book.move(job.job_id, JobState.DELIVERING, stage="encode", fraction=1.0)
    await deliver_once(w, job, output)
    return output.stat().st_size


async def _after_failure(w: WorkerContext, job: RenderJob, attempt: int, e: Exception) -> str:
    """How a failed try ends: the final state (the user told once), or a retry later."""
    job_id, settings = job.job_id, w.settings
    if isinstance(e, AlreadySent):  # an earlier try's send went out after all
        if e.claim == Claim.VIDEO:
            return await _finish(w, job_id, JobState.DONE, stage="done", fraction=1.0)
        return await _finish(w, job_id, JobState.FAILED, error=await _told(w, job_id))
    if isinstance(e, SomeoneSending):
        raise Retry(defer=settings.delivery_lease_seconds) from None
    if isinstance(e, InvalidInput):
        await tell(w, job, e.reason)
        return await _finish(w, job_id, JobState.INVALID, error=e.reason)
    if isinstance(e, _TimedOut):
        reason = texts.FAILED_TIMEOUT.format(minutes=e.limit / 60)
        await tell(w, job, reason)
        return await _finish(w, job_id, JobState.FAILED, error=reason)
    passing = isinstance(e, TransientError | RedisError) or (
        isinstance(e, DeliveryError) and e.retryable
    )
    if not passing:  # engine, platform or our own bug: the user hears, the record says why
        return await _failed(w, job, e)
    if attempt >= settings.render_max_tries:
        reason = texts.FAILED_TRIES.format(tries=attempt)
        await tell(w, job, reason)
        return await _finish(w, job_id, JobState.FAILED, error=reason)
    log.warning("render will be retried", extra={"job_id": job_id, "error": str(e)})
    with contextlib.suppress(IllegalTransition):
        await w.book.move(job_id, JobState.RETRYING, error=str(e)[:200], attempt=attempt + 1)
    w.count("retried")
    raise Retry(defer=settings.retry_backoff_seconds * 2 ** (attempt - 1)) from e


async def _failed(w: WorkerContext, job: RenderJob, e: Exception) -> str:
    log.error("job failed", exc_info=e, extra={"job_id": job.job_id})
    await tell(w, job, texts.FAILED_GENERIC)
    return await _finish(w, job.job_id, JobState.FAILED, error=type(e).__name__)


async def _request(
    w: WorkerContext, job: RenderJob, output: Path, script: str, *, preview: bool = False
) -> RenderRequest:
    """The job's render request; its preview's says the opening, into its own file, with the
    same inputs and options (label, seed, job id and consent for the marks), titled so."""
    voice = await media_file(w, job.voice_hash, "audio", job.job_id)
    photo = await media_file(w, job.photo_hash, "image", job.job_id)
    return RenderRequest(
        language=_spoken_in(job, preview),
        photo_intake=await photo_intake(w, job.photo_hash),
        script=script,
        voice=voice,
        photo=photo,
        voice_text=job.voice_text,
        output=output,
        options=RenderOptions(
            max_bytes=job.max_bytes,
            seed=job.seed,
            label=job.label,
            label_position=job.label_position,
            job_id=job.job_id,
            consent=job.consent or "not recorded",
            metadata=(("title", texts.PREVIEW_TITLE),) if preview else (),
        ),
    )


def _spoken_in(job: RenderJob, preview: bool) -> str | None:
    """The render's language: the job's choice, or None for the engine to detect it. A
    preview (the opening alone) is spoken in the language detected from the whole script, so
    that it sounds as the video will."""
    if job.language or not preview:
        return job.language or None
    detected = script_language("", job.script)
    return detected if detected in LANGUAGES else None


async def _render(
    w: WorkerContext, job: RenderJob, output: Path, stop: threading.Event, limit: float
) -> None:
    """Render the video; publish progress; stop it on cancel, shutdown or timeout."""
    request = await _request(w, job, output, job.script)
    result, elapsed = await _run_engine(w, job, request, limit, stop, stop.is_set)
    with contextlib.suppress(RedisError):  # the ETA's learning can miss one render
        await learn_speed(w.pool, w.name, len(job.script), elapsed)
    metrics = w.metrics
    if metrics is not None:
        metrics.render_seconds.observe(elapsed)
        for stage, seconds in result.stage_seconds.items():
            metrics.stage_seconds.labels(stage=stage).observe(seconds)
    log.info("rendered", extra={"job_id": job.job_id, "seconds": result.stage_seconds})


async def _run_engine(
    w: WorkerContext,
    job: RenderJob,
    request: RenderRequest,
    limit: float,
    halt: threading.Event,
    should_cancel: Callable[[], bool],
    shown_as: str = "",
) -> tuple[RenderResult, float]:
    """Run the engine in a thread, publishing its progress (as stage ``shown_as`` when
    given); on a timeout, shutdown or task cancellation set ``halt`` (the engine stops at the
    next frame). The result and the seconds it took; raises :class:`_TimedOut` past ``limit``."""
    engine: Engine = w.rendering
    progress = _Latest()
    thread = asyncio.ensure_future(
        asyncio.to_thread(
            engine.render, request, on_progress=progress.seen, should_cancel=should_cancel
        )
    )
    publisher = asyncio.create_task(_publish(w, job.job_id, progress, shown_as))
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(asyncio.shield(thread), timeout=limit)
    except BaseException as e:
        halt.set()
        with contextlib.suppress(BaseException):
            await thread
        if isinstance(e, TimeoutError):
            raise _TimedOut(limit) from e
        raise
    finally:
        publisher.cancel()
        await asyncio.gather(publisher, return_exceptions=True)
    return result, time.perf_counter() - started


async def _preview(
    w: WorkerContext, job: RenderJob, plan: _Plan, stop: threading.Event, lease: _Lease
) -> asyncio.Task[None] | None:
    """Render the job's opening and start sending it (the task doing so), or None when no
    preview goes out. Best effort: a failure is logged, recorded (a retry does not try again)
    and the full render goes on. A cancel, a lost lease or a shutdown during it stops the job
    as during the full render (``stop``); the preview's own timeout stops only the preview."""
    job_id = job.job_id
    try:
        if not await preview_wanted(w, job):
            return None
    except RedisError as e:
        log.warning("preview skipped", extra={"job_id": job_id, "error": type(e).__name__})
        return None
    path = preview_path(w.out_dir, job_id)
    own = threading.Event()  # set on the preview's timeout: stops it, not the job
    sending: asyncio.Task[None] | None = None
    try:
        try:
            request = await _request(w, job, path, plan.opening, preview=True)
            _, elapsed = await _run_engine(
                w,
                job,
                request,
                plan.preview_limit,
                own,
                lambda: stop.is_set() or own.is_set(),
                PREVIEW_STAGE,
            )
        except Cancelled:
            if stop.is_set():  # cancelled, lost, or shutting down: the job stops
                raise
            await _no_preview(w, job, "Cancelled")
            return None
        except Exception as e:  # timed out, the engine failed, Redis: the full render goes on
            await _no_preview(w, job, type(e).__name__)
            return None
        log.info("preview rendered", extra={"job_id": job_id, "seconds": round(elapsed, 3)})
        if stop.is_set():  # cancelled meanwhile: the full render stops at once, nothing goes out
            return None
        await lease.confirm()  # still ours (or _LeaseLost: the job is given up)
        try:
            if await _forgotten(w, job_id) or not await claim_preview(w, job):
                return None
        except RedisError as e:
            log.warning("preview not sent", extra={"job_id": job_id, "error": type(e).__name__})
            return None
        sending = asyncio.create_task(_send_and_drop(w, job, path))
        return sending
    finally:
        if sending is None:
            path.unlink(missing_ok=True)


async def _no_preview(w: WorkerContext, job: RenderJob, error: str) -> None:
    log.warning(
        "preview failed; the full video goes on", extra={"job_id": job.job_id, "error": error}
    )
    with contextlib.suppress(RedisError):
        await preview_failed(w, job)


async def _send_and_drop(w: WorkerContext, job: RenderJob, path: Path) -> None:
    """Send the preview, then delete its file (also when the send is cut off)."""
    try:
        await send_preview(w, job, path)
    except Exception as e:  # ours: logged, never the job's failure
        log.warning("preview send failed", extra={"job_id": job.job_id, "error": type(e).__name__})
    finally:
        path.unlink(missing_ok=True)


async def _let_go(task: asyncio.Task[None] | None, job_id: str, *, wait: bool) -> None:
    """End the preview's send: wait for it up to :data:`PREVIEW_SEND_WAIT` (``wait``), then
    cut it off (a send cut off is not repeated: at most once)."""
    if task is None:
        return
    try:
        if wait and not task.done():
            await asyncio.wait((task,), timeout=PREVIEW_SEND_WAIT)
    finally:
        if not task.done():
            task.cancel()
            log.warning("preview send cut off", extra={"job_id": job_id})
        await asyncio.gather(task, return_exceptions=True)


@dataclass
class _Latest:
    """The engine's latest progress report (written by the render thread, read by the loop)."""

    now: Progress = Progress("inputs", 0.0)

    def seen(self, progress: Progress) -> None:
        self.now = progress


async def _publish(w: WorkerContext, job_id: str, progress: _Latest, shown_as: str = "") -> None:
    """Write the render's progress into the job's record twice a second (when it moved); as
    stage ``shown_as`` with the render's overall fraction when given (the preview)."""
    last: tuple[str, float] | None = None
    while True:
        stage, fraction = progress.now.stage, progress.now.fraction
        if shown_as:
            stage, fraction = shown_as, overall_fraction(stage, fraction)
        now = (stage, round(fraction, 2))
        if now != last:
            try:
                await w.book.note(job_id, stage=now[0], fraction=now[1])
                last = now
            except RedisError:  # progress is shown again once Redis answers
                pass
        await asyncio.sleep(0.5)


async def _forgotten(w: WorkerContext, job_id: str) -> bool:
    """Whether the bot erased this job (its owner's /forget, a purge, a takedown)."""
    return await w.pool.zscore(Keys.FORGOTTEN, forget_token(job_id)) is not None


class _Lease:
    """arq's in-progress marker of one job, kept alive for ``ttl`` seconds at a time.

    A Redis error is retried (with backoff) rather than ending the heartbeat. Once no beat
    succeeded for a whole ``ttl``, the marker has lapsed and another worker may have started
    the job: the marker is then taken back only if nobody holds it (``SET NX``); if someone
    does, the lease is ``lost``: the render stops and the job is given up."""

    def __init__(self, w: WorkerContext, job_id: str, stop: threading.Event) -> None:
        self.w, self.job_id, self.stop = w, job_id, stop
        self.ttl = w.settings.heartbeat_seconds
        self.key = Keys.in_progress(job_id)
        self.lost = asyncio.Event()
        self._last_ok = time.monotonic()

    async def beat(self) -> bool:
        """One renewal; False when another worker holds the marker (the lease is lost)."""
        ttl_ms, pool = int(self.ttl * 1000), self.w.pool
        lapsed = time.monotonic() - self._last_ok >= self.ttl
        held = not lapsed and await pool.set(self.key, b"1", px=ttl_ms, xx=True)
        if not held:  # lapsed (or gone): ours again only if nobody took it
            held = bool(await pool.set(self.key, b"1", px=ttl_ms, nx=True))
        if not held:
            log.warning("in-progress marker taken by another worker", extra={"job_id": self.job_id})
            self.lost.set()
            self.stop.set()
            return False
        self._last_ok = time.monotonic()
        return True

    async def keep(self) -> None:
        """Beat every third of ``ttl`` until cancelled or lost; ride out Redis errors."""
        wait = self.ttl / 3
        while True:
            try:
                if not await self.beat():
                    return
                wait = self.ttl / 3
            except RedisError as e:
                log.warning(
                    "heartbeat failed; retrying", extra={"job_id": self.job_id, "error": str(e)}
                )
                wait = min(self.ttl, wait * 2)
            await asyncio.sleep(wait)

    async def confirm(self) -> None:
        """Before sending: make sure the job is still ours (waits out a Redis outage);
        raises :class:`_LeaseLost` when it is not."""
        wait = 0.5
        while not self.lost.is_set():
            try:
                if await self.beat():
                    return
            except RedisError:
                await asyncio.sleep(wait)
                wait = min(self.ttl, wait * 2)
        raise _LeaseLost


async def _show_working(w: WorkerContext, job: RenderJob) -> None:
    """Telegram's "sending video…" indicator while the job runs (it lasts 5 s per call)."""
    messenger = None if job.chat_id == WEB_CHAT else w.messengers.get(job.platform)
    while messenger is not None and await messenger.show_working(job.chat_id):
        await asyncio.sleep(4.5)


async def _watch_cancel(w: WorkerContext, job_id: str, stop: threading.Event) -> None:
    """Stop the render when the job's cancel flag appears; rides out Redis errors."""
    wait = 0.5
    while not stop.is_set():
        try:
            if await w.pool.exists(Keys.cancel(job_id)):
                log.info("cancel requested", extra={"job_id": job_id})
                stop.set()
                return
            wait = 0.5
        except RedisError:
            wait = min(5.0, wait * 2)
        await asyncio.sleep(wait)
