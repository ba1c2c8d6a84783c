"""Wires the chat process: store + queue + service + the enabled front-ends, and the job
lifecycle's two loops (the workers' reports into the store; the reconciler) and the one that
queues held batches as room frees up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.chat.adapters.web import start_web, web_secret
from bot.chat.media_server import media_links_from, start_media_server
from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract.jobs import RENDER_QUEUE
from bot.conversation.service import Limits, Service
from bot.db import SPARE_BYTES
from bot.jobs.locks import SharedLanes, leased_every
from bot.observability import FrontEnds, Metrics, instrument_handler, start_http
from bot.safety import (
    ListBounds,
    RateLimits,
    Retention,
    Safety,
    ServerPolicy,
    Staff,
    UploadLimits,
    purge,
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
    store = await Store.open(settings.store_target, spare_bytes=SPARE_BYTES)  # room for deletes
    queue = await Queue.connect(
        settings.redis_url,
        media_ttl=settings.media_ttl_seconds,
        intake_timeout=settings.intake_timeout_seconds,
        # a worker keeps a cached copy at most the media retention: its tombstone outlives it
        tombstone_seconds=(settings.media_retention_hours + 1) * 3600,
        shared=settings.shared_media,
        links=media_links_from(settings),  # the fetch hand-off, when MOUTHPIECE_MEDIA_URL is set
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
        # one person's events one at a time in every chat process on this Redis
        lanes=SharedLanes(queue.redis),
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
        list_bounds=ListBounds(
            blocklist=settings.max_blocklist,
            phrase_chars=settings.max_blocked_phrase_chars,
            channels=settings.max_channels,
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


async def run_bot(settings: BotSettings, *, telegram: bool, discord: bool, web: bool = True) -> int:
    """Run the chosen front-ends (``web``: the studio, when ``MOUTHPIECE_WEB_PORT`` is set)
    until SIGTERM (exit status 0), or until a front-end's connection has been dead for
    ``frontend_timeout_seconds`` (1: the supervisor, e.g. compose, restarts the process).

    One process may run every front-end, or each its own (``python -m bot --telegram``,
    ``--discord``, ``--web``: compose's ``bot-telegram``, ``bot-discord`` and ``bot-web``):
    then a Telegram outage restarts only the Telegram process, never the Discord gateway's.
    Processes share the store (one SQLite file on one box, or PostgreSQL) and Redis."""
    service, store, queue = await build_service(settings)
    metrics = Metrics.create()
    handle = instrument_handler(service.handle, metrics)
    front_ends = FrontEnds(settings.frontend_timeout_seconds)
    http = await start_bot_http(settings, store, queue, metrics, front_ends)
    media = await start_media_server(settings, queue.links, metrics)  # None: no MEDIA_URL
    studio = None
    if web and settings.web_port:  # the web studio: a third front-end on this loop, same store
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
    rules, redis = retention_from(settings), queue.redis

    async def retention_pass() -> None:
        await purge(
            store, settings.out_dir, rules, time.time(), queue.notify, media_dir=settings.media_dir
        )

    async def reconcile_pass() -> None:
        done = await service.jobs.reconcile()
        if done.requeued or done.failed:
            log.warning("jobs reconciled", extra=done.__dict__)

    # Every chat process runs these loops; each pass runs in one process at a time (the
    # holder of its lease in Redis), so several processes never purge, reconcile or queue
    # held batches side by side. The workers' reports are read by every process: a Redis
    # consumer group hands each report to one of them.
    tasks = [
        asyncio.create_task(
            leased_every(redis, "retention", settings.purge_interval_seconds, retention_pass)
        ),
        # the job lifecycle: the workers' reports into the store, and no job left behind
        asyncio.create_task(service.jobs.follow()),
        asyncio.create_task(
            leased_every(redis, "reconcile", settings.reconcile_seconds, reconcile_pass)
        ),
        # batches a limit held back: their next scripts queued as room frees up
        asyncio.create_task(
            leased_every(redis, "batches", settings.batch_resume_seconds, service.batches.resume)
        ),
    ]
    dead: list[str] = []
    stop_telegram: Callable[[], Awaitable[None]] | None = None
    try:
        if telegram:  # long polling, or a webhook when TELEGRAM_WEBHOOK_URL is set
            from bot.chat.adapters.telegram import start_telegram

            front_ends.watch("telegram")
            stop_telegram = await start_telegram(
                settings, handle, on_alive=lambda: front_ends.alive("telegram"), metrics=metrics
            )
        if discord:
            from bot.chat.adapters.discord import run_discord

            front_ends.watch("discord")
            tasks.append(
                asyncio.create_task(
                    run_discord(
                        settings,
                        handle,
                        # "discord" until the shards are known, then "discord/0", ... each
                        liveness=front_ends,
                        metrics=metrics,
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
        if stop_telegram is not None:
            await stop_telegram()
        if http is not None:
            await http.cleanup()
        if studio is not None:
            await studio.cleanup()
        if media is not None:
            await media.cleanup()
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
    """The bot's /healthz (Redis and the store answer, each front-end's connection works) and
    /metrics; None when the port is 0."""
    if settings.bot_metrics_port == 0:
        return None

    async def health() -> dict[str, object]:
        redis_ok = await _answers(queue.redis.ping())
        store_ok = await _answers(store.schema_version())
        connections = front_ends.report() if front_ends is not None else {}
        ok = redis_ok and store_ok and all(connections.values())
        kind = store.database.dialect.name  # "sqlite" (the key it always had) or "postgres"
        return {"ok": ok, "redis": redis_ok, "store": store_ok, kind: store_ok, **connections}

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
