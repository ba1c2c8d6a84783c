"""Telegram webhook mode: Telegram POSTs each update to a public https address, instead of
the bot asking for updates (long polling).

A TLS reverse proxy forwards that address's path to a small aiohttp server here (aiohttp is
already the chat process's web server; PTB's own webhook server would bring in tornado, and
its refusals could be neither bounded nor counted). Only requests carrying the secret given
to ``setWebhook`` are accepted: anyone who finds the address could otherwise forge updates
claiming to come from any user, an operator included. An accepted update goes on PTB's
update queue and is answered 200 at once; it is then handled exactly as a polled one.

Liveness: with no polls, a periodic ``getWebhookInfo`` proves the Bot API answers. It also
logs Telegram's last delivery error (a proxy that refuses, a certificate Telegram rejects)
and sets the webhook again when something removed or changed it (a copy of the bot polling
with the same token deletes it).

The webhook stays set when the bot stops: Telegram keeps the updates and retries them, so a
restart loses nothing, and a stopping process never deletes the webhook a newer one set.
Polling mode deletes it at start (PTB's ``start_polling`` calls ``deleteWebhook`` first).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Bot, Update, WebhookInfo
from telegram.ext import Application

__all__ = ["MAX_BODY", "SECRET_HEADER", "Webhook", "start_webhook"]

log = logging.getLogger(__name__)

#: the largest body accepted, in bytes: an update is a few KB (files travel as ids)
MAX_BODY = 1 << 20
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: update ids remembered, to drop one Telegram delivers again (our 200 was lost on the way)
_RECENT = 1024
_CHUNK = 64 * 1024
Refused = Callable[[str], None]
Stop = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Webhook:
    """Where Telegram posts (``url``), what it must send (``secret``), where we listen."""

    url: str
    secret: str
    host: str
    port: int
    allowed_updates: tuple[str, ...]
    check_seconds: float = 60.0  # how often getWebhookInfo proves the Bot API answers
    max_connections: int = 40  # deliveries Telegram may have open at once

    @property
    def path(self) -> str:
        """The path the proxy forwards: the URL's, ``/`` when it has none."""
        return urlsplit(self.url).path or "/"


async def start_webhook(
    app: Application,
    hook: Webhook,
    *,
    on_alive: Callable[[], None],
    refused: Refused,
) -> Stop:
    """Serve ``hook.path``, set the webhook at Telegram, check on it every
    ``hook.check_seconds`` (``on_alive`` when the Bot API answers). ``refused(reason)`` is
    told of every refused request. ``app`` must be started (it reads its update queue).
    Returns the coroutine function that stops serving and checking; the webhook stays set."""
    runner = await _serve(app, hook, refused)
    try:
        await _set(app.bot, hook)
    except BaseException:
        await runner.cleanup()
        raise
    log.info("telegram webhook set", extra={"url": hook.url, "port": hook.port})
    checks = asyncio.create_task(_check_every(app.bot, hook, on_alive))

    async def stop() -> None:
        checks.cancel()
        await asyncio.gather(checks, return_exceptions=True)
        await runner.cleanup()

    return stop


async def _set(bot: Bot, hook: Webhook) -> None:
    await bot.set_webhook(
        hook.url,
        secret_token=hook.secret,
        allowed_updates=list(hook.allowed_updates),
        drop_pending_updates=False,
        max_connections=hook.max_connections,
    )


async def _serve(
    app: Application,
    hook: Webhook,
    refused: Refused,
) -> web.AppRunner:
    server = web.Application(client_max_size=MAX_BODY)
    server.router.add_post(hook.path, _Receiver(app, hook.secret, refused).receive)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, hook.host, hook.port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


class _Receiver:
    """The one route: check the secret, bound and parse the body, queue the update."""

    def __init__(
        self,
        app: Application,
        secret: str,
        refused: Refused,
    ) -> None:
        self._app = app
        self._secret = secret.encode()
        self._refused = refused
        self._recent: OrderedDict[int, None] = OrderedDict()

    async def receive(self, request: web.Request) -> web.Response:
        if not self._authentic(request):
            return self._refuse(request, "secret", 403)
        body = await _bounded_body(request, MAX_BODY)
        if body is None:
            return self._refuse(request, "too_large", 413)
        update = self._parse(body)
        if update is None:
            return self._refuse(request, "bad_body", 400)
        if self._first_time(update.update_id):
            await self._app.update_queue.put(update)
        else:
            log.info("telegram update delivered twice; dropped", extra={"update": update.update_id})
        return web.Response()

    def _authentic(self, request: web.Request) -> bool:
        given = request.headers.get(SECRET_HEADER)
        # bytes: compare_digest takes str only when ASCII, and a header may be anything
        return given is not None and hmac.compare_digest(given.encode(), self._secret)

    def _refuse(self, request: web.Request, reason: str, status: int) -> web.Response:
        self._refused(reason)
        # the header's value is never logged: a wrong guess may be a near miss of the secret
        log.warning(
            "telegram webhook request refused",
            extra={"reason": reason, "status": status, "remote": request.remote},
        )
        return web.Response(status=status)

    def _parse(self, body: bytes) -> Update | None:
        try:
            data: Any = json.loads(body)
        except ValueError:  # not JSON, or not UTF-8
            return None
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            return None
        try:
            return Update.de_json(data, self._app.bot)
        except Exception:  # PTB raises whatever a malformed field makes it raise
            return None

    def _first_time(self, update_id: int) -> bool:
        if update_id in self._recent:
            return False
        self._recent[update_id] = None
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        return True


async def _bounded_body(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is longer than ``limit`` (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    while chunk := await request.content.read(_CHUNK):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def _check_every(bot: Bot, hook: Webhook, on_alive: Callable[[], None]) -> None:
    last_error: datetime | None = None
    while True:
        try:
            info = await bot.get_webhook_info()
        except Exception as e:  # unreachable: not alive; the watchdog decides what then
            log.warning("telegram getWebhookInfo failed", extra={"error": type(e).__name__})
        else:
            on_alive()
            last_error = _report(info, last_error)
            if info.url != hook.url:
                await _set_again(bot, hook, info.url)
        await asyncio.sleep(hook.check_seconds)


def _report(info: WebhookInfo, seen: datetime | None) -> datetime | None:
    """Log a delivery error Telegram reports that was not logged before."""
    if info.last_error_date is not None and info.last_error_date != seen:
        log.warning(
            "telegram reports a webhook delivery error",
            extra={
                "error": info.last_error_message or "",
                "at": info.last_error_date.isoformat(),
                "pending": info.pending_update_count,
            },
        )
    else:
        log.debug("telegram webhook checked", extra={"pending": info.pending_update_count})
    return info.last_error_date


async def _set_again(bot: Bot, hook: Webhook, found: str) -> None:
    log.warning(
        "telegram webhook was removed or changed; setting it again",
        extra={"found": found or "(none)", "url": hook.url},
    )
    try:
        await _set(bot, hook)
    except Exception as e:  # tried again at the next check
        log.warning("setting the telegram webhook failed", extra={"error": type(e).__name__})
