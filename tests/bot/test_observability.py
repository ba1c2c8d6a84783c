"""Operations: /healthz and /metrics over real HTTP, against a real redis-server and SQLite;
JSON log lines with extras; bot tokens redacted from every log line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import observability
from bot.chat.app import build_service, start_bot_http
from bot.contract.events import Action, Command, Event, Reply, Who
from bot.contract.jobs import RENDER_QUEUE
from bot.jobs.redis import connect
from bot.observability import (
    Metrics,
    bound_port,
    configure_logging,
    instrument_handler,
    logging_from_settings,
    start_http,
    start_worker_http,
)
from bot.settings import BotSettings
from tests.auxil.redis_server import free_port, redis_server

TG_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
SCRIPT = "My private script mentions Zanzibar and nothing else of note."
DC_TOKEN = "MTA4NzY1NDMyMTAxMjM0NTY3OA.GhJkLm.abcdefghijklmnopqrstuvwxyz0123456789AB"


async def _get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        return r.status, r.headers["Content-Type"], await r.text()


def _url(runner: Any, path: str) -> str:
    return f"http://127.0.0.1:{bound_port(runner)}{path}"


# ---- /healthz --------------------------------------------------------------------------
def test_healthz_answers_200_when_ok_and_503_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observability, "HEALTH_TIMEOUT", 0.2)
    answer: dict[str, Any] = {"mode": "ok"}

    async def health() -> dict[str, object]:
        mode = answer["mode"]
        if mode == "raise":
            raise ConnectionError("redis down")
        if mode == "hang":
            await asyncio.Event().wait()
        return {"ok": mode == "ok", "redis": True}

    async def go() -> None:
        runner = await start_http("127.0.0.1", 0, health=health, metrics=Metrics.create())
        try:
            status, ctype, body = await _get(_url(runner, "/healthz"))
            assert status == 200 and ctype.startswith("application/json")
            assert json.loads(body) == {"ok": True, "redis": True}
            for mode in ("not ok", "raise", "hang"):
                answer["mode"] = mode
                status, _, body = await _get(_url(runner, "/healthz"))
                assert status == 503, mode
                assert json.loads(body)["ok"] is False
        finally:
            await runner.cleanup()

    asyncio.run(go())


# ---- /metrics --------------------------------------------------------------------------
def test_metrics_exposes_every_metric_after_use() -> None:
    metrics = Metrics.create()
    Metrics.create()  # a second registry side by side: no duplicate-name clash

    async def depth() -> None:
        metrics.queue_depth.set(7)

    async def health() -> dict[str, object]:
        return {"ok": True}

    metrics.jobs.labels(outcome="done").inc()
    metrics.jobs.labels(outcome="retried").inc(2)
    metrics.render_seconds.observe(42.0)
    metrics.stage_seconds.labels(stage="lipsync").observe(12.5)
    metrics.delivery_failures.labels(platform="telegram").inc()

    async def go() -> tuple[int, str, str]:
        runner = await start_http(
            "127.0.0.1", 0, health=health, metrics=metrics, before_scrape=depth
        )
        try:
            return await _get(_url(runner, "/metrics"))
        finally:
            await runner.cleanup()

    status, ctype, body = asyncio.run(go())
    assert status == 200 and ctype.startswith("text/plain; version=")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    assert samples[("mouthpiece_queue_depth", ())] == 7
    assert samples[("mouthpiece_jobs_total", (("outcome", "done"),))] == 1
    assert samples[("mouthpiece_jobs_total", (("outcome", "retried"),))] == 2
    assert samples[("mouthpiece_jobs_total", (("outcome", "cancelled"),))] == 0
    assert samples[("mouthpiece_render_seconds_count", ())] == 1
    assert samples[("mouthpiece_render_seconds_bucket", (("le", "60.0"),))] == 1
    assert samples[("mouthpiece_stage_seconds_sum", (("stage", "lipsync"),))] == 12.5
    assert samples[("mouthpiece_delivery_failures_total", (("platform", "telegram"),))] == 1
    assert samples[("mouthpiece_updates_total", (("platform", "discord"),))] == 0
    assert "# TYPE mouthpiece_update_seconds histogram" in body


def test_a_failing_refresh_still_serves_metrics() -> None:
    async def broken() -> None:
        raise ConnectionError("redis down")

    async def health() -> dict[str, object]:
        return {"ok": True}

    async def go() -> tuple[int, str, str]:
        runner = await start_http(
            "127.0.0.1", 0, health=health, metrics=Metrics.create(), before_scrape=broken
        )
        try:
            return await _get(_url(runner, "/metrics"))
        finally:
            await runner.cleanup()

    status, _, body = asyncio.run(go())
    assert status == 200 and "mouthpiece_jobs_total" in body


def test_instrumented_handler_counts_and_times_every_update() -> None:
    metrics = Metrics.create()
    who = Who("telegram", "1", "1")

    async def handle(event: Event) -> list[Action]:
        if getattr(event, "name", "") == "boom":
            raise RuntimeError("boom")
        return [Reply("hi")]

    timed = instrument_handler(handle, metrics)

    async def go() -> None:
        assert await timed(Command(who, "help")) == [Reply("hi")]
        with pytest.raises(RuntimeError):
            await timed(Command(who, "boom"))

    asyncio.run(go())
    reg = metrics.registry
    assert reg.get_sample_value("mouthpiece_updates_total", {"platform": "telegram"}) == 2
    assert reg.get_sample_value("mouthpiece_update_seconds_count", {"platform": "telegram"}) == 2


# ---- both processes, real Redis and SQLite ----------------------------------------------
def test_bot_and_worker_endpoints_follow_redis(tmp_path: Path) -> None:
    async def go() -> None:
        with redis_server(tmp_path) as url:
            settings = BotSettings(
                redis_url=url,
                data_dir=tmp_path / "data",
                metrics_host="127.0.0.1",
                bot_metrics_port=free_port(),
                worker_metrics_port=free_port(),
            )
            service, store, queue = await build_service(settings)
            redis = await connect(url)
            bot_m, worker_m = Metrics.create(), Metrics.create()
            bot_http = await start_bot_http(settings, store, queue, bot_m)
            worker_http = await start_worker_http(settings, redis, worker_m)
            assert bot_http is not None and worker_http is not None
            try:
                await redis.enqueue_job("render", "{}", _queue_name=RENDER_QUEUE)
                await redis.enqueue_job("render", "{}", _queue_name=RENDER_QUEUE)
                for runner in (bot_http, worker_http):
                    status, _, body = await _get(_url(runner, "/healthz"))
                    assert status == 200 and json.loads(body)["ok"] is True
                    _, _, body = await _get(_url(runner, "/metrics"))
                    assert "mouthpiece_queue_depth 2.0" in body
                status, _, body = await _get(_url(bot_http, "/healthz"))
                healthy = {"ok": True, "redis": True, "store": True, "sqlite": True}
                assert json.loads(body) == healthy
            except BaseException:
                await _close(bot_http, worker_http, redis, queue, store)
                raise
        # redis-server is gone now: both processes say so.
        try:
            for runner in (bot_http, worker_http):
                status, _, body = await _get(_url(runner, "/healthz"))
                assert status == 503 and json.loads(body)["ok"] is False
            status, _, body = await _get(_url(bot_http, "/healthz"))
            assert json.loads(body) == {"ok": False, "redis": False, "store": True, "sqlite": True}
        finally:
            await _close(bot_http, worker_http, redis, queue, store)

    asyncio.run(go())


async def _close(*things: Any) -> None:
    for thing in things:
        if hasattr(thing, "cleanup"):
            await thing.cleanup()
        elif hasattr(thing, "aclose"):
            await thing.aclose()
        else:
            await thing.close()


def test_port_zero_turns_the_servers_off(tmp_path: Path) -> None:
    settings = BotSettings(bot_metrics_port=0, worker_metrics_port=0)

    async def go() -> None:
        assert await start_worker_http(settings, None, Metrics.create()) is None  # type: ignore[arg-type]
        assert await start_bot_http(settings, None, None, Metrics.create()) is None  # type: ignore[arg-type]

    asyncio.run(go())


# ---- logs --------------------------------------------------------------------------------
@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Root logger configured by configure_logging for one test, then restored."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    quiet = {n: logging.getLogger(n).level for n in observability._QUIET}
    stream = io.StringIO()
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def test_json_lines_carry_level_logger_message_and_extras(log_stream: io.StringIO) -> None:
    configure_logging("INFO", stream=log_stream)
    log = logging.getLogger("bot.worker")
    log.debug("not shown")
    log.info(
        "job %s delivered",
        "abc",
        extra={
            "job_id": "abc",
            "platform": "telegram",
            "seconds": {"speech": 1.5},
            "path": Path("/data/out/abc.mp4"),
        },
    )
    try:
        raise ValueError("bad frame")
    except ValueError:
        log.exception("render failed", extra={"job_id": "abc"})
    first, second = _lines(log_stream)
    assert first["level"] == "INFO" and first["logger"] == "bot.worker"
    assert first["msg"] == "job abc delivered"
    assert first["job_id"] == "abc" and first["platform"] == "telegram"
    assert first["seconds"] == {"speech": 1.5} and first["path"] == "/data/out/abc.mp4"
    assert datetime.fromisoformat(first["ts"]).tzinfo is not None
    assert second["level"] == "ERROR" and "ValueError: bad frame" in second["exc"]
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING


def test_tokens_are_redacted_from_messages_args_extras_and_tracebacks(
    log_stream: io.StringIO,
) -> None:
    configure_logging("DEBUG", stream=log_stream, secrets=("short:TEST",))
    log = logging.getLogger("telegram.ext")
    log.warning("HTTP Request: POST %s", f"https://api.telegram.org/bot{TG_TOKEN}/getUpdates")
    log.warning("file at https://api.telegram.org/file/bot42:x-y_z/voice/1.oga")
    log.info("token %s and %s", TG_TOKEN, DC_TOKEN)
    log.info("discord login", extra={"authorization": f"Bot {DC_TOKEN}"})
    log.info("configured token short:TEST")
    try:
        raise ConnectionError(f"GET https://discord.com/api/v10/gateway Bot {DC_TOKEN} failed")
    except ConnectionError:
        log.exception("connect failed")
    text = log_stream.getvalue()
    for secret in (TG_TOKEN, DC_TOKEN, "42:x-y_z", "short:TEST"):
        assert secret not in text
    lines = _lines(log_stream)
    assert lines[0]["msg"] == "HTTP Request: POST https://api.telegram.org/bot<redacted>/getUpdates"
    assert lines[1]["msg"] == "file at https://api.telegram.org/file/bot<redacted>/voice/1.oga"
    assert lines[2]["msg"] == "token <redacted> and <redacted>"
    assert lines[3]["authorization"] == "Bot <redacted>"
    assert "<redacted>" in lines[5]["exc"]


def test_text_format_and_settings_validation(log_stream: io.StringIO) -> None:
    configure_logging("INFO", json_lines=False, stream=log_stream)
    logging.getLogger("bot").info("sent %s", TG_TOKEN, extra={"job_id": "j1"})
    line = log_stream.getvalue().strip()
    assert line.endswith("INFO bot: sent <redacted> job_id=j1")
    with pytest.raises(ValueError, match="MOUTHPIECE_LOG_FORMAT"):
        logging_from_settings(BotSettings(log_format="xml"))
    with pytest.raises(ValueError, match="MOUTHPIECE_LOG_LEVEL"):
        logging_from_settings(BotSettings(log_level="LOUD"))


# ---- the real bot process ----------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]


def test_bot_process_serves_health_answers_logs_json_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    """`python -m bot` against a stand-in Bot API and a private Redis: /healthz answers, a
    /talk is counted in /metrics, stderr is JSON lines without the token, SIGTERM exits 0."""
    from tests.auxil.telegram_server import TelegramStandIn

    async def go(url: str) -> tuple[int | None, str]:
        tg = TelegramStandIn()
        await tg.start()
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.endswith("_BOT_TOKEN")},
            "PYTHONPATH": str(ROOT),
            "TELEGRAM_BOT_TOKEN": TG_TOKEN,
            "TELEGRAM_API_BASE_URL": tg.url,
            "REDIS_URL": url,
            "MOUTHPIECE_DATA_DIR": str(tmp_path / "data"),
            "MOUTHPIECE_METRICS_HOST": "127.0.0.1",
            "MOUTHPIECE_BOT_METRICS_PORT": str(port),
            "MOUTHPIECE_LOG_LEVEL": "DEBUG",  # the most a library could say about its URLs
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "--telegram",
            cwd=tmp_path,
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await _until_healthy(f"http://127.0.0.1:{port}/healthz", proc)
            tg.send_text(777, "/talk")
            await tg.wait_for(lambda: len(tg.texts(777)) >= 1)
            tg.send_text(777, SCRIPT)
            await tg.wait_for(lambda: len(tg.texts(777)) >= 2)
            _, _, body = await _get(f"http://127.0.0.1:{port}/metrics")
            assert 'mouthpiece_updates_total{platform="telegram"} 2.0' in body
            proc.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode, stderr.decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await tg.stop()

    with redis_server(tmp_path) as url:
        code, stderr = asyncio.run(go(url))
    assert code == 0, stderr[-2000:]
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert any(line["msg"] == "telegram front-end running" for line in lines)
    assert TG_TOKEN not in stderr and TG_TOKEN.split(":")[1] not in stderr
    assert "Zanzibar" not in stderr  # the user's script is content, not log material


async def _until_healthy(url: str, proc: asyncio.subprocess.Process) -> None:
    for _ in range(600):  # bounded: ~60 s for the interpreter to import and connect
        if proc.returncode is not None:
            raise AssertionError(f"python -m bot exited with {proc.returncode}")
        try:
            if (await _get(url))[0] == 200:
                return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("python -m bot never became healthy")


def test_bad_log_format_is_refused_in_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "MOUTHPIECE_LOG_FORMAT": "xml",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: MOUTHPIECE_LOG_FORMAT='xml' is not json or text"
    ]
