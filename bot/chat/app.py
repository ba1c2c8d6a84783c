"""Wires the chat process: store + queue + service + the enabled front-ends, and the job
lifecycle's two loops (the workers' reports into the store; the reconciler) and the one that
queues held batches as room frees up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable

from aiohttp import web

from bot.chat.adapters.web import start_web, web_secret
from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract.jobs import RENDER_QUEUE
from bot.conversation.service import Limits, Service
from bot.db import SPARE_BYTES
from bot.observability import FrontEnds, Metrics, instrument_handler, start_http
from bot.safety import (
    RateLimits,
    Retention,
    Safety,
    ServerPolicy,
    Staff,
    UploadLimits,
    run_periodically,
)
from bot.safety.signin import WebSignIn
from bot.settings import BotSettings

__all__ = [
    "build_service",
    "run_bot",
    "start_bot_http",
    "safety_from",
    "retention_from",
    "web_signin_from",
]

log = logging.getLogger(__name__)


async def build_service(settings: BotSettings) -> tuple[Service, Store, Queue]:
    store = await Store.open(settings.db_path, spare_bytes=SPARE_BYTES)  # room for deletes
    queue = await Queue.connect(
        settings.redis_url,
        media_ttl=settings.media_ttl_seconds,
        intake_timeout=settings.intake_timeout_seconds,
        # a worker keeps a cached copy at most the media retention: its tombstone outlives it
        tombstone_seconds=(settings.media_retention_hours + 1) * 3600,
        shared=settings.shared_media,
    )
    limits = Limits(
        max_script_chars=settings.max_script_chars,
        max_script_seconds=settings.max_script_seconds,
        min_voice_seconds=settings.min_voice_seconds,
        max_voice_seconds=settings.max_voice_seconds,
        max_file_bytes=settings.max_file_bytes,
        needs_transcript=settings.needs_transcript,
        label=settings.label or None,
        uploads=UploadLimits(
            per_hour=settings.limit_uploads_per_hour,
            bytes_per_day=settings.limit_upload_bytes_per_day,
            total_bytes_per_day=settings.limit_upload_bytes_per_day_total,
        ),
        max_saved_voices=settings.max_saved_voices,
        max_batch_scripts=settings.max_batch_scripts,
        max_avatars=settings.max_avatars,
        parallel_downloads=settings.parallel_downloads,
        min_free_bytes=settings.min_free_bytes,
    )
    service = Service(
        store,
        queue,
        settings.media_dir,
        limits,
        upload_bytes={
            "telegram": settings.telegram_upload_bytes,
            "discord": settings.discord_upload_bytes,
        },
        safety=safety_from(settings),
        web=web_signin_from(settings),
    )
    return service, store, queue


def web_signin_from(settings: BotSettings) -> WebSignIn | None:
    """The web studio's link signer, or None when it has no public address (/web is off)."""
    if not settings.web_url:
        return None
    secret = web_secret(settings.web_secret, settings.web_secret_path)
    return WebSignIn(secret, settings.web_url)


def safety_from(settings: BotSettings) -> Safety:
    """The service's safety defaults (moderators override them per server)."""
    defaults = ServerPolicy(
        consent_mode=settings.consent_mode,
        limits=RateLimits(
            user_per_day=settings.limit_user_per_day,
            user_concurrent=settings.limit_user_concurrent,
            server_per_hour=settings.limit_server_per_hour,
            queue_max=settings.queue_max,
            queue_per_server=settings.queue_per_server,
            queue_dm=settings.queue_dm,
        ),
        label_position=settings.label_position,
    )
    return Safety(
        defaults=defaults,
        label_required=settings.label_required,
        asr=bool(settings.asr_model),
        out_dir=settings.out_dir,
        staff=Staff(
            operators={"telegram": settings.admin_ids, "discord": settings.discord_operators},
            mod_roles={"discord": settings.discord_mod_roles},
        ),
    )


def retention_from(settings: BotSettings) -> Retention:
    return Retention(
        media_hours=settings.media_retention_hours,
        output_days=settings.output_retention_days,
        review_hours=settings.review_hours,
        leftover_seconds=settings.render_timeout_max,
        audit_days=settings.audit_retention_days,
        avatar_days=settings.avatar_retention_days,
    )


async def run_bot(settings: BotSettings, *, telegram: bool, discord: bool) -> int:
    """Run until SIGTERM (exit status 0), or until a front-end's connection has been dead for
    ``frontend_timeout_seconds`` (1: the supervisor, e.g. compose, restarts the process)."""
    service, store, queue = await build_service(settings)
    metrics = Metrics.create()
    handle = instrument_handler(service.handle, metrics)
    front_ends = FrontEnds(settings.frontend_timeout_seconds)
    http = await start_bot_http(settings, store, queue, metrics, front_ends)
    studio = None
    if settings.web_port:  # the web studio: a third front-end on this loop, same store
        studio = await start_web(
            service.studio,
            settings.web_host,
            settings.web_port,
            settings.web_url,
            max_upload=settings.max_file_bytes,
        )
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows / threads
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks = [
        asyncio.create_task(
            run_periodically(
                store,
                settings.out_dir,
                retention_from(settings),
                settings.purge_interval_seconds,
                notify=queue.notify,
                media_dir=settings.media_dir,
            )
        ),
        # the job lifecycle: the workers' reports into the store, and no job left behind
        asyncio.create_task(service.jobs.follow()),
        asyncio.create_task(service.jobs.reconcile_every(settings.reconcile_seconds)),
        # batches a limit held back: their next scripts queued as room frees up
        asyncio.create_task(service.batches.resume_every(settings.batch_resume_seconds)),
    ]
    dead: list[str] = []
    try:
        if telegram:
            from bot.chat.adapters.telegram import build_application

            front_ends.watch("telegram")
            app = build_application(
                settings.telegram_bot_token,
                settings.telegram_api_base_url,
                handle,
                per_person=settings.pending_per_person,
                on_poll=lambda: front_ends.alive("telegram"),
            )
            await app.initialize()
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(drop_pending_updates=False)
            log.info("telegram front-end running")
        if discord:
            from bot.chat.adapters.discord import run_discord

            front_ends.watch("discord")
            tasks.append(
                asyncio.create_task(
                    run_discord(
                        settings,
                        handle,
                        on_alive=lambda: front_ends.alive("discord"),
                        suggest=service.avatars.names,
                    )
                )
            )
        tasks.append(asyncio.create_task(_watchdog(front_ends, stop, dead)))
        await stop.wait()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if telegram:
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
            await app.shutdown()
        if http is not None:
            await http.cleanup()
        if studio is not None:
            await studio.cleanup()
        await queue.close()
        await store.close()
    return 1 if dead else 0


async def _watchdog(front_ends: FrontEnds, stop: asyncio.Event, dead: list[str]) -> None:
    """Stop the bot when a front-end has been dead for its timeout: a process restart is
    what revives a polling loop or a gateway client that gave up (compose restarts a
    container that exits; it does not restart one that is merely unhealthy)."""
    while not stop.is_set():
        await asyncio.sleep(min(5.0, front_ends.timeout / 4))
        dead[:] = front_ends.dead()
        if dead:
            log.error(
                "front-end connection dead; exiting to be restarted",
                extra={"front_ends": dead, "seconds": front_ends.timeout},
            )
            stop.set()


async def start_bot_http(
    settings: BotSettings,
    store: Store,
    queue: Queue,
    metrics: Metrics,
    front_ends: FrontEnds | None = None,
) -> web.AppRunner | None:
    """The bot's /healthz (Redis and SQLite answer, each front-end's connection works) and
    /metrics; None when the port is 0."""
    if settings.bot_metrics_port == 0:
        return None

    async def health() -> dict[str, object]:
        redis_ok = await _answers(queue.redis.ping())
        sqlite_ok = await _answers(store.schema_version())
        connections = front_ends.report() if front_ends is not None else {}
        ok = redis_ok and sqlite_ok and all(connections.values())
        return {"ok": ok, "redis": redis_ok, "sqlite": sqlite_ok, **connections}

    async def refresh() -> None:
        metrics.queue_depth.set(await queue.redis.zcard(RENDER_QUEUE))

    return await start_http(
        settings.metrics_host,
        settings.bot_metrics_port,
        health=health,
        metrics=metrics,
        before_scrape=refresh,
    )


async def _answers(check: Awaitable[object]) -> bool:
    try:
        await asyncio.wait_for(check, 1.5)
        return True
    except Exception as e:  # a failed check is reported in the body, not raised
        log.warning("health check failed", extra={"error": type(e).__name__})
        return False
