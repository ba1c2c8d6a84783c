"""Wires the bot process: store + queue + service + the enabled front-ends."""

from __future__ import annotations

import asyncio
import logging

from bot.core.service import Limits, Service
from bot.queue import Queue
from bot.settings import BotSettings
from bot.store import Store

__all__ = ["build_service", "run_bot"]

log = logging.getLogger(__name__)


async def build_service(settings: BotSettings) -> tuple[Service, Store, Queue]:
    store = await Store.open(settings.db_path)
    queue = await Queue.connect(
        settings.redis_url,
        media_ttl=settings.media_ttl_seconds,
        intake_timeout=settings.intake_timeout_seconds,
    )
    limits = Limits(
        max_script_chars=settings.max_script_chars,
        max_script_seconds=settings.max_script_seconds,
        min_voice_seconds=settings.min_voice_seconds,
        max_voice_seconds=settings.max_voice_seconds,
        max_file_bytes=settings.max_file_bytes,
        needs_transcript=settings.needs_transcript,
        label=settings.label or None,
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
    )
    return service, store, queue


async def run_bot(settings: BotSettings, *, telegram: bool, discord: bool) -> None:
    service, store, queue = await build_service(settings)
    stop = asyncio.Event()
    tasks = []
    try:
        if telegram:
            from bot.adapters.telegram import build_application

            app = build_application(
                settings.telegram_bot_token, settings.telegram_api_base_url, service.handle
            )
            await app.initialize()
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(drop_pending_updates=False)
            log.info("telegram front-end running")
        if discord:
            from bot.adapters.discord import run_discord

            tasks.append(asyncio.create_task(run_discord(settings, service.handle)))
        await stop.wait()
    finally:
        for t in tasks:
            t.cancel()
        if telegram:
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
            await app.shutdown()
        await queue.close()
        await store.close()
