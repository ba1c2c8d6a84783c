"""The worker process: builds the engine once and runs two arq workers on one event loop.

The render queue runs ``max_jobs`` renders at a time (one per GPU); the intake queue runs the
fast photo and voice checks, answered in seconds even while a render runs (renders run in a
thread). A status board and the erasure sweeps run on the same loop. Every arq record is
JSON (:mod:`bot.jobs.redis`), never a pickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
from arq import Worker, cron, func

from bot.contract.jobs import INTAKE_QUEUE, RENDER_QUEUE
from bot.jobs.redis import ARQ_CODEC, connect, redis_settings
from bot.observability import Metrics, logging_from_settings, start_worker_http
from bot.settings import BotSettings
from bot.worker.board import Backoff, StatusBoard
from bot.worker.context import CTX_KEY, WorkerContext, context
from bot.worker.intake import check_media, preview, transcribe, verify_media
from bot.worker.outbox import messengers, notify, unpost
from bot.worker.rendering import RUN_GRACE, render
from bot.worker.staff import notify_staff
from bot.worker.upkeep import purge_worker_files, run_board, run_sweeps
from engine import Engine, EngineSettings

__all__ = ["build_workers", "close_worker", "load_recognizer", "run", "main", "REDIS_RETRIES"]

log = logging.getLogger(__name__)
#: a worker rides out a Redis outage of about three minutes (the bot's calls give up sooner)
REDIS_RETRIES = 40


def load_recognizer(settings: BotSettings) -> Any:
    """The faster-whisper recognizer when MOUTHPIECE_ASR_MODEL names a model folder."""
    if not settings.asr_model:
        return None
    from engine.asr import FasterWhisper

    return FasterWhisper(Path(settings.asr_model))


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
    redis = redis_settings(settings.redis_url, retries=REDIS_RETRIES)

    async def startup(c: dict[str, Any]) -> None:
        w = context(c)
        if w.http is None or w.http.closed:  # both workers share one session and board
            w.http = aiohttp.ClientSession()
            w.messengers = messengers(settings, w.http)
            w.status_board = StatusBoard(
                w.pool,
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
                asyncio.create_task(run_board(w.status_board, settings.board_interval_seconds)),
                asyncio.create_task(run_sweeps(w, settings.forget_poll_seconds)),
            ]

    async def shutdown(c: dict[str, Any]) -> None:
        w = context(c)
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
        **ARQ_CODEC,
    }
    return [
        Worker(
            functions=[func(render, timeout=settings.render_timeout_max + RUN_GRACE)],
            queue_name=RENDER_QUEUE,
            max_jobs=settings.render_max_jobs,
            # arq's own tries count crashes too; render() gives up and tells the user itself.
            max_tries=settings.render_max_tries + 1,
            keep_result=0,  # a result would hold the payload (the script); status is ours
            **common,
        ),
        Worker(
            functions=[
                check_media,
                transcribe,
                func(notify, keep_result=0),
                func(notify_staff, keep_result=0),  # review requests for moderators
                preview,  # a review's previews: the bot reads each answer, then deletes it
                unpost,  # a takedown's deletes in the chat: the same
                verify_media,  # a moderator's /mod verify: the bot reads the answer, deletes it
            ],
            cron_jobs=[cron(purge_worker_files, minute=17)],
            queue_name=INTAKE_QUEUE,
            max_jobs=4,
            job_timeout=60,
            max_tries=1,
            keep_result=600,
            **common,
        ),
    ]


async def close_worker(worker: Worker) -> None:
    """Stop ``worker`` (its running jobs cancelled: a render goes back in line) and run its
    shutdown. arq's own ``close`` gathers the jobs it cancels without ``return_exceptions``:
    a job cancelled outside its function (writing its result, a render already delivered)
    ends cancelled, and that CancelledError came out of ``close``, skipping its shutdown and
    every worker closed after it. The jobs are waited out here first, whatever they ended
    with, and the ended ones dropped from its table."""
    worker.handle_sig(signal.SIGUSR1)
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    for job_id in [j for j, task in worker.tasks.items() if task.done()]:
        del worker.tasks[job_id]
    await worker.close()


async def run(settings: BotSettings) -> None:
    """Build the engine once, run the workers until SIGTERM/SIGINT, then requeue and stop."""
    # The engine's caches (voice codes) live beside the worker's: one known folder on the
    # data volume, unless MOUTHPIECE_CACHE_DIR says otherwise.
    cache = None if os.environ.get("MOUTHPIECE_CACHE_DIR") else settings.data_dir / "cache"
    # so do the local C2PA CA and signer: kept, never a cache
    keys = None if os.environ.get("MOUTHPIECE_C2PA_DIR") else str(settings.data_dir / "c2pa")
    engine_settings = EngineSettings.from_env(
        tts=settings.tts, lipsync=settings.lipsync, cache_dir=cache, c2pa_dir=keys
    )
    engine = await asyncio.to_thread(Engine, engine_settings)
    asr = await asyncio.to_thread(load_recognizer, settings)
    metrics = Metrics.create()
    workers = build_workers(settings, engine, asr=asr, metrics=metrics)
    house: WorkerContext = workers[0].ctx[CTX_KEY]  # one context shared by both workers
    pool = await connect(settings.redis_url)
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
            await close_worker(w)
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
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(settings))
    except ValueError as e:  # the engine's settings (an operator's C2PA files, a backend name)
        log.error("worker not started", extra={"error": str(e)})
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
