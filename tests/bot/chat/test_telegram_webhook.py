"""Telegram webhook mode end to end: ``run_bot`` as ``python -m bot`` runs it, the real
python-telegram-bot, the Bot API stand-in POSTing updates to the bot's webhook server (with
the secret header, retried until answered 2xx), a real redis-server.

Also: requests that are not Telegram's are refused and counted, the secret is never logged,
getWebhookInfo keeps the front-end alive and puts a removed webhook back, and polling mode
deletes a webhook left set before it polls."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import observability
from bot.chat.adapters.telegram_webhook import MAX_BODY, SECRET_HEADER
from bot.contract import texts
from bot.settings import BotSettings
from tests.auxil.redis_server import free_port, redis_server
from tests.auxil.system import bot_process
from tests.auxil.telegram_server import TelegramStandIn

CHAT = 777
TOKEN = "123:TEST"


@dataclass
class Running:
    tg: TelegramStandIn
    settings: BotSettings
    bot: asyncio.Task[int]

    @property
    def hook(self) -> str:
        return self.settings.telegram_webhook_url

    @property
    def secret(self) -> str:
        return self.settings.telegram_webhook_secret_token

    async def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.settings.bot_metrics_port}{path}"
        async with aiohttp.ClientSession() as s, s.get(url) as resp:
            return resp.status, await resp.text()

    async def post(self, body: bytes | Any, headers: dict[str, str] | None = None) -> int:
        """POST ``body`` (bytes, or an async iterator of them: sent chunked, no length)."""
        data = io.BytesIO(body) if isinstance(body, bytes) else body
        async with aiohttp.ClientSession() as s, s.post(self.hook, data=data, headers=headers) as r:
            return r.status

    async def refused(self, reason: str) -> float:
        _, text = await self.get("/metrics")
        line = f'mouthpiece_telegram_webhook_refused_total{{reason="{reason}"}}'
        return float(next(x for x in text.splitlines() if x.startswith(line)).split()[-1])


@asynccontextmanager
async def running(
    tmp: Path, *, webhook: bool = True, tg: TelegramStandIn | None = None, **overrides: Any
) -> AsyncIterator[Running]:
    """The chat process (webhook mode unless ``webhook=False``) against the stand-in, once
    it set its webhook (or polled); stopped at the end."""
    tg = tg or TelegramStandIn()
    if not tg.url:
        await tg.start()
    port = free_port()
    with redis_server(tmp) as url:
        settings = BotSettings(
            telegram_bot_token=TOKEN,
            telegram_api_base_url=tg.url,
            redis_url=url,
            data_dir=tmp / "data",
            metrics_host="127.0.0.1",
            bot_metrics_port=free_port(),
            telegram_webhook_url=f"http://127.0.0.1:{port}/telegram" if webhook else "",
            telegram_webhook_host="127.0.0.1",
            telegram_webhook_port=port,
            **overrides,
        )
        try:
            async with bot_process(settings) as bot:
                ready = (lambda: tg.hook is not None) if webhook else (lambda: tg.polls > 0)
                await _until(lambda: ready() or bot.done(), "the bot never started receiving")
                if bot.done():
                    bot.result()  # raises what stopped it
                yield Running(tg, settings, bot)
        finally:
            await tg.stop()


async def _until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def said(tg: TelegramStandIn, act: Callable[[], None], expect: str) -> None:
    before = len(tg.texts(CHAT))
    act()
    await tg.wait_for(lambda: any(t.startswith(expect) for t in tg.texts(CHAT)[before:]), 30)


# ---- a conversation by webhook --------------------------------------------------------------
def test_a_conversation_arrives_by_webhook_and_the_webhook_stays_set(tmp_path: Path) -> None:
    async def go() -> None:
        async with running(tmp_path) as r:
            tg = r.tg
            await said(tg, lambda: tg.send_text(CHAT, "/talk"), texts.START)
            await said(tg, lambda: tg.send_text(CHAT, "Hello there, friends."), "Script received")
            await said(tg, lambda: tg.send_text(CHAT, "/help"), texts.HELP)
            assert tg.polls == 0, "updates came by polling"
            assert [d.update_id for d in tg.deliveries] == [1, 2, 3]
            assert {(d.status, d.secret) for d in tg.deliveries} == {(200, r.secret)}
            (set_hook,) = [c for c in tg.calls if c.method == "setWebhook"]
            assert set_hook.params["url"] == r.hook
            assert set_hook.params["secret_token"] == r.secret
            assert tg.hook is not None
            assert tg.hook.allowed_updates == ["message", "callback_query"]
            assert set_hook.params["drop_pending_updates"] in ("false", False)
        # stopped: the webhook stays set (Telegram keeps and retries updates for the restart)
        assert tg.hook is not None and "deleteWebhook" not in tg.webhook_calls()

    asyncio.run(go())


def test_the_secret_is_derived_from_the_token_unless_given() -> None:
    a = BotSettings(telegram_bot_token="1:A").telegram_webhook_secret_token
    assert a == BotSettings(telegram_bot_token="1:A").telegram_webhook_secret_token  # stable
    assert a != BotSettings(telegram_bot_token="1:B").telegram_webhook_secret_token
    assert len(a) >= 32 and a.isalnum()
    given = "s" * 32
    assert BotSettings(telegram_webhook_secret=given).telegram_webhook_secret_token == given


# ---- refusals ---------------------------------------------------------------------------------
def test_requests_without_the_secret_or_a_sound_body_are_refused_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # every logger at the level production lets through (bot.observability's floors), but
    # without its redaction: the secret must not reach a log record in the first place
    caplog.set_level(logging.DEBUG)
    for name, floor in observability._QUIET.items():
        caplog.set_level(floor, logger=name)
    wrong = "w" * 40
    ada = {"id": 5, "is_bot": False, "first_name": "Ada"}
    message = {"message_id": 1, "date": 0, "from": ada, "chat": {"id": 5, "type": "private"}}
    update = json.dumps({"update_id": 99, "message": {**message, "text": "hi"}}).encode()

    async def go() -> None:
        async with running(tmp_path) as r:
            tg, mine = r.tg, {SECRET_HEADER: r.secret}
            assert await r.post(update) == 403
            assert await r.post(update, {SECRET_HEADER: wrong}) == 403
            assert await r.post(update, {SECRET_HEADER: r.secret[:-1]}) == 403
            assert await r.post(update, {SECRET_HEADER: "é" * 40}) == 403  # not ASCII
            assert await r.refused("secret") == 4
            assert await r.post(b"x" * (MAX_BODY + 1), mine) == 413  # says its length
            assert await r.post(_chunks(MAX_BODY + 1), mine) == 413  # does not
            assert await r.refused("too_large") == 2
            for body in (b"not json", b"[1, 2]", b'{"message": {}}', b"\xff\xfe"):
                assert await r.post(body, mine) == 400
            assert await r.refused("bad_body") == 4
            assert tg.texts(5) == []  # nothing refused was handled
            # the right secret: accepted (200) and answered; the same update again: dropped
            assert await r.post(update, mine) == 200
            await tg.wait_for(lambda: len(tg.texts(5)) == 1, 30)
            assert await r.post(update, mine) == 200
            await asyncio.sleep(0.5)
            assert len(tg.texts(5)) == 1

    asyncio.run(go())
    refusals = [r for r in caplog.records if r.getMessage() == "telegram webhook request refused"]
    assert sorted({r.reason for r in refusals}) == ["bad_body", "secret", "too_large"]  # type: ignore[attr-defined]
    secret = BotSettings(telegram_bot_token=TOKEN).telegram_webhook_secret_token
    for record in caplog.records:
        text = f"{record.getMessage()} {record.__dict__}"
        assert secret not in text and wrong not in text, record


async def _chunks(size: int) -> AsyncIterator[bytes]:
    for start in range(0, size, 100_000):
        yield b"x" * min(100_000, size - start)


def test_the_logs_redact_the_webhook_secret() -> None:
    """Should a library log it anyway (PTB's DEBUG lines carry setWebhook's parameters)."""
    settings = BotSettings(telegram_bot_token=TOKEN, log_level="DEBUG")
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    quiet = {n: logging.getLogger(n).level for n in observability._QUIET}
    try:
        handler = observability.logging_from_settings(settings)
        (redact,) = [f for f in handler.filters if isinstance(f, observability.RedactTokens)]
        assert settings.telegram_webhook_secret_token in redact.secrets
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)


# ---- liveness ---------------------------------------------------------------------------------
def test_getwebhookinfo_keeps_it_alive_and_a_removed_webhook_is_set_again(tmp_path: Path) -> None:
    """No polls in webhook mode: getWebhookInfo (every timeout/3) proves the Bot API answers,
    past the front-end timeout; a webhook someone deleted is set again, and updates flow."""

    async def go() -> None:
        async with running(tmp_path, frontend_timeout_seconds=1.5) as r:
            tg = r.tg
            await asyncio.sleep(2.5)  # longer than the timeout
            assert not r.bot.done(), "the watchdog stopped a live webhook front-end"
            status, body = await r.get("/healthz")
            assert status == 200 and '"telegram": true' in body
            assert tg.webhook_calls().count("getWebhookInfo") >= 3
            tg.delete_webhook()
            tg.send_text(CHAT, "/help")  # waits: no webhook, and the bot does not poll
            await tg.wait_for(lambda: tg.texts(CHAT) == [texts.HELP], 10)
            assert tg.webhook_calls().count("setWebhook") == 2 and tg.polls == 0

    asyncio.run(go())


def test_polling_mode_deletes_a_webhook_left_set_first(tmp_path: Path) -> None:
    """Back to polling after webhook mode: Telegram refuses getUpdates (409) while a webhook
    is set, so the start deletes it, then polls."""

    async def go() -> None:
        tg = TelegramStandIn()
        await tg.start()
        set_hook = f"{tg.url}/bot{TOKEN}/setWebhook"
        async with (
            aiohttp.ClientSession() as s,
            s.post(set_hook, json={"url": "http://127.0.0.1:9/x"}),
        ):
            pass
        assert tg.hook is not None
        async with running(tmp_path, webhook=False, tg=tg) as r:
            assert tg.hook is None and tg.webhook_calls()[-1] == "deleteWebhook"
            await said(r.tg, lambda: tg.send_text(CHAT, "/help"), texts.HELP)

    asyncio.run(go())


# ---- settings -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"telegram_webhook_url": "http://bot.example.org/telegram"}, "TELEGRAM_WEBHOOK_URL"),
        ({"telegram_webhook_url": "ftp://bot.example.org/"}, "TELEGRAM_WEBHOOK_URL"),
        ({"telegram_webhook_url": "https:///telegram"}, "TELEGRAM_WEBHOOK_URL"),
        ({"telegram_webhook_secret": "short"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"telegram_webhook_secret": "a" * 31 + "!"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"telegram_webhook_secret": "a" * 257}, "TELEGRAM_WEBHOOK_SECRET"),
        (
            {"telegram_webhook_url": "https://bot.example.org/t", "telegram_webhook_port": 0},
            "TELEGRAM_WEBHOOK_PORT",
        ),
    ],
)
def test_bad_webhook_settings_are_refused(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        BotSettings(**changes)


def test_webhook_settings_are_read_from_the_environment() -> None:
    s = BotSettings.from_env(
        {
            "TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram",
            "TELEGRAM_WEBHOOK_SECRET": "A-z_09" * 6,
            "TELEGRAM_WEBHOOK_HOST": "0.0.0.0",
            "TELEGRAM_WEBHOOK_PORT": "9443",
        },
        dotenv=None,
    )
    assert s.telegram_webhook_url == "https://bot.example.org/telegram"
    assert s.telegram_webhook_secret_token == "A-z_09" * 6
    assert (s.telegram_webhook_host, s.telegram_webhook_port) == ("0.0.0.0", 9443)
    assert BotSettings(telegram_webhook_url="http://localhost:8443/t").telegram_webhook_url
