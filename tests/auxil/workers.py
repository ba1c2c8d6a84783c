"""Real render workers for the queue tests: `python -m bot.worker` subprocesses (or the
fault-injecting wrapper, tests/auxil/worker_faults.py) on a private redis-server, delivering
to the platform stand-ins; and what the bot does on Render (media into Redis, fair enqueue)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.chat.queue import Queue
from bot.contract.jobs import RenderJob, job_id_for
from tests.auxil.redis_server import redis_server
from tests.auxil.telegram_server import TelegramStandIn

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
HEARTBEAT = 2.0
SHORT = "Hello there, this is a queue test."
FAULTS = "tests.auxil.worker_faults"


@asynccontextmanager
async def worker(
    tmp: Path,
    redis_url: str,
    tg_url: str,
    name: str,
    *,
    env: dict[str, str] | None = None,
    module: str = "bot.worker",
    data_dir: Path | None = None,
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """A worker process with its own data folder (or ``data_dir``: a volume shared with
    another worker); stopped with SIGTERM at the end. ``env`` adds or overrides settings."""
    full = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": redis_url,
        "MOUTHPIECE_DATA_DIR": str(data_dir or tmp / name),
        "MOUTHPIECE_WORKER_NAME": name,
        "MOUTHPIECE_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "MOUTHPIECE_STATUS_EDIT_SECONDS": "0.2",
        "MOUTHPIECE_BOARD_INTERVAL_SECONDS": "0.2",
        "MOUTHPIECE_RETRY_BACKOFF_SECONDS": "0.5",
        "MOUTHPIECE_DELIVERY_LEASE_SECONDS": "3",
        "MOUTHPIECE_WORKER_METRICS_PORT": "0",
        "MOUTHPIECE_LOG_FORMAT": "text",
        # these tests count the videos a chat got: previews have their own
        # (tests/bot/worker/test_preview.py); ``env`` may turn them on
        "MOUTHPIECE_PREVIEW_SECONDS": "0",
    }
    if tg_url:
        full.update(TELEGRAM_BOT_TOKEN="123:TEST", TELEGRAM_API_BASE_URL=tg_url)
    full.update(env or {})
    log = open(tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", module], cwd=tmp, env=full, stdout=log, stderr=log
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:  # waiting in a thread: the stand-in on this loop must keep answering
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        log.close()


async def submit(
    queue: Queue, user: str, n: int = 0, script: str = SHORT, platform: str = "telegram"
) -> str:
    """What the bot does on Render: media into Redis by hash, then the fair enqueue."""
    voice, photo = (SAMPLES / "voice.ogg").read_bytes(), (SAMPLES / "portrait.jpg").read_bytes()
    vh, ph = hashlib.sha256(voice).hexdigest(), hashlib.sha256(photo).hexdigest()
    await queue.put_media(vh, voice)
    await queue.put_media(ph, photo)
    job = RenderJob(
        job_id=job_id_for(f"{platform}-{user}-draft-{n}"),
        platform=platform,
        user_id=user,
        chat_id=user,
        script=script,
        voice_hash=vh,
        photo_hash=ph,
    )
    assert await queue.enqueue(job)
    return job.job_id


async def wait_until(predicate: object, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def status_of(queue: Queue, job_id: str) -> str:
    s = await queue.record(job_id)
    return s.state if s else ""


async def is_status(queue: Queue, job_id: str, status: str) -> bool:
    return await status_of(queue, job_id) == status


async def gone(queue: Queue, key: str) -> bool:
    return not await queue.redis.exists(key)


@asynccontextmanager
async def platform_and_queue(
    tmp: Path, **redis: object
) -> AsyncIterator[tuple[TelegramStandIn, Queue, str]]:
    """The Bot API stand-in, a private redis-server and the bot's queue client on it."""
    tg = TelegramStandIn()
    await tg.start()
    with redis_server(tmp, **redis) as url:  # type: ignore[arg-type]
        queue = await Queue.connect(url)
        try:
            yield tg, queue, url
        finally:
            await queue.close()
            await tg.stop()
