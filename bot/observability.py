"""Operations: Prometheus metrics, the ``/healthz`` + ``/metrics`` HTTP server, JSON logs.

Both processes use this module: the bot (``python -m bot``) and each worker
(``python -m bot.worker``) serve ``GET /healthz`` and ``GET /metrics`` on their own port.
Metrics live in a private :class:`~prometheus_client.CollectorRegistry` per process (one
:class:`Metrics` object), so tests can build as many as they like.

Logs are one JSON object per line; bot tokens are redacted from every record, whatever logger
it comes from, because HTTP client libraries put them in URLs and exception texts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from bot.contract.events import Action, Event
from bot.contract.jobs import FINAL_STATES, RENDER_QUEUE

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.settings import BotSettings

__all__ = [
    "FrontEnds",
    "Metrics",
    "OUTCOMES",
    "PLATFORMS",
    "WEBHOOK_REFUSALS",
    "start_http",
    "start_worker_http",
    "bound_port",
    "instrument_handler",
    "configure_logging",
    "logging_from_settings",
    "redact",
    "RedactTokens",
    "JsonFormatter",
]

log = logging.getLogger(__name__)

OUTCOMES = (*(str(s) for s in FINAL_STATES), "retried")
PLATFORMS = ("telegram", "discord")
#: why the Telegram webhook refused a request: no or a wrong secret header, a body over the
#: bound, a body that is not one JSON update
WEBHOOK_REFUSALS = ("secret", "too_large", "bad_body")
HEALTH_TIMEOUT = 2.0  # seconds a health check or a pre-scrape callback may take

# Renders take seconds on a GPU and up to hours on a CPU; stages are shorter; the bot's
# update handling is milliseconds, except uploads that wait for a worker's intake check.
_RENDER_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
_STAGE_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_UPDATE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

Health = Callable[[], Awaitable[dict[str, object]]]
Handler = Callable[[Event], Awaitable[list[Action]]]


# ---- metrics -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metrics:
    """Every metric of both processes, in one private registry.

    Worker: ``jobs``, ``render_seconds``, ``stage_seconds``, ``delivery_failures``.
    Bot: ``updates``, ``update_seconds``. Both: ``queue_depth`` (set at scrape time).
    """

    registry: CollectorRegistry
    queue_depth: Gauge
    jobs: Counter  # labels: outcome (one of OUTCOMES)
    render_seconds: Histogram
    stage_seconds: Histogram  # labels: stage
    delivery_failures: Counter  # labels: platform
    updates: Counter  # labels: platform
    update_seconds: Histogram  # labels: platform
    webhook_refused: Counter  # labels: reason (one of WEBHOOK_REFUSALS)
    discord_shard_up: Gauge  # labels: shard (1: its gateway session is live)
    discord_shard_latency: Gauge  # labels: shard (heartbeat to its acknowledgement)
    # labels: reason (bot.jobs.media_links.LinkRefusal; the media server zeroes each)
    media_refused: Counter

    @classmethod
    def create(cls) -> Metrics:
        reg = CollectorRegistry(auto_describe=True)
        m = cls(
            registry=reg,
            queue_depth=Gauge(
                "mouthpiece_queue_depth", "Render jobs waiting in the queue", registry=reg
            ),
            jobs=Counter(
                "mouthpiece_jobs", "Render jobs finished, by outcome", ["outcome"], registry=reg
            ),
            render_seconds=Histogram(
                "mouthpiece_render_seconds",
                "Wall time of one render, inputs to encoded MP4",
                buckets=_RENDER_BUCKETS,
                registry=reg,
            ),
            stage_seconds=Histogram(
                "mouthpiece_stage_seconds",
                "Wall time of one render stage",
                ["stage"],
                buckets=_STAGE_BUCKETS,
                registry=reg,
            ),
            delivery_failures=Counter(
                "mouthpiece_delivery_failures",
                "Failed attempts to send a video or message to a chat",
                ["platform"],
                registry=reg,
            ),
            updates=Counter(
                "mouthpiece_updates", "Chat updates handled by the bot", ["platform"], registry=reg
            ),
            update_seconds=Histogram(
                "mouthpiece_update_seconds",
                "Time the bot took to handle one chat update",
                ["platform"],
                buckets=_UPDATE_BUCKETS,
                registry=reg,
            ),
            webhook_refused=Counter(
                "mouthpiece_telegram_webhook_refused",
                "Requests to the Telegram webhook refused, by reason",
                ["reason"],
                registry=reg,
            ),
            discord_shard_up=Gauge(
                "mouthpiece_discord_shard_up",
                "Whether this process's Discord shard has a live gateway session (1) or not",
                ["shard"],
                registry=reg,
            ),
            discord_shard_latency=Gauge(
                "mouthpiece_discord_shard_latency_seconds",
                "Time from a Discord shard's last heartbeat to its acknowledgement",
                ["shard"],
                registry=reg,
            ),
            media_refused=Counter(
                "mouthpiece_media_fetch_refused",
                "Upload fetches the bot's media server refused (403), by reason",
                ["reason"],
                registry=reg,
            ),
        )
        # Known label values start at zero, so rates and alerts work before the first event.
        for outcome in OUTCOMES:
            m.jobs.labels(outcome=outcome)
        for platform in PLATFORMS:
            m.delivery_failures.labels(platform=platform)
            m.updates.labels(platform=platform)
        for reason in WEBHOOK_REFUSALS:
            m.webhook_refused.labels(reason=reason)
        return m

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


def instrument_handler(handle: Handler, metrics: Metrics) -> Handler:
    """Wrap ``Service.handle`` so every update is counted and timed (errors included)."""

    async def timed(event: Event) -> list[Action]:
        start = time.perf_counter()
        try:
            return await handle(event)
        finally:
            platform = event.who.platform
            metrics.updates.labels(platform=platform).inc()
            metrics.update_seconds.labels(platform=platform).observe(time.perf_counter() - start)

    return timed


# ---- front-end liveness --------------------------------------------------------------------
class FrontEnds:
    """When each chat front-end's connection last worked (Telegram: an answered getUpdates;
    Discord: a live gateway session). One that has not worked for ``timeout`` seconds is
    dead: ``/healthz`` says so and the bot's watchdog exits, so the supervisor restarts it.

    A front-end with several connections (Discord's shards) watches each as a part named
    ``front/part`` (``discord/0``, ``discord/1``): once it has parts, the front-end is alive
    only while every part is, so one dead shard makes the whole front-end dead. A shard that
    discord.py could not bring back within the timeout leaves its servers (and, for shard 0,
    every DM) unanswered, and a restart of the process is the one cure that always works; the
    healthy shards lose no more than a reconnect.
    """

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self._clock = clock
        self._seen: dict[str, float] = {}

    def watch(self, name: str) -> None:
        """Start watching ``name``: it has ``timeout`` seconds from now to report in."""
        self._seen[name] = self._clock()

    def alive(self, name: str) -> None:
        """``name``'s connection just worked."""
        self._seen[name] = self._clock()

    def report(self) -> dict[str, bool]:
        """Each front-end's state, and each part's under its own name (``discord/1``)."""
        now = self._clock()
        out = {name: now - seen <= self.timeout for name, seen in self._seen.items()}
        parts: dict[str, list[bool]] = {}
        for name, ok in out.items():
            whole, sep, _ = name.partition("/")
            if sep:
                parts.setdefault(whole, []).append(ok)
        out.update({whole: all(oks) for whole, oks in parts.items()})
        return out

    def dead(self) -> list[str]:
        return [name for name, ok in self.report().items() if not ok]


# ---- HTTP ----------------------------------------------------------------------------------
async def start_http(
    host: str,
    port: int,
    *,
    health: Health,
    metrics: Metrics,
    before_scrape: Callable[[], Awaitable[None]] | None = None,
) -> web.AppRunner:
    """Serve ``GET /healthz`` and ``GET /metrics``; port 0 picks a free port.

    ``/healthz`` answers 200 with ``health()``'s JSON when it says ``{"ok": True, ...}``,
    503 when it says otherwise, raises, or takes over 2 s. ``before_scrape`` refreshes
    gauges (queue depth) before ``/metrics`` answers. Returns the runner: read the port with
    :func:`bound_port`, stop with ``await runner.cleanup()``.
    """

    async def healthz(_: web.Request) -> web.Response:
        try:
            body = await asyncio.wait_for(health(), HEALTH_TIMEOUT)
        except TimeoutError:
            body = {"ok": False, "error": "health check timed out"}
        except Exception as e:  # any failure is "unhealthy", never a 500
            log.warning("health check failed", extra={"error": type(e).__name__})
            body = {"ok": False, "error": type(e).__name__}
        status = 200 if body.get("ok") is True else 503
        return web.json_response(body, status=status, dumps=_dumps)

    async def scrape(_: web.Request) -> web.Response:
        if before_scrape is not None:
            try:
                await asyncio.wait_for(before_scrape(), HEALTH_TIMEOUT)
            except Exception as e:  # stale gauges beat no metrics at all
                log.warning("metrics refresh failed", extra={"error": type(e).__name__})
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("health and metrics served", extra={"host": host, "port": bound_port(runner)})
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port a runner from :func:`start_http` listens on."""
    return int(runner.addresses[0][1])


async def start_worker_http(
    settings: BotSettings,
    redis: Redis,
    metrics: Metrics,
    *,
    depth: Callable[[], Awaitable[int]] | None = None,
) -> web.AppRunner | None:
    """A worker's ``/healthz`` (Redis answers) and ``/metrics`` (queue depth refreshed).

    ``depth`` counts waiting renders; the default is the size of arq's render queue.
    Returns None when ``settings.worker_metrics_port`` is 0 (off).
    """
    if settings.worker_metrics_port == 0:
        return None

    async def health() -> dict[str, object]:
        return {"ok": bool(await redis.ping()), "process": "worker"}

    async def queue_size() -> int:
        return int(await redis.zcard(RENDER_QUEUE))

    count = depth or queue_size

    async def refresh() -> None:
        metrics.queue_depth.set(await count())

    return await start_http(
        settings.metrics_host,
        settings.worker_metrics_port,
        health=health,
        metrics=metrics,
        before_scrape=refresh,
    )


def _dumps(obj: object) -> str:
    return json.dumps(obj, default=str)


# ---- logging -------------------------------------------------------------------------------
_REDACTED = "<redacted>"
_TOKEN_PATTERNS = (
    # Bot API URLs: .../bot<token>/method and .../file/bot<token>/path (any token shape).
    (re.compile(r"/bot\d+:[^/\s?#'\"]+"), "/bot" + _REDACTED),
    # A Telegram token on its own: "123456789:AA...".
    (re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{30,}"), _REDACTED),
    # A Discord token: three base64url parts joined by dots (user id, timestamp, HMAC).
    (re.compile(r"\b[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{25,}"), _REDACTED),
)
# The least level of loggers that say too much: httpx's INFO request lines carry the token in
# URLs; aiosqlite, PTB and discord.py dump SQL parameters and message payloads (user content)
# at DEBUG.
_QUIET = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "aiohttp.access": logging.WARNING,
    "aiosqlite": logging.INFO,
    "psycopg": logging.INFO,  # the PostgreSQL store (DATABASE_URL): connection details
    "telegram": logging.INFO,
    "discord": logging.INFO,
}
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with bot tokens (and any of ``secrets``) replaced by ``<redacted>``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    for pattern, repl in _TOKEN_PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactTokens(logging.Filter):
    """Rewrites a record's message, string extras and traceback with tokens redacted.

    Attached to the handler, so it sees records of every logger (httpx, aiohttp, PTB, ...).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value, self.secrets))
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and k[:1] != "_"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the record's extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            out.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, default=str, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    """The classic one-line format, with the record's extras appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        if not extras:
            return line
        head, sep, tail = line.partition("\n")  # keep a traceback below the extras
        return f"{head} {extras}{sep}{tail}"


def configure_logging(
    level: str = "INFO",
    *,
    json_lines: bool = True,
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> logging.Handler:
    """Configure the root logger (entry points only): JSON lines or text, tokens redacted.

    ``secrets`` are extra strings to redact wherever they appear (pass the configured bot
    tokens). Calling it again replaces the handler it installed before. Returns the handler.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"log level {level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_mouthpiece", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._mouthpiece = True  # type: ignore[attr-defined]
    handler.addFilter(RedactTokens(secrets))
    handler.setFormatter(JsonFormatter() if json_lines else _TextFormatter())
    root.addHandler(handler)
    root.setLevel(numeric)
    for name, floor in _QUIET.items():
        logging.getLogger(name).setLevel(max(numeric, floor))
    return handler


def logging_from_settings(settings: BotSettings) -> logging.Handler:
    """:func:`configure_logging` as the settings say, with the bot tokens as secrets."""
    if settings.log_format not in ("json", "text"):
        raise ValueError(f"MOUTHPIECE_LOG_FORMAT={settings.log_format!r} is not json or text")
    try:
        return configure_logging(
            settings.log_level,
            json_lines=settings.log_format == "json",
            secrets=(
                settings.telegram_bot_token,
                settings.discord_bot_token,
                settings.telegram_webhook_secret_token,
            ),
        )
    except ValueError as e:
        raise ValueError(f"MOUTHPIECE_LOG_LEVEL={settings.log_level!r}: {e}") from e
