"""The one system harness for end-to-end tests of the bot: the chat process (python-telegram-bot
or discord.py against the platform stand-ins, the real service and store), a worker's arq
workers on the test's loop with the embedded engine, and the Discord interaction payloads the
gateway stand-in delivers. Builders, not copies: the tests import these."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from arq import Worker
from arq.connections import RedisSettings
from discord.gateway import KeepAliveHandler

from bot.chat.adapters.discord import MouthpieceClient, run_discord, use_api_base, use_gateway
from bot.chat.adapters.telegram import build_application
from bot.chat.app import build_service, run_bot
from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract.jobs import INTAKE_QUEUE
from bot.conversation.flow import Draft
from bot.conversation.service import Service
from bot.jobs.redis import ARQ_CODEC
from bot.settings import BotSettings
from bot.worker import CTX_KEY, WorkerContext, build_workers, close_worker
from engine import Engine
from tests.auxil.discord_server import APP_ID, DiscordStandIn, user
from tests.auxil.ptb import polling
from tests.auxil.redis_server import redis_server
from tests.auxil.telegram_server import TelegramStandIn

GUILD, CHANNEL, MEMBER, MODERATOR, ROLE_MOD = "300", "900", "42", "7", "8"
#: a member's own rights to post a video in the channel (bot.safety.rights): View Channel,
#: Send Messages, Attach Files
CAN_POST = 1024 | 2048 | 32768
MOD_ROLE_ID = "777"
_ids = itertools.count(5000)


@asynccontextmanager
async def intake_worker(
    url: str, functions: list[Any], context: WorkerContext
) -> AsyncIterator[Worker]:
    """One arq worker on the intake queue of the Redis at ``url``, running ``functions`` with
    ``context`` on this loop; stopped at the end."""
    worker = Worker(
        functions=functions,
        queue_name=INTAKE_QUEUE,
        burst=False,
        poll_delay=0.05,
        redis_settings=RedisSettings.from_dsn(url),
        **ARQ_CODEC,
        handle_signals=False,
        ctx={CTX_KEY: context},
    )
    task = asyncio.create_task(worker.main())
    try:
        yield worker
    finally:
        await close_worker(worker)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def redis_url_of(queue: Any) -> str:
    """The URL of the Redis a queue client talks to."""
    kw = queue.redis.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/0"


@asynccontextmanager
async def engine_workers(settings: BotSettings, engine: Engine) -> AsyncIterator[list[Worker]]:
    """A worker process's two arq workers on this loop; stopped at the end."""
    running = build_workers(settings, engine)
    tasks = [asyncio.create_task(w.main()) for w in running]
    try:
        yield running
    finally:
        for w in running:
            await close_worker(w)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@asynccontextmanager
async def chat_service(settings: BotSettings) -> AsyncIterator[tuple[Service, Store, Queue]]:
    """The chat process's service, store and Redis client as ``python -m bot`` builds them;
    closed at the end."""
    service, store, queue = await build_service(settings)
    try:
        yield service, store, queue
    finally:
        await queue.close()
        await store.close()


@asynccontextmanager
async def telegram_bot(settings: BotSettings) -> AsyncIterator[tuple[TelegramStandIn, Service]]:
    """The bot process: the Bot API stand-in, the service, python-telegram-bot polling."""
    tg = TelegramStandIn()
    await tg.start()
    settings = with_settings(settings, telegram_api_base_url=tg.url)
    try:
        async with chat_service(settings) as (service, _, _):
            app = build_application(settings.telegram_bot_token, tg.url, service.handle)
            async with polling(app):
                yield tg, service
    finally:
        await tg.stop()


@asynccontextmanager
async def bot_process(
    settings: BotSettings, *, telegram: bool = True, discord: bool = False
) -> AsyncIterator[asyncio.Task[int]]:
    """``run_bot`` as ``python -m bot`` runs it, in a task on this loop; cancelled at the end
    (what a SIGTERM does, without the signal)."""
    bot = asyncio.create_task(run_bot(settings, telegram=telegram, discord=discord))
    try:
        yield bot
    finally:
        bot.cancel()
        await asyncio.gather(bot, return_exceptions=True)


@asynccontextmanager
async def discord_front_end(
    dc: DiscordStandIn, settings: BotSettings, handle: Any, **options: Any
) -> AsyncIterator[None]:
    """The bot's Discord front-end as ``python -m bot`` runs it (``options``: run_discord's,
    e.g. ``liveness``), until it has IDENTIFYed."""
    bot = asyncio.create_task(run_discord(settings, handle, **options))
    try:
        await dc.wait_for(lambda: dc.identified or bot.done(), timeout=30)
        if bot.done():
            bot.result()  # raises what stopped it
        yield
    finally:
        bot.cancel()
        await asyncio.gather(bot, return_exceptions=True)
        use_api_base(BotSettings().discord_api_base_url)
        use_gateway(None)
        await asyncio.to_thread(_stop_heartbeats)


def _stop_heartbeats() -> None:
    """Stop discord.py's heartbeat threads still running. A shard cancelled in the middle of
    its handshake (a dropped shard reconnecting, its IDENTIFY never answered) keeps its
    heartbeat thread: on its next beat after this test's event loop has closed, the thread
    fails ("Event loop is closed") and the heartbeat it made is never awaited, which pytest
    reports in whichever test of this process runs then. (``python -m bot`` exits with its
    loop, and the threads are daemons.)"""
    for thread in threading.enumerate():
        if isinstance(thread, KeepAliveHandler):
            thread.stop()
            thread.join(timeout=5)


def ready_draft(draft_id: str, voice: str = "v" * 64, script: str = "Hello there.") -> Draft:
    """A draft with everything and consent given: the next press of Render submits it."""
    return Draft(
        id=draft_id,
        state="confirm",
        script=script,
        voice_hash=voice,
        photo_hash="p" * 64,
        consent=True,
    )


def with_settings(settings: BotSettings, **changes: Any) -> BotSettings:
    from dataclasses import replace

    return replace(settings, **changes)


async def said(tg: TelegramStandIn, chat: int, act: Callable[[], None], expect: str) -> None:
    """Act, then wait for a new message in ``chat`` that starts with ``expect``."""
    before = len(tg.texts(chat))
    act()
    await tg.wait_for(
        lambda: any(t.startswith(expect) for t in tg.texts(chat)[before:]), timeout=120
    )


def member(uid: str, permissions: int, roles: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "user": user(uid),
        "roles": list(roles),
        "permissions": str(permissions),
        "joined_at": "2026-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
    }


def guild_interaction(
    kind: int,
    data: dict[str, Any],
    member: dict[str, Any],
    guild: str = GUILD,
    in_channel: str = CHANNEL,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": str(next(_ids)),
        "application_id": APP_ID,
        "type": kind,
        "token": f"tok{next(_ids)}",
        "version": 1,
        "guild_id": guild,
        "channel_id": in_channel,
        "channel": {
            "id": in_channel,
            "type": 0,
            "guild_id": guild,
            "name": "general",
            "position": 0,
        },
        "member": member,
        "locale": "en-US",
        "guild_locale": "en-US",
        "data": data,
        "attachment_size_limit": 10 * 1024 * 1024,
        **extra,
    }


def mod_command(sub: str, options: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "88",
        "name": "mod",
        "type": 1,
        "options": [{"name": sub, "type": 1, "options": options}],
    }
    users = [o["value"] for o in options if o["type"] == 6]
    if users:
        data["resolved"] = {
            "users": {u: user(u) for u in users},
            "members": {u: {k: v for k, v in member(u, 0).items() if k != "user"} for u in users},
        }
    return data


@asynccontextmanager
async def discord_system(
    tmp: Path, *, stand_in: DiscordStandIn | None = None, **settings: Any
) -> AsyncIterator[tuple[DiscordStandIn, MouthpieceClient, Store, Service]]:
    """The chat process alone (no worker) on Discord: the REST stand-in (or ``stand_in``), a
    private Redis, the service, discord.py logged in through the stand-in."""
    dc = stand_in or DiscordStandIn()
    await dc.start()
    with redis_server(tmp) as url:
        config = BotSettings(
            discord_bot_token="TEST",
            discord_api_base_url=dc.api,
            redis_url=url,
            data_dir=tmp / "data",
            discord_mod_role=MOD_ROLE_ID,
            **settings,
        )
        try:
            async with chat_service(config) as (service, store, _):
                use_api_base(dc.api)
                client = MouthpieceClient(
                    service.handle,
                    max_file_bytes=config.max_file_bytes,
                    suggest=service.avatars.names,
                )
                await client.login("TEST")
                try:
                    yield dc, client, store, service
                finally:
                    await client.close()
        finally:
            await dc.stop()


def with_button(dc: DiscordStandIn, custom_id: str) -> dict[str, Any]:
    """A channel message carrying one button (discord.py finds pressed items in it)."""
    row = {"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": custom_id}]}
    return dc.message(CHANNEL, {"components": [row]})


def followup_texts(dc: DiscordStandIn) -> list[str]:
    return [(r.json or {}).get("content", "") for r in dc.followups()]


@asynccontextmanager
async def telegram_system(
    tmp: Path, admins: str = "", *, concurrent: bool = True, **overrides: Any
) -> AsyncIterator[tuple[TelegramStandIn, Service, Store]]:
    """The chat process alone (no worker) on Telegram: the Bot API stand-in, a private Redis,
    the service, python-telegram-bot polling (``concurrent``: updates run side by side, in
    per-person lanes)."""
    tg = TelegramStandIn()
    await tg.start()
    with redis_server(tmp) as url:
        settings = BotSettings(
            telegram_bot_token="123:TEST",
            telegram_api_base_url=tg.url,
            redis_url=url,
            data_dir=tmp / "data",
            telegram_admin_ids=admins,
            **overrides,
        )
        try:
            async with chat_service(settings) as (service, store, _):
                app = build_application(
                    settings.telegram_bot_token, tg.url, service.handle, concurrent=concurrent
                )
                async with polling(app):
                    yield tg, service, store
        finally:
            await tg.stop()
