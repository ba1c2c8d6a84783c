"""The render queue with real parts: redis-server, `python -m bot.worker` subprocesses hosting
the embedded CPU engine, and the real delivery code talking to a Bot API stand-in.

Covers: progress edits (each job's percentage never goes down) and the worker's own /metrics
counters after real jobs, cancel (queued and running), SIGKILL mid-render (the job runs again
on another worker within the heartbeat bound and is delivered once), Redis restarted with
persistence, fair interleaving of two users on two workers, retries of 429/500 and of a
lost response.
"""

from __future__ import annotations

import asyncio
import signal
import time
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import pytest

from bot.chat.queue import Queue
from bot.contract.jobs import RENDER_QUEUE, JobState, Keys, RenderJob
from bot.conversation.service import Service
from bot.worker.delivery.telegram import TelegramDelivery
from tests.auxil.redis_server import free_port, redis_server
from tests.auxil.telegram_server import TelegramStandIn
from tests.auxil.workers import (
    HEARTBEAT,
    SHORT,
    gone,
    is_status,
    platform_and_queue,
    status_of,
    submit,
    wait_until,
    worker,
)


def test_progress_edits_and_one_delivery(tmp_path: Path) -> None:
    port = free_port()

    async def go() -> None:
        async with platform_and_queue(tmp_path) as (tg, queue, url):
            # a script long enough that a fast machine's render spans several looks of the
            # board (a short one was once seen only at 0%, then done)
            script = " ".join([SHORT] * 4)
            first = await submit(queue, "1001", 0, script)
            second = await submit(queue, "1001", 1, script)
            assert (await queue.position(first)).ahead == 0  # type: ignore[union-attr]
            assert (await queue.position(second)).ahead == 1  # type: ignore[union-attr]
            metrics = {
                "MOUTHPIECE_WORKER_METRICS_PORT": str(port),
                "MOUTHPIECE_METRICS_HOST": "127.0.0.1",
            }
            async with worker(tmp_path, url, tg.url, "w1", env=metrics):
                await wait_until(lambda: len(tg.videos(1001)) == 2, what="two videos")
                await wait_until(
                    lambda: sum("done in" in e for e in tg.edits(1001)) == 2, what="done edits"
                )
                scraped = await _metrics(port)
            edits = tg.edits(1001)
            assert any("in line" in t for t in tg.texts(1001) + edits)  # the second job waited
            # Each job's own status message: its percentage never goes down, and it moves.
            for job_id in (first, second):
                percents = _percents(tg, "1001", job_id)
                assert percents == sorted(percents), (job_id, percents)
                assert len(set(percents)) >= 2, (job_id, percents)
            assert (
                await status_of(queue, first) == "done" and await status_of(queue, second) == "done"
            )
            # The worker's own counters, as its /metrics endpoint serves them.
            assert scraped[("mouthpiece_jobs_total", (("outcome", "done"),))] == 2
            assert scraped[("mouthpiece_render_seconds_count", ())] == 2
            assert scraped[("mouthpiece_render_seconds_sum", ())] > 0
            assert scraped[("mouthpiece_stage_seconds_count", (("stage", "video"),))] == 2
            others = {
                labels: value
                for (name, labels), value in scraped.items()
                if name == "mouthpiece_jobs_total" and labels != (("outcome", "done"),)
            }
            assert set(others.values()) <= {0.0}, others  # nothing failed or was retried

    asyncio.run(go())


def _percents(tg: TelegramStandIn, chat: str, job_id: str) -> list[int]:
    """The percentages job ``job_id``'s status message showed, in the order it showed them."""
    out = []
    for call in tg.calls:
        text = str(call.params.get("text", ""))
        if (
            call.method in ("sendMessage", "editMessageText")
            and str(call.params.get("chat_id")) == chat
            and f"Job {job_id[:8]}:" in text
            and "%" in text
        ):
            out.append(int(text.split("— ")[1].split("%")[0]))
    return out


async def _metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a worker's /metrics: (name, sorted labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        assert resp.status == 200
        body = await resp.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_cancel_queued_and_running(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform_and_queue(tmp_path) as (tg, queue, url):
            long_script = " ".join([SHORT] * 12)
            running = await submit(queue, "2001", 0, long_script)
            queued = await submit(queue, "2001", 1)
            assert await queue.cancel(queued) == "removed"
            assert await queue.position(queued) is None
            async with worker(tmp_path, url, tg.url, "w1"):
                await wait_until(lambda: status_of(queue, running), what="start")
                await wait_until(
                    lambda: _stage_is(queue, running, "video"),
                    what="the running job to reach video",
                )
                assert await queue.cancel(running) == "stopping"
                await wait_until(
                    lambda: is_status(queue, running, "cancelled"), timeout=60, what="cancel"
                )
                await wait_until(lambda: any("cancelled" in e for e in tg.edits(2001)), what="edit")
            assert tg.videos(2001) == []
            assert await queue.cancel(running) == "closed"  # already final: nothing to do

    asyncio.run(go())


async def _stage_is(queue: Queue, job_id: str, stage: str) -> bool:
    s = await queue.record(job_id)
    return bool(s and s.state == JobState.RUNNING and s.stage == stage)


def test_sigterm_requeues_sigkill_recovers_and_the_video_comes_once(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform_and_queue(tmp_path) as (tg, queue, url):
            job_id = await submit(queue, "3001", 0, " ".join([SHORT] * 12))
            score = await queue.redis.zscore(RENDER_QUEUE, job_id)
            # 1. SIGTERM mid-render: the render stops, the job goes back in line, same place.
            async with worker(tmp_path, url, tg.url, "leaving") as proc:
                await wait_until(lambda: _on(queue, job_id, "leaving"), what="mid-render")
                proc.send_signal(signal.SIGTERM)
                assert await asyncio.to_thread(proc.wait, 60) == 0  # the stand-in keeps serving
            assert not await queue.redis.exists(Keys.in_progress(job_id))
            assert await queue.redis.zscore(RENDER_QUEUE, job_id) == score
            # 2. SIGKILL mid-render: no cleanup; arq's in-progress marker stays behind, but the
            #    heartbeat kept it short, so it expires within the bound.
            assert await status_of(queue, job_id) == "queued"
            async with worker(tmp_path, url, tg.url, "doomed") as proc:
                await wait_until(lambda: _on(queue, job_id, "doomed"), what="mid-render")
                proc.kill()
                await asyncio.to_thread(proc.wait)
            killed = time.monotonic()
            ttl_ms = await queue.redis.pttl(Keys.in_progress(job_id))
            assert 0 < ttl_ms <= HEARTBEAT * 1000
            await wait_until(
                lambda: gone(queue, Keys.in_progress(job_id)), timeout=HEARTBEAT + 5, what="expiry"
            )
            assert time.monotonic() - killed <= HEARTBEAT + 1
            # 3. The next worker runs it again and the user gets exactly one video.
            async with worker(tmp_path, url, tg.url, "rescuer"):
                await wait_until(lambda: is_status(queue, job_id, "done"), what="the re-run")
                await asyncio.sleep(1.0)
            assert len(tg.videos(3001)) == 1
            raw = await queue.redis.hgetall(Keys.job(job_id))
            assert raw[b"worker"] == b"rescuer" and raw[b"try"] == b"3"

    asyncio.run(go())


async def _on(queue: Queue, job_id: str, worker_name: str) -> bool:
    """The job is rendering its frames on that worker."""
    raw = await queue.redis.hgetall(Keys.job(job_id))
    return raw.get(b"worker") == worker_name.encode() and raw.get(b"stage") == b"video"


def test_redis_restarts_lose_no_queued_job_and_workers_ride_them_out(tmp_path: Path) -> None:
    async def go() -> None:
        port = free_port()
        tg = TelegramStandIn()
        await tg.start()
        with redis_server(tmp_path, persist=True, port=port) as url:
            queue = await Queue.connect(url)
            ids = [await submit(queue, "4001", n) for n in range(2)]
            await queue.close()
        # 1. Redis restarted (same files) with no worker running: both jobs are still queued.
        first = ExitStack()
        url = first.enter_context(redis_server(tmp_path, persist=True, port=port))
        queue = await Queue.connect(url)
        assert await queue.redis.zcard(RENDER_QUEUE) == 2
        async with worker(tmp_path, url, tg.url, "w1"):
            await wait_until(lambda: len(tg.videos(4001)) == 2, what="both videos")
            # 2. Redis restarted under a running worker: it reconnects and takes the next job.
            await queue.close()
            first.close()
            await asyncio.sleep(1.0)
            with redis_server(tmp_path, persist=True, port=port):
                queue = await Queue.connect(url)
                ids.append(await submit(queue, "4001", 2))
                await wait_until(lambda: len(tg.videos(4001)) == 3, what="the job after the blip")

                async def all_done() -> bool:  # "done" is written just after the delivery
                    return [await status_of(queue, j) for j in ids] == ["done"] * 3

                await wait_until(all_done, timeout=15, what="three jobs done")
                await queue.close()
        await tg.stop()

    asyncio.run(go())


def test_two_users_interleave_fairly_on_two_workers(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform_and_queue(tmp_path) as (tg, queue, url):
            a = [await submit(queue, "5001", n, "Hi there.") for n in range(3)]
            b = [await submit(queue, "5002", n, "Hi there.") for n in range(2)]
            order = [j for j, _ in sorted((await _scores(queue)).items(), key=lambda kv: kv[1])]
            assert order == [a[0], b[0], a[1], b[1], a[2]]  # arrival order was a a a b b
            await queue.cancel(b[1])  # keep the run short: four renders
            async with worker(tmp_path, url, tg.url, "w1"), worker(tmp_path, url, tg.url, "w2"):
                await wait_until(
                    lambda: len(tg.videos(5001)) + len(tg.videos(5002)) == 4, what="four"
                )
            chats = [c.params["chat_id"] for c in tg.calls if c.method == "sendVideo"]
            assert "5002" in chats[:2], chats  # first come first served would give B the last

    asyncio.run(go())


async def _scores(queue: Queue) -> dict[str, float]:
    return {
        k.decode(): v for k, v in await queue.redis.zrange(RENDER_QUEUE, 0, -1, withscores=True)
    }


def test_delivery_retries_429_500_and_a_lost_answer(tmp_path: Path) -> None:
    async def go() -> None:
        tg = TelegramStandIn()
        await tg.start()
        video = tmp_path / "v.mp4"
        video.write_bytes(b"\0" * 1000)
        tg.fail_next["sendVideo"] = [429, 502]  # 502: an HTML page from a proxy
        async with aiohttp.ClientSession() as session:
            await TelegramDelivery(session, tg.url, "123:TEST").send_video("6001", video)
            assert len(tg.videos(6001)) == 3  # two refused, one accepted
            tg.drop_next["sendMessage"] = 1  # handled, but the answer never comes back
            await TelegramDelivery(session, tg.url, "123:TEST").send_text("6001", "hello")
        # the Bot API has no idempotency key: the retry sends again rather than lose it
        assert tg.texts(6001) == ["hello", "hello"]
        await tg.stop()

    asyncio.run(go())


def test_service_cancel_checks_the_owner(tmp_path: Path) -> None:
    from bot.chat.store import Store
    from bot.contract.events import Button, Who
    from bot.conversation.service import Limits

    async def go() -> None:
        with redis_server(tmp_path) as url:
            queue = await Queue.connect(url)
            store = await Store.open(tmp_path / "db.sqlite3")
            service = Service(store, queue, tmp_path / "media", Limits())
            job_id = await submit(queue, "7001", 0)
            job = RenderJob(job_id, "telegram", "7001", "7001", SHORT, "v", "p")
            await store.jobs.add(job, None)
            other = Who("telegram", "7002", "7002")
            owner = Who("telegram", "7001", "7001")
            refused = await service.handle(Button(other, "cancel_job", job_id))
            assert "not yours" in refused[0].text
            done = await service.handle(Button(owner, "cancel_job", job_id))
            assert "cancelled" in done[0].text
            record = await queue.record(job_id)
            assert record is not None and record.state == JobState.CANCELLED
            await queue.close()
            await store.close()

    asyncio.run(go())


pytestmark = pytest.mark.slow


def test_job_timeout_grows_with_the_script() -> None:
    from types import SimpleNamespace

    from bot.settings import BotSettings
    from bot.worker import job_timeout

    per_frame = SimpleNamespace(estimate_seconds=lambda frames, options: frames * 0.5)
    engine = SimpleNamespace(lipsync=per_frame)
    settings = BotSettings(render_timeout_floor=60, render_timeout_max=3600)
    short = job_timeout(engine, "Hi.", settings)  # type: ignore[arg-type]
    long = job_timeout(engine, "word " * 200, settings)  # type: ignore[arg-type]
    assert 60 < short < long <= 3600
    # about 67 s of speech, 1,685 frames at 0.5 s each: three times that, plus the floor
    assert long == pytest.approx(60 + 3 * (1685 * 0.5 + 1000 / 15), rel=0.01)
    huge = job_timeout(engine, "word " * 5000, settings)  # type: ignore[arg-type]
    assert huge == 3600


def test_job_timeout_counts_the_script_as_spoken() -> None:
    """400 typed characters of numbers are about 4,350 spoken ("seven million seven hundred
    and ..."): the render gets the time those words take, ten times that of 400 letters."""
    import math
    from types import SimpleNamespace

    from bot.settings import BotSettings
    from bot.worker import job_timeout
    from spoken_text import spoken

    per_frame = SimpleNamespace(estimate_seconds=lambda frames, options: frames * 0.5)
    engine = SimpleNamespace(lipsync=per_frame)
    settings = BotSettings(render_timeout_floor=60, render_timeout_max=100_000)
    numbers, letters = "7777777 " * 50, "abcdefg " * 50
    assert len(numbers) == len(letters) == 400
    speech = len(spoken(numbers)) / 15  # about 290 s
    frames = math.ceil((speech + 0.4) * 25)
    timeout = job_timeout(engine, numbers, settings)  # type: ignore[arg-type]
    assert timeout == pytest.approx(60 + 3 * (frames * 0.5 + speech), rel=0.001)
    assert timeout > 9 * job_timeout(engine, letters, settings)  # type: ignore[arg-type]


def test_job_records_and_fair_rounds_are_kept_for_one_period(tmp_path: Path) -> None:
    """Status, cancel flag and the owner's fair-queue round (set inside a Lua script) all
    expire after ``JOB_RECORDS_TTL``."""
    from bot.contract.jobs import JOB_RECORDS_TTL

    async def go(url: str) -> None:
        queue = await Queue.connect(url)
        try:
            job = RenderJob("ttl1", "telegram", "u9", "c", "Hello", "v" * 64, "p" * 64)
            assert await queue.enqueue(job)
            await queue.cancel(job.job_id)
            for key in (
                Keys.job(job.job_id),
                Keys.cancel(job.job_id),
                Keys.fair_user("telegram", "u9"),
            ):
                ttl = await queue.redis.ttl(key)
                assert JOB_RECORDS_TTL - 60 < ttl <= JOB_RECORDS_TTL, (key, ttl)
        finally:
            await queue.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))
