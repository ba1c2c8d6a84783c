"""/healthz says whether each front-end's connection works, and the bot exits (to be
restarted by compose) when one has been dead for MOUTHPIECE_FRONTEND_TIMEOUT_SECONDS.

Telegram: the real python-telegram-bot polling the Bot API stand-in, which is then shut
down. Discord: the client's gateway events (connect, disconnect) drive the same report."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from bot.chat.adapters.discord import MouthpieceClient
from bot.chat.adapters.telegram import build_application
from bot.chat.app import build_service, run_bot, start_bot_http
from bot.observability import FrontEnds, Metrics, bound_port
from bot.settings import BotSettings
from tests.auxil.ptb import polling
from tests.auxil.redis_server import free_port, redis_server
from tests.auxil.telegram_server import TelegramStandIn


def test_front_ends_report_and_die_after_their_timeout() -> None:
    now = [100.0]
    ends = FrontEnds(10.0, clock=lambda: now[0])
    ends.watch("telegram")
    ends.watch("discord")
    assert ends.report() == {"telegram": True, "discord": True}  # a grace period to connect
    now[0] = 108.0
    ends.alive("telegram")
    now[0] = 111.0
    assert ends.report() == {"telegram": True, "discord": False}
    assert ends.dead() == ["discord"]


async def _health(port: int) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as resp,
    ):
        return resp.status, await resp.json()


def test_healthz_turns_unhealthy_when_telegram_polling_dies(tmp_path: Path) -> None:
    async def go(url: str) -> None:
        tg = TelegramStandIn()
        await tg.start()
        settings = BotSettings(
            telegram_bot_token="123:TEST",
            telegram_api_base_url=tg.url,
            redis_url=url,
            data_dir=tmp_path / "data",
            bot_metrics_port=0,
        )
        service, store, queue = await build_service(settings)
        ends = FrontEnds(1.5)
        ends.watch("telegram")
        polled = asyncio.Event()

        def on_poll() -> None:
            ends.alive("telegram")
            polled.set()

        app = build_application("123:TEST", tg.url, service.handle, on_poll=on_poll)
        listen = BotSettings(bot_metrics_port=free_port(), metrics_host="127.0.0.1")
        http = await start_bot_http(listen, store, queue, Metrics.create(), ends)
        assert http is not None
        port = bound_port(http)
        try:
            async with polling(app):
                await _goes_unhealthy(tg, polled, port)
        finally:
            await http.cleanup()
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


async def _goes_unhealthy(tg: TelegramStandIn, polled: asyncio.Event, port: int) -> None:
    await asyncio.wait_for(polled.wait(), 10)
    status, body = await _health(port)
    assert status == 200 and body["telegram"] is True and body["ok"] is True
    await tg.stop()  # Telegram unreachable from now on
    deadline = time.monotonic() + 10
    while (await _health(port))[0] == 200:
        assert time.monotonic() < deadline, "still healthy long after polling died"
        await asyncio.sleep(0.2)
    status, body = await _health(port)
    assert status == 503 and body["telegram"] is False
    assert body["redis"] is True and body["sqlite"] is True


def test_the_bot_exits_when_polling_stays_dead(tmp_path: Path) -> None:
    """run_bot, as `python -m bot` runs it: exit status 1 once Telegram has been unreachable
    for the timeout (compose's `restart: unless-stopped` then starts it again)."""

    async def go(url: str) -> None:
        tg = TelegramStandIn()
        await tg.start()
        settings = BotSettings(
            telegram_bot_token="123:TEST",
            telegram_api_base_url=tg.url,
            redis_url=url,
            data_dir=tmp_path / "data",
            bot_metrics_port=0,
            frontend_timeout_seconds=2.0,
            purge_interval_seconds=3600.0,
        )
        bot = asyncio.create_task(run_bot(settings, telegram=True, discord=False))
        deadline = time.monotonic() + 15
        while not tg.calls:  # getMe at start-up
            assert time.monotonic() < deadline and not bot.done()
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        assert not bot.done(), "the bot stopped while Telegram answered"
        await tg.stop()
        assert await asyncio.wait_for(bot, 30) == 1

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_discord_reports_each_shard_alive_only_while_its_session_is_live() -> None:
    """The shard events drive the report: a shard is reported alive while its gateway session
    is live (READY or RESUMED), never after it disconnected; the others are unaffected."""

    async def go() -> None:
        now = [0.0]
        ends = FrontEnds(10.0, clock=lambda: now[0])

        async def handle(event: object) -> list[object]:
            return []

        client = MouthpieceClient(handle, shard_count=2, liveness=ends)  # type: ignore[arg-type]
        client._watch_shards([0, 1])
        await client.on_shard_connect(0)
        await client.on_shard_connect(1)
        now[0] = 20.0  # past the timeout: what counts is the next report
        client.report_liveness()
        assert ends.report() == {"discord/0": True, "discord/1": True, "discord": True}
        await client.on_shard_disconnect(1)
        now[0] = 40.0
        client.report_liveness()
        assert ends.report() == {"discord/0": True, "discord/1": False, "discord": False}
        await client.on_shard_resumed(1)
        now[0] = 60.0
        client.report_liveness()
        assert ends.report()["discord"] is True  # never logged in: nothing to close

    asyncio.run(go())
