"""The event loops never wait on the disk: a 50 MB delivery, a retention pass, a worker caching
an upload and the bot storing one all do their file I/O in threads.

A probe task measures how late the loop wakes it while the work runs. The disk is made slow
on purpose (every read, rename and unlink under the test folder takes 2 s, like a stalled
network volume): done on the loop, that shows up as a 2 s stall of everything else (the
worker's heartbeat, other people's replies); done in a thread, the loop stays on time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract.events import Media, Who
from bot.contract.jobs import Keys
from bot.conversation.service import Limits, Service
from bot.jobs.redis import connect
from bot.safety.retention import Retention, purge
from bot.settings import BotSettings
from bot.worker import WorkerContext
from bot.worker.delivery.telegram import TelegramDelivery
from bot.worker.intake import media_file
from tests.auxil.redis_server import redis_server
from tests.auxil.telegram_server import TelegramStandIn

STALL = 2.0  # seconds each slow disk operation takes
# A probe this late means the loop waited on the disk. Half of STALL: a loop that waits on the
# disk is always at least STALL late, while a busy shared machine (other test processes, the
# stand-in parsing 50 MB in this same loop) made a correct loop 0.48 s late once in CI.
LATE = STALL / 2
T = TypeVar("T")


@pytest.fixture()
def slow_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Reads, renames and unlinks of files under ``tmp_path`` stall for STALL seconds."""
    root = str(tmp_path)

    def slowed(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(first: Any, *args: Any, **kwargs: Any) -> Any:
            if str(first).startswith(root):
                time.sleep(STALL)
            return original(first, *args, **kwargs)

        return call

    monkeypatch.setattr(Path, "read_bytes", slowed(Path.read_bytes))
    monkeypatch.setattr(Path, "unlink", slowed(Path.unlink))
    monkeypatch.setattr(os, "replace", slowed(os.replace))
    yield tmp_path


async def _lateness(work: Awaitable[T]) -> tuple[T, float]:
    """Run ``work``; meanwhile a 10 ms ticker measures the loop's worst lateness."""
    loop, worst, done = asyncio.get_running_loop(), 0.0, asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(0.01)
            worst = max(worst, loop.time() - before - 0.01)

    probe = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    try:
        result = await work
    finally:
        done.set()
        await probe
    return result, worst


def test_a_50_mb_delivery_does_not_stall_the_loop(slow_disk: Path) -> None:
    video = slow_disk / "out.mp4"
    video.write_bytes(os.urandom(1 << 20) * 50)

    async def go() -> None:
        tg = TelegramStandIn()
        await tg.start()
        try:
            async with aiohttp.ClientSession() as session:
                delivery = TelegramDelivery(session, tg.url, "123:TEST")
                _, late = await _lateness(delivery.send_video("5", video, "caption", key="j"))
            assert len(tg.videos(5)[0]) == 50 << 20
            assert late < LATE, f"the loop stalled {late:.2f} s during the delivery"
        finally:
            await tg.stop()

    asyncio.run(go())


def test_a_retention_pass_does_not_stall_the_loop(slow_disk: Path) -> None:
    async def go() -> None:
        store = await Store.open(slow_disk / "db.sqlite3")
        media = slow_disk / "media"
        media.mkdir()
        for i in range(2):
            path = media / f"{i:064d}.ogg"
            path.write_bytes(b"voice")
            await store.media.put(f"{i:064d}", "audio", 5, "audio/ogg", path)
        out = slow_disk / "out"
        out.mkdir()
        old = out / "job.mp4"
        old.write_bytes(b"video")
        os.utime(old, (0, 0))
        report, late = await _lateness(
            purge(store, out, Retention(media_hours=1, output_days=1), time.time() + 7200)
        )
        await store.close()
        assert report.media == 2 and report.outputs == 1
        assert late < LATE, f"the loop stalled {late:.2f} s during the retention pass"

    asyncio.run(go())


def test_caching_an_upload_on_the_worker_does_not_stall_the_loop(slow_disk: Path) -> None:
    async def go(url: str) -> None:
        redis = await connect(url)
        await redis.set(Keys.media("d" * 64), b"voice bytes")
        cache = slow_disk / "cache"
        cache.mkdir()
        ctx = WorkerContext(BotSettings(), out_dir=cache, cache_dir=cache, redis=redis)
        path, late = await _lateness(media_file(ctx, "d" * 64, "audio"))
        await redis.aclose()
        assert path.read_bytes() == b"voice bytes"
        assert late < LATE, f"the worker's loop stalled {late:.2f} s caching an upload"

    with redis_server(slow_disk) as url:
        asyncio.run(go(url))


def test_storing_an_upload_in_the_bot_does_not_stall_the_loop(slow_disk: Path) -> None:
    async def go(url: str) -> None:
        store = await Store.open(slow_disk / "db.sqlite3")
        queue = await Queue.connect(url, intake_timeout=0.05)
        service = Service(store, queue, slow_disk / "media", Limits())
        who = Who("telegram", "1", "1")

        async def fetch() -> bytes:
            return b"\xff\xd8 photo" * 1000

        media = Media(who, "image", 12_000, fetch, "p.jpg", "image/jpeg")
        replies, late = await _lateness(service.handle(media))
        await queue.close()
        await store.close()
        assert replies and replies[0].text.startswith("Photo received")
        assert late < LATE, f"the bot's loop stalled {late:.2f} s storing an upload"

    with redis_server(slow_disk) as url:
        asyncio.run(go(url))
