"""The arq worker process: hosts the engine, checks uploads, renders, delivers exactly once.

``python -m bot.worker`` runs two arq workers on one event loop: the render queue
(``max_jobs`` renders at a time, one per GPU) and the intake queue (fast photo and voice
checks, answered in seconds even while a render runs, because renders run in a thread).
A status board on the same loop keeps every job's chat message current.
This is the one module where ``bot`` meets ``engine``.

Crash recovery: arq marks a started job "in progress" for its whole timeout, so a job whose
worker was killed would wait hours before another worker may run it. Here the render keeps
that marker alive with a heartbeat of ``heartbeat_seconds`` instead: once a worker dies, the
marker expires within that bound and the next worker polling the queue runs the job again.
Delivery is exactly-once through a Redis mark set right after the platform accepted the
video (value ``video``); a re-run that finds it only finishes the bookkeeping, and a re-run
that finds the rendered file skips rendering. A failure notice writes the same key with the
value ``notice``: a re-run that finds that one ends the job as failed, without a second notice.

Erasure: every few seconds (and at start-up) the worker sweeps what it holds of uploads and
jobs the bot erased (:func:`bot.safety.erasure.sweep_forgotten`): its upload cache, its
videos and a killed render's leftovers, and the engine's codes made from a forgotten voice.
Its caches live under one known folder (``data/cache``), so a restarted worker finds what
an earlier run kept. A render whose job was erased meanwhile is not delivered. Render
results are not kept in Redis (they would hold the script); the bot reads each intake
answer once and deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from arq import Worker, create_pool, cron, func
from arq.connections import ArqRedis

from bot.core import texts
from bot.core.flow import speech_seconds
from bot.core.ports import MediaCheck
from bot.core.uploads import stored_media, write_atomically
from bot.delivery.discord import DiscordDelivery
from bot.delivery.http import DeliveryError
from bot.delivery.telegram import TelegramDelivery
from bot.jobs import (
    INTAKE_QUEUE,
    JOB_RECORDS_TTL,
    RENDER_QUEUE,
    JobStatus,
    Keys,
    RenderJob,
    forget_token,
)
from bot.observability import Metrics, logging_from_settings, start_worker_http
from bot.progress import Backoff, StatusBoard, learn_speed
from bot.queue import mark_round_started, redis_settings
from bot.safety.erasure import SweepState, remove_job_files, sweep_forgotten
from bot.safety.retention import purge_dir
from bot.settings import BotSettings
from engine import Engine, EngineSettings, InvalidInput, RenderOptions, RenderRequest
from engine.errors import Cancelled, TransientError
from engine.pipeline import VoiceCaches
from engine.types import PhotoIntake, Progress

__all__ = [
    "CTX_KEY",
    "WorkerContext",
    "build_workers",
    "main",
    "check_media",
    "render",
    "job_timeout",
    "notify",
    "sweep",
    "purge_worker_files",
]

log = logging.getLogger(__name__)
_SUFFIX = {"audio": ".audio", "image": ".img"}
_KEEP = JOB_RECORDS_TTL
# values of the delivery mark: the video was accepted ("1": marks written before notices had
# their own value), or the user was told the job failed
_VIDEO, _NOTICE = b"video", b"notice"
_VIDEO_MARKS = (_VIDEO, b"1")
# arq's own limit on one run: the render's timeout (at most render_timeout_max) must fire
# first, so the user is told; delivery and bookkeeping come after it
_RUN_GRACE = 600.0
Deliver = Callable[["WorkerContext", RenderJob, Path | None, str], Awaitable[None]]
#: the one key of arq's ctx that is ours: the :class:`WorkerContext`
CTX_KEY = "mouthpiece"


@dataclass
class WorkerContext:
    """What the worker's functions share, built once by :func:`build_workers` and carried in
    arq's ctx under :data:`CTX_KEY` (arq's own keys, ``redis``, ``job_try``, ``score``, stay
    arq's). ``redis`` is arq's connection, bound on first use; ``messengers`` and the
    background tasks appear at start-up."""

    settings: BotSettings
    out_dir: Path
    cache_dir: Path
    name: str = "worker"
    engine: Engine | None = None  # None: an intake-only context (tests)
    asr: Any = None  # the speech recognizer, when MOUTHPIECE_ASR_MODEL names one
    deliver: Deliver | None = None  # None: :func:`deliver`
    metrics: Metrics | None = None
    redis: ArqRedis | None = None
    messengers: dict[str, Any] = field(default_factory=dict)
    sweep_state: SweepState = field(default_factory=SweepState)
    shutting_down: asyncio.Event = field(default_factory=asyncio.Event)
    http: aiohttp.ClientSession | None = None
    status_board: StatusBoard | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def rendering(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("this worker context has no engine")
        return self.engine

    @property
    def db(self) -> ArqRedis:
        if self.redis is None:
            raise RuntimeError("this worker context has no Redis connection yet")
        return self.redis

    @property
    def voice_cache(self) -> VoiceCaches | None:
        return self.engine.voice_cache if self.engine is not None else None


def _context(ctx: dict[str, Any]) -> WorkerContext:
    """Our context from arq's, bound to arq's Redis connection."""
    house: WorkerContext = ctx[CTX_KEY]
    if house.redis is None and "redis" in ctx:
        house.redis = ctx["redis"]
    return house


class _Retry(Exception):
    """Run the job again later (transient failure); arq's Retry raised by ``render``."""


class _TimedOut(TimeoutError):
    """The render ran past ``limit`` seconds (its :func:`job_timeout`, estimated once)."""

    def __init__(self, limit: float) -> None:
        super().__init__(f"render took longer than {limit:.0f} s")
        self.limit = limit


async def _media_file(w: WorkerContext, digest: str, kind: str) -> Path:
    """The upload as a local file: the bot's own file, read in place, when the two share the
    data folder (``shared_media``); else a copy in this worker's cache, fetched from Redis by
    hash. The bytes are not hashed again here: the engine hashes a photo before it trusts its
    intake finding, and names a voice's caches by the hash of what it read."""
    expired = InvalidInput(texts.UPLOAD_EXPIRED, field=kind)
    if w.settings.shared_media:
        found = await asyncio.to_thread(stored_media, w.settings.media_dir, digest)
        if found is None:  # erased or purged; or (every upload) this is not the bot's folder
            log.warning("upload not in the shared media folder", extra={"kind": kind})
            raise expired
        return found
    path = w.cache_dir / f"{digest}{_SUFFIX.get(kind, '')}"
    if not path.exists():
        data = await w.db.get(Keys.media(digest))
        if data is None:
            raise expired
        await asyncio.to_thread(write_atomically, path, data)  # up to 20 MB: off the loop
    return path


async def check_media(ctx: dict[str, Any], kind: str, digest: str) -> str:
    """Intake check of a photo or voice note: a :class:`MediaCheck` as JSON. A photo's face
    (``PhotoIntake``) stays in Redis beside the upload, for the render to reuse."""
    w = _context(ctx)
    engine = w.rendering
    try:
        path = await _media_file(w, digest, kind)
        if kind == "image":
            photo = await asyncio.to_thread(engine.inspect_photo, path)
            if photo.digest == digest:  # the cache file holds the bytes the bot stored
                await w.db.set(
                    Keys.intake(digest), photo.to_json(), ex=w.settings.media_ttl_seconds
                )
            return MediaCheck(ok=True, warnings=photo.warnings).to_json()
        voice = await asyncio.to_thread(engine.inspect_voice, path)
        return MediaCheck(ok=True, seconds=voice.seconds, warnings=voice.warnings).to_json()
    except InvalidInput as e:
        return MediaCheck(ok=False, reason=e.reason).to_json()


async def _photo_intake(w: WorkerContext, digest: str) -> PhotoIntake | None:
    """The photo's intake finding, when Redis still holds one (it expires with the upload)."""
    raw = await w.db.get(Keys.intake(digest))
    if raw is None:
        return None
    try:
        return PhotoIntake.from_json(raw)
    except ValueError:
        log.warning("unreadable photo intake; the render finds the face itself")
        return None


async def transcribe(ctx: dict[str, Any], digest: str) -> str | None:
    """Speech recognition of a voice note for the consent-phrase check (None: this worker
    has no recognizer, or the note cannot be read)."""
    w = _context(ctx)
    recognizer = w.asr
    if recognizer is None:
        return None
    from engine.asr import transcribe_file

    try:
        path = await _media_file(w, digest, "audio")
        text: str | None = await asyncio.to_thread(transcribe_file, recognizer, path)
        return text
    except InvalidInput:
        return None


async def notify(
    ctx: dict[str, Any], platform: str, chat_id: str, text: str, job_id: str = ""
) -> None:
    """Send a line to a chat for the bot (an expired review's requester)."""
    target = _context(ctx).messengers.get(platform)
    if target is None:
        log.warning("no messenger for a notice", extra={"platform": platform})
        return
    try:
        await target.send_text(chat_id, text)
    except DeliveryError:
        log.warning("notice not delivered", extra={"job_id": job_id})


async def purge_worker_files(ctx: dict[str, Any]) -> dict[str, int]:
    """Retention on the worker's own disk (hourly): cached uploads and the engine's voice
    codes unused for the media retention, rendered videos after the output retention, a
    killed render's leftovers after the longest render; then a full sweep of erased data
    (a video that finished after its job was erased)."""
    w = _context(ctx)
    settings = w.settings
    now, media_age = time.time(), settings.media_retention_hours * 3600
    media, outputs, leftovers = await asyncio.gather(  # walks and unlinks: off the loop
        asyncio.to_thread(purge_dir, w.cache_dir, media_age, now),
        asyncio.to_thread(
            purge_dir, w.out_dir, settings.output_retention_days * 86_400, now, "*.mp4"
        ),
        asyncio.to_thread(purge_dir, w.out_dir, settings.render_timeout_max, now, ".*"),
    )
    voices = w.voice_cache
    codes = await asyncio.to_thread(voices.expire, media_age, now) if voices else 0
    forgotten = await sweep(w, force=True)
    return {
        "media": media,
        "outputs": outputs,
        "leftovers": leftovers,
        "voice_codes": codes,
        "forgotten": forgotten,
    }


async def sweep(w: WorkerContext, *, force: bool = False) -> int:
    """Remove this worker's copies of what the bot erased since the last sweep."""
    return await sweep_forgotten(
        w.db,
        w.sweep_state,
        cache_dir=w.cache_dir,
        out_dir=w.out_dir,
        voices=w.voice_cache,
        force=force,
    )


async def _forgotten(w: WorkerContext, job_id: str) -> bool:
    """Whether the bot erased this job (its owner's /forget, a purge, a takedown)."""
    return await w.db.zscore(Keys.FORGOTTEN, forget_token(job_id)) is not None


def load_recognizer(settings: BotSettings) -> Any:
    """The faster-whisper recognizer when MOUTHPIECE_ASR_MODEL names a model folder."""
    if not settings.asr_model:
        return None
    from engine.asr import FasterWhisper

    return FasterWhisper(Path(settings.asr_model))


def job_timeout(engine: Engine, script: str, settings: BotSettings) -> float:
    """Seconds a render of ``script`` may take: sized from its length, not a fixed number.

    Speech length is the conversation's own estimate (:func:`bot.core.flow.speech_seconds`,
    the one the script limit uses); the lip-sync backend's estimate (measured on this
    machine where it can) covers the frames, and the speech stage is allowed as long as the
    speech itself. Three times that, plus a floor.
    """
    options = RenderOptions()
    speech = max(1.0, speech_seconds(script))
    frames = math.ceil((speech + options.tail_seconds) * options.fps)
    lipsync = engine.lipsync.estimate_seconds(frames, options) or speech * 2
    return min(settings.render_timeout_max, settings.render_timeout_floor + 3 * (lipsync + speech))


async def _update(w: WorkerContext, job_id: str, **fields: object) -> None:
    key = Keys.job(job_id)
    await w.db.hset(key, mapping={k: str(v) for k, v in fields.items()})  # type: ignore[misc]
    await w.db.expire(key, _KEEP)


async def _finish(w: WorkerContext, job_id: str, status: JobStatus) -> str:
    await _update(w, job_id, **status.to_redis(), finished=f"{time.time():.3f}")
    await w.db.sadd(Keys.ACTIVE, job_id)  # type: ignore[misc]  # owe the status its final edit
    _count(w, status.status)
    return status.status


def _count(w: WorkerContext, outcome: str) -> None:
    metrics = w.metrics
    if metrics is not None:
        metrics.jobs.labels(outcome=outcome).inc()


async def render(ctx: dict[str, Any], payload: str) -> str:
    """Render one job and deliver the MP4 to its chat once. Returns the final status."""
    job = RenderJob.from_json(payload)
    w = _context(ctx)
    redis, settings = w.db, w.settings
    job_id, attempt = job.job_id, int(ctx.get("job_try", 1))
    # 1. A re-run after a crash: the video may have been delivered, the user told that the job
    #    failed, or the job cancelled.
    mark = await redis.get(Keys.delivered(job_id))
    if mark in _VIDEO_MARKS:
        return await _finish(w, job_id, JobStatus("done", stage="done", fraction=1.0))
    if mark == _NOTICE:
        told = await redis.hget(Keys.job(job_id), "error")  # type: ignore[misc]
        reason = told.decode() if told else texts.FAILED_GENERIC
        return await _finish(w, job_id, JobStatus("failed", error=reason))
    if await redis.exists(Keys.cancel(job_id)) or await _forgotten(w, job_id):
        return await _finish(w, job_id, JobStatus("cancelled"))
    if attempt > settings.render_max_tries:
        reason = texts.FAILED_TRIES.format(tries=settings.render_max_tries)
        await _tell(w, job, reason)
        return await _finish(w, job_id, JobStatus("failed", error=reason))
    await mark_round_started(redis, int(ctx.get("score", 0)))
    # 2. Keep arq's in-progress marker short-lived while we work; watch for a cancel.
    stop = threading.Event()
    helpers = [
        asyncio.create_task(_heartbeat(w, job_id)),
        asyncio.create_task(_watch_cancel(w, job_id, stop)),
        asyncio.create_task(_show_working(w, job)),
    ]
    try:
        return await _render_and_deliver(w, job, attempt, stop)
    except asyncio.CancelledError:  # shutdown: arq puts the job back in line
        await asyncio.shield(_update(w, job_id, status="queued", stage="", fraction=0))
        raise
    finally:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)


async def _render_and_deliver(
    w: WorkerContext, job: RenderJob, attempt: int, stop: threading.Event
) -> str:
    from arq import Retry

    job_id, settings = job.job_id, w.settings
    output: Path = w.out_dir / f"{job_id}.mp4"
    await _update(
        w,
        job_id,
        status="running",
        stage="inputs",
        fraction="0",
        worker=w.name,
        started=f"{time.time():.3f}",
        **{"try": attempt},
    )
    try:
        if not output.exists():  # an earlier try may have rendered it and failed to deliver
            await _render(w, job, output, stop)
        if await _forgotten(w, job_id):  # erased while it rendered: nothing goes out
            await asyncio.to_thread(remove_job_files, output.parent, (job_id,))
            return await _finish(w, job_id, JobStatus("cancelled"))
        await _deliver_once(w, job, output)
    except InvalidInput as e:
        await _tell(w, job, e.reason)
        return await _finish(w, job_id, JobStatus("invalid", error=e.reason))
    except Cancelled:
        if w.shutting_down.is_set():
            raise asyncio.CancelledError from None  # arq puts it back in line, same place
        return await _finish(w, job_id, JobStatus("cancelled"))
    except (TransientError, _Retry) as e:
        if attempt >= settings.render_max_tries:
            reason = texts.FAILED_TRIES.format(tries=attempt)
            await _tell(w, job, reason)
            return await _finish(w, job_id, JobStatus("failed", error=reason))
        log.warning("render will be retried", extra={"job_id": job_id, "error": str(e)})
        await _update(w, job_id, status="retrying", error=str(e)[:200], **{"try": attempt + 1})
        _count(w, "retried")
        raise Retry(defer=settings.retry_backoff_seconds * 2 ** (attempt - 1)) from e
    except _TimedOut as e:
        reason = texts.FAILED_TIMEOUT.format(minutes=e.limit / 60)
        await _tell(w, job, reason)
        return await _finish(w, job_id, JobStatus("failed", error=reason))
    except Exception as e:  # engine, platform or our own bug: the user hears, the row says why
        log.exception("job failed", extra={"job_id": job_id})
        await _tell(w, job, texts.FAILED_GENERIC)
        return await _finish(w, job_id, JobStatus("failed", error=type(e).__name__))
    return await _finish(
        w,
        job_id,
        JobStatus("done", stage="done", fraction=1.0, output_bytes=output.stat().st_size),
    )


async def _render(w: WorkerContext, job: RenderJob, output: Path, stop: threading.Event) -> None:
    """Run the engine in a thread; publish progress; stop it on cancel, shutdown or timeout."""
    engine: Engine = w.rendering
    voice = await _media_file(w, job.voice_hash, "audio")
    photo = await _media_file(w, job.photo_hash, "image")
    request = RenderRequest(
        photo_intake=await _photo_intake(w, job.photo_hash),
        script=job.script,
        voice=voice,
        photo=photo,
        voice_text=job.voice_text,
        output=output,
        options=RenderOptions(
            max_bytes=job.max_bytes,
            seed=job.seed,
            label=job.label,
            label_position=job.label_position,
            metadata=(("comment", f"Mouthpiece job {job.job_id}"),),
        ),
    )
    # The first estimate may measure the backend (a network forward): off the loop, and before
    # the render shares the model.
    limit = await asyncio.to_thread(job_timeout, engine, job.script, w.settings)
    progress = _Latest()
    thread = asyncio.ensure_future(
        asyncio.to_thread(
            engine.render, request, on_progress=progress.seen, should_cancel=stop.is_set
        )
    )
    publisher = asyncio.create_task(_publish(w, job.job_id, progress))
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(asyncio.shield(thread), timeout=limit)
    except BaseException as e:
        stop.set()  # timeout, shutdown or task cancellation: stop the engine at the next frame
        with contextlib.suppress(BaseException):
            await thread
        if isinstance(e, TimeoutError):
            raise _TimedOut(limit) from e
        raise
    finally:
        publisher.cancel()
        await asyncio.gather(publisher, return_exceptions=True)
    elapsed = time.perf_counter() - started
    await learn_speed(w.db, w.name, len(job.script), elapsed)
    metrics = w.metrics
    if metrics is not None:
        metrics.render_seconds.observe(elapsed)
        for stage, seconds in result.stage_seconds.items():
            metrics.stage_seconds.labels(stage=stage).observe(seconds)
    log.info("rendered", extra={"job_id": job.job_id, "seconds": result.stage_seconds})


@dataclass
class _Latest:
    """The engine's latest progress report (written by the render thread, read by the loop)."""

    now: Progress = Progress("inputs", 0.0)

    def seen(self, progress: Progress) -> None:
        self.now = progress


async def _publish(w: WorkerContext, job_id: str, progress: _Latest) -> None:
    last: tuple[str, float] | None = None
    while True:
        now = (progress.now.stage, round(progress.now.fraction, 2))
        if now != last:
            await _update(w, job_id, stage=now[0], fraction=now[1])
            last = now
        await asyncio.sleep(0.5)


async def _heartbeat(w: WorkerContext, job_id: str) -> None:
    """Keep arq's in-progress marker alive for ``heartbeat_seconds`` at a time."""
    ttl_ms = int(w.settings.heartbeat_seconds * 1000)
    while True:
        await w.db.pexpire(Keys.in_progress(job_id), ttl_ms)
        await asyncio.sleep(ttl_ms / 3000)


async def _show_working(w: WorkerContext, job: RenderJob) -> None:
    """Telegram's "sending video…" indicator while the job runs (it lasts 5 s per call)."""
    messenger = w.messengers.get(job.platform)
    while messenger is not None and await messenger.show_working(job.chat_id):
        await asyncio.sleep(4.5)


async def _watch_cancel(w: WorkerContext, job_id: str, stop: threading.Event) -> None:
    while not stop.is_set():
        if await w.db.exists(Keys.cancel(job_id)):
            log.info("cancel requested", extra={"job_id": job_id})
            stop.set()
            return
        await asyncio.sleep(0.5)


async def _deliver_once(w: WorkerContext, job: RenderJob, video: Path) -> None:
    """Send the video unless a delivery of this job already succeeded; then mark it."""
    mark = Keys.delivered(job.job_id)
    if await w.db.get(mark) in _VIDEO_MARKS:
        return
    try:
        await (w.deliver or deliver)(w, job, video, "")
    except DeliveryError as e:
        _failed_delivery(w, job)
        if e.retryable:
            raise _Retry(str(e)) from e
        raise
    await w.db.set(mark, _VIDEO, ex=_KEEP)


def _failed_delivery(w: WorkerContext, job: RenderJob) -> None:
    metrics = w.metrics
    if metrics is not None:
        metrics.delivery_failures.labels(platform=job.platform).inc()


async def _tell(w: WorkerContext, job: RenderJob, message: str) -> None:
    """A failure notice, at most once per job; a failing platform does not hide the status.
    The reason goes into the job's row first, so a re-run after the notice can say why."""
    mark = Keys.delivered(job.job_id)
    if await w.db.exists(mark):
        return  # the video, or a notice, already reached the chat
    await _update(w, job.job_id, error=message[:200])
    if not await w.db.set(mark, _NOTICE, nx=True, ex=_KEEP):
        return
    try:
        await (w.deliver or deliver)(w, job, None, message)
    except DeliveryError:
        _failed_delivery(w, job)
        log.warning("failure notice not delivered", extra={"job_id": job.job_id})


def messengers(settings: BotSettings, session: aiohttp.ClientSession) -> dict[str, Any]:
    """The platforms this worker can reach (those whose token is set)."""
    out: dict[str, Any] = {}
    if settings.telegram_bot_token:
        out["telegram"] = TelegramDelivery(
            session, settings.telegram_api_base_url, settings.telegram_bot_token
        )
    if settings.discord_bot_token:
        out["discord"] = DiscordDelivery(
            session, settings.discord_api_base_url, settings.discord_bot_token
        )
    return out


async def deliver(w: WorkerContext, job: RenderJob, video: Path | None, message: str) -> None:
    """Send the video (or ``message``) to the job's chat on its platform."""
    target = w.messengers.get(job.platform)
    if target is None:
        raise DeliveryError(f"no token for platform {job.platform!r}", retryable=False)
    if video is None:
        await target.send_text(job.chat_id, message)
    else:
        await target.send_video(job.chat_id, video, texts.VIDEO_CAPTION, key=job.job_id)


def build_workers(
    settings: BotSettings,
    engine: Engine,
    *,
    burst: bool = False,
    asr: Any = None,
    metrics: Metrics | None = None,
) -> list[Worker]:
    """The render and intake workers, sharing one :class:`WorkerContext` (engine, HTTP
    session, folders)."""
    out_dir = settings.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    # On the data volume (a read-only root has no room elsewhere), shared by the host's
    # workers (content-addressed), emptied by the retention pass and the erasure sweep
    # whichever run wrote it.
    cache_dir = settings.data_dir / "cache" / "uploads"
    cache_dir.mkdir(parents=True, exist_ok=True)
    house = WorkerContext(
        settings=settings,
        out_dir=out_dir,
        cache_dir=cache_dir,
        name=settings.worker_name or f"{socket.gethostname()}-{os.getpid()}",
        engine=engine,
        asr=asr,
        metrics=metrics,
    )
    redis = redis_settings(settings.redis_url)

    async def startup(c: dict[str, Any]) -> None:
        w = _context(c)
        if w.http is None or w.http.closed:  # both workers share one session and board
            w.http = aiohttp.ClientSession()
            w.messengers = messengers(settings, w.http)
            w.status_board = StatusBoard(
                w.db,
                w.messengers,
                name=w.name,
                min_edit_seconds=settings.status_edit_seconds,
                backoff=Backoff(
                    first=settings.status_backoff_seconds,
                    most=settings.status_backoff_max_seconds,
                    give_up_after=settings.status_max_failures,
                ),
                lock_seconds=settings.heartbeat_seconds,
            )
            w.tasks = [
                asyncio.create_task(_run_board(w.status_board, settings.board_interval_seconds)),
                asyncio.create_task(_run_sweeps(w, settings.forget_poll_seconds)),
            ]

    async def shutdown(c: dict[str, Any]) -> None:
        w = _context(c)
        tasks, w.tasks = w.tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if w.status_board is not None:
            board, w.status_board = w.status_board, None
            await board.close()
        if w.http is not None and not w.http.closed:
            await w.http.close()

    common = {
        "redis_settings": redis,
        "ctx": {CTX_KEY: house},
        "handle_signals": False,
        "burst": burst,
        "poll_delay": 0.5,
        "on_startup": startup,
        "on_shutdown": shutdown,
    }
    return [
        Worker(
            functions=[func(render, timeout=settings.render_timeout_max + _RUN_GRACE)],
            queue_name=RENDER_QUEUE,
            max_jobs=settings.render_max_jobs,
            # arq's own tries count crashes too; render() gives up and tells the user itself.
            max_tries=settings.render_max_tries + 1,
            keep_result=0,  # a result would hold the payload (the script); status is ours
            **common,  # type: ignore[arg-type]
        ),
        Worker(
            functions=[check_media, transcribe, func(notify, keep_result=0)],
            cron_jobs=[cron(purge_worker_files, minute=17)],
            queue_name=INTAKE_QUEUE,
            max_jobs=4,
            job_timeout=60,
            max_tries=1,
            keep_result=600,
            **common,  # type: ignore[arg-type]
        ),
    ]


async def _run_sweeps(w: WorkerContext, interval: float) -> None:
    """Sweep erased data now (what an earlier run kept) and then every ``interval`` s."""
    while True:
        try:
            await sweep(w)
        except Exception:  # the sweeper must outlive a Redis blip
            log.exception("erasure sweep failed")
        await asyncio.sleep(interval)


async def _run_board(board: StatusBoard, interval: float) -> None:
    while True:
        try:
            await board.beat()
            await board.tick()
        except Exception:  # the board must outlive a Redis blip
            log.exception("status board pass failed")
        await asyncio.sleep(interval)


async def run(settings: BotSettings) -> None:
    """Build the engine once, run the workers until SIGTERM/SIGINT, then requeue and stop."""
    # The engine's caches (voice codes) live beside the worker's: one known folder on the
    # data volume, unless MOUTHPIECE_CACHE_DIR says otherwise.
    cache = None if os.environ.get("MOUTHPIECE_CACHE_DIR") else settings.data_dir / "cache"
    engine_settings = EngineSettings.from_env(
        tts=settings.tts, lipsync=settings.lipsync, cache_dir=cache
    )
    engine = await asyncio.to_thread(Engine, engine_settings)
    asr = await asyncio.to_thread(load_recognizer, settings)
    metrics = Metrics.create()
    workers = build_workers(settings, engine, asr=asr, metrics=metrics)
    house: WorkerContext = workers[0].ctx[CTX_KEY]  # one context shared by both workers
    pool = await create_pool(redis_settings(settings.redis_url))
    http = await start_worker_http(settings, pool, metrics)
    loop = asyncio.get_running_loop()

    def stop(signum: signal.Signals) -> None:
        log.info("shutting down; running renders go back in line", extra={"signal": signum.name})
        house.shutting_down.set()
        for w in workers:
            w.handle_sig(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig)
    for w in workers:  # handle_sig stops a worker through its main task
        w.main_task = asyncio.ensure_future(w.main())
    try:
        await asyncio.gather(*(w.main_task for w in workers if w.main_task), return_exceptions=True)
    finally:
        for w in workers:
            await w.close()
        if http is not None:
            await http.cleanup()
        await pool.aclose()
        engine.close()  # the face detector's graphs


def main() -> int:
    try:
        settings = BotSettings.from_env()
        logging_from_settings(settings)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
