"""Redis goes away for a minute in the middle of two renders, and comes back with its
files.

The workers' heartbeats and cancel watchers ride the outage out (retrying with backoff), the
renders go on without Redis, and once Redis answers each worker takes its in-progress
marker back (nobody else took the job) and sends under the delivery claim: exactly one
video on Discord. The Telegram job that rendered through the outage can still be cancelled
afterwards (its watcher is alive), and the next Telegram job brings exactly one video. Real
parts: a persistent redis-server stopped and started again on the same port and files,
`python -m bot.worker` subprocesses (one slowed down by tests/auxil/worker_faults.py so its
render outlasts the outage), the Telegram and Discord stand-ins.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path

import pytest

from bot.chat.queue import Queue
from bot.contract.jobs import CancelOutcome, JobState, Keys
from tests.auxil.discord_server import DiscordStandIn
from tests.auxil.redis_server import free_port, redis_server
from tests.auxil.telegram_server import TelegramStandIn
from tests.auxil.workers import FAULTS, SHORT, is_status, submit, wait_until, worker

pytestmark = pytest.mark.slow
OUTAGE = 60.0  # seconds Redis is down: far past the in-progress marker (HEARTBEAT) and the
# brief render, and long enough for the heartbeat's backoff to grow


def _discord_videos(dc: DiscordStandIn, channel: str) -> int:
    return sum(1 for r in dc.channel_posts(channel) if r.files)


def test_redis_down_for_a_minute_mid_render_one_video_each_and_cancel_still_works(
    tmp_path: Path,
) -> None:
    port = free_port()

    async def go() -> None:
        tg, dc = TelegramStandIn(), DiscordStandIn()
        await tg.start()
        await dc.start()
        env = {"DISCORD_BOT_TOKEN": "TEST", "DISCORD_API_BASE_URL": dc.api}
        slow = {**env, "FAULT_RENDER_SECONDS": str(OUTAGE + 120)}  # renders past the outage
        brief = {**env, "FAULT_RENDER_SECONDS": "12"}  # done while Redis is away
        redis = ExitStack()
        url = redis.enter_context(redis_server(tmp_path, persist=True, port=port))
        queue = await Queue.connect(url)
        slowed, quick = AsyncExitStack(), AsyncExitStack()
        try:
            # w1 (slowed past the outage) takes the Telegram job; then w2 the Discord one
            await slowed.enter_async_context(
                worker(tmp_path, url, tg.url, "w1", env=slow, module=FAULTS)
            )
            on_tg = await submit(queue, "9101", 0, SHORT)
            await wait_until(lambda: _on(queue, on_tg, "w1"), what="w1 rendering")
            await quick.enter_async_context(
                worker(tmp_path, url, tg.url, "w2", env=brief, module=FAULTS)
            )
            on_dc = await submit(queue, "9102", 1, SHORT, platform="discord")
            await wait_until(lambda: _on(queue, on_dc, "w2"), what="w2 rendering")
            # 1. Redis goes away mid-render (its files stay); back a minute later.
            await queue.close()
            redis.close()
            down = time.monotonic()
            await asyncio.sleep(OUTAGE)
            redis = ExitStack()
            redis.enter_context(redis_server(tmp_path, persist=True, port=port))
            assert time.monotonic() - down >= OUTAGE
            queue = await Queue.connect(url)
            await wait_until(lambda: is_status(queue, on_dc, "done"), 240, "discord")
            assert _discord_videos(dc, "9102") == 1
            # 2. The job that rendered through the outage can still be cancelled, once its
            #    worker has taken its in-progress marker back (the marker lapsed in the outage;
            #    the heartbeat's backoff decides when it is retaken, maybe after Discord's video)
            await wait_until(lambda: queue.redis.exists(Keys.in_progress(on_tg)), 60, "retake")
            assert await queue.cancel(on_tg) == CancelOutcome.STOPPING
            await wait_until(lambda: is_status(queue, on_tg, "cancelled"), 60, "cancel")
            assert tg.videos(9101) == []
            await slowed.aclose()
            # 3. The next Telegram job (on w2, still slowed by 12 s): one video.
            after = await submit(queue, "9103", 2, SHORT)
            await wait_until(lambda: is_status(queue, after, "done"), 240, "the next job")
            assert len(tg.videos(9103)) == 1 and tg.videos(9101) == []
            assert _discord_videos(dc, "9102") == 1
        finally:
            await quick.aclose()
            await slowed.aclose()
            await queue.close()
            redis.close()
            await tg.stop()
            await dc.stop()

    asyncio.run(go())


async def _on(queue: Queue, job_id: str, worker_name: str) -> bool:
    """The job is rendering its frames on that worker."""
    record = await queue.record(job_id)
    return (
        record is not None
        and record.state == JobState.RUNNING
        and record.worker == worker_name
        and record.stage == "video"
    )
