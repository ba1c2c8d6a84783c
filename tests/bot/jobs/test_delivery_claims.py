"""Who may send a job's video (bot.jobs.delivery) and how a render keeps its job through Redis
errors (the heartbeat lease and the cancel watcher in bot.worker.rendering). Real
redis-server; Redis errors are made real with ACLs (a command refused with NOPERM fails at
once, as an error a restarting or failing-over Redis sends would)."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from arq import Retry

from bot.contract.jobs import DeliveryMark, Keys, RenderJob
from bot.jobs.delivery import Claim, Resend, claim, mark_of, release, settle
from bot.jobs.redis import connect
from bot.settings import BotSettings
from bot.worker import outbox
from bot.worker.context import CTX_KEY, WorkerContext
from bot.worker.delivery.http import DeliveryError
from bot.worker.delivery.telegram import TelegramDelivery
from bot.worker.outbox import SomeoneSending, deliver_once, tell
from bot.worker.rendering import _Lease, _watch_cancel, render
from tests.auxil.redis_server import redis_server
from tests.auxil.telegram_server import TelegramStandIn

JOB = RenderJob("j1", "telegram", "5", "5", "Hello there.", "v" * 64, "p" * 64)


def test_claims_let_one_sender_at_a_time_and_resend_as_each_platform_allows(
    tmp_path: Path,
) -> None:
    async def go(url: str) -> None:
        redis = await connect(url)
        try:
            assert await claim(redis, "t", 0.3, Resend.ONCE) == Claim.SEND
            assert await claim(redis, "t", 0.3, Resend.ONCE) == Claim.BUSY  # lease running
            await asyncio.sleep(0.4)  # the sender died in the window: its lease ran out
            assert await claim(redis, "t", 0.3, Resend.ONCE) == Claim.RESEND  # Telegram: once
            await asyncio.sleep(0.4)
            assert await claim(redis, "t", 0.3, Resend.ONCE) == Claim.GAVE_UP  # not twice
            assert await claim(redis, "d", 0.1, Resend.ALWAYS) == Claim.SEND
            for _ in range(3):  # Discord's nonce makes every resend safe
                await asyncio.sleep(0.2)
                assert await claim(redis, "d", 0.1, Resend.ALWAYS) == Claim.RESEND
            await settle(redis, "d", DeliveryMark.VIDEO)
            assert await claim(redis, "d", 0.1, Resend.ALWAYS) == Claim.VIDEO
            assert await claim(redis, "r", 5, Resend.ONCE) == Claim.SEND
            await release(redis, "r")  # the platform refused: nothing went out
            assert await claim(redis, "r", 5, Resend.ONCE) == Claim.SEND
            await settle(redis, "r", DeliveryMark.NOTICE)
            assert await mark_of(redis, "r") == DeliveryMark.NOTICE
            await redis.set(Keys.delivered("old"), b"1")  # the first release's mark
            assert await claim(redis, "old", 5, Resend.ONCE) == Claim.VIDEO
        finally:
            await redis.aclose()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_two_workers_finishing_the_same_job_send_it_once(tmp_path: Path) -> None:
    """Two workers hold the same rendered job (one lost its marker in a Redis outage and the
    other took the job): both reach delivery at once. The claim lets one send; the other
    backs off (the worker retries it later and then finds the video delivered)."""
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 100)
    sent: list[str] = []

    async def slow_send(w: WorkerContext, job: RenderJob, path: Path | None, text: str) -> None:
        sent.append(w.name)
        await asyncio.sleep(0.3)  # the platform takes its time

    async def go(url: str) -> None:
        redis = await connect(url)
        workers = [
            WorkerContext(BotSettings(), tmp_path, tmp_path, name=n, redis=redis, deliver=slow_send)
            for n in ("w1", "w2")
        ]
        try:
            outcomes = await asyncio.gather(
                *(deliver_once(w, JOB, video) for w in workers), return_exceptions=True
            )
            assert len(sent) == 1
            assert sum(isinstance(o, SomeoneSending) for o in outcomes) == 1
            assert await mark_of(redis, JOB.job_id) == DeliveryMark.VIDEO
        finally:
            await redis.aclose()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_a_shutdown_mid_send_lets_the_send_finish_and_mark_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """arq cancels a running job when its worker stops. A video (or notice) already on its
    way is finished and marked first, so the next try finds it delivered instead of
    rendering again from uploads that may be gone and telling the user it failed. A send
    slower than the grace is cut off: its claim stays, and the lease decides."""
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 100)
    sent: list[str] = []

    async def slow_send(w: WorkerContext, job: RenderJob, path: Path | None, text: str) -> None:
        await asyncio.sleep(0.5 if job.job_id != "slow" else 30)
        sent.append(job.job_id)

    async def stopped_mid_send(w: WorkerContext, job: RenderJob, sending: Any) -> None:
        task = asyncio.create_task(sending(w, job))
        await asyncio.sleep(0.1)  # the send is under way
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def go(url: str) -> None:
        redis = await connect(url)
        w = WorkerContext(
            BotSettings(), tmp_path, tmp_path, name="w", redis=redis, deliver=slow_send
        )
        try:
            await stopped_mid_send(w, JOB, lambda w, job: deliver_once(w, job, video))
            assert sent == [JOB.job_id]
            assert await mark_of(redis, JOB.job_id) == DeliveryMark.VIDEO
            told = replace(JOB, job_id="told")
            await stopped_mid_send(w, told, lambda w, job: tell(w, job, "It failed."))
            assert sent[-1] == "told" and await mark_of(redis, "told") == DeliveryMark.NOTICE
            monkeypatch.setattr(outbox, "SEND_GRACE_SECONDS", 0.2)
            slow = replace(JOB, job_id="slow")
            await stopped_mid_send(w, slow, lambda w, job: deliver_once(w, job, video))
            assert "slow" not in sent and await mark_of(redis, "slow") == DeliveryMark.SENDING
            assert await claim(redis, "slow", 5, Resend.ONCE) == Claim.BUSY  # its claim stands
        finally:
            await redis.aclose()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_a_job_run_again_while_another_worker_sends_it_waits_for_that_send(
    tmp_path: Path,
) -> None:
    """A worker cut off mid-send past the grace (or killed) leaves a live claim; the job's
    next run waits for the claim's lease instead of rendering it again beside the send."""

    async def go(url: str) -> None:
        redis = await connect(url)
        w = WorkerContext(BotSettings(), tmp_path, tmp_path, name="w", redis=redis)
        try:
            await claim(redis, JOB.job_id, 30, Resend.ONCE)  # "sending" for 30 s
            with pytest.raises(Retry) as waited:
                await render({CTX_KEY: w, "job_try": 1}, JOB.to_json())
            assert 29 <= (waited.value.defer_score or 0) / 1000 <= 32
            assert await redis.get(Keys.job(JOB.job_id)) is None  # nothing moved or rendered
        finally:
            await redis.aclose()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_a_lost_answer_to_a_telegram_video_is_not_resent_blindly(tmp_path: Path) -> None:
    """Telegram has no idempotency key: a sendVideo whose answer was lost may have gone out,
    so the HTTP loop does not send it again; it says "unsure" and the claim decides."""

    async def go() -> None:
        tg = TelegramStandIn()
        await tg.start()
        video = tmp_path / "v.mp4"
        video.write_bytes(b"\0" * 1000)
        tg.drop_next["sendVideo"] = 1  # handled, but the answer never comes back
        try:
            async with aiohttp.ClientSession() as session:
                with pytest.raises(DeliveryError) as caught:
                    await TelegramDelivery(session, tg.url, "123:TEST").send_video("6001", video)
            assert caught.value.unsure and caught.value.retryable
            assert len(tg.videos(6001)) == 1
        finally:
            await tg.stop()

    asyncio.run(go())


def test_the_heartbeat_and_the_cancel_watcher_ride_out_redis_errors(tmp_path: Path) -> None:
    """For three heartbeats every SET and EXISTS fails at once (NOPERM). The heartbeat keeps
    retrying and takes its marker back when Redis answers again (nobody else holds it), and
    the cancel watcher still sees a cancel afterwards."""

    async def go(url: str) -> None:
        redis = await connect(url)
        settings = BotSettings(heartbeat_seconds=0.6)
        w = WorkerContext(settings, tmp_path, tmp_path, redis=redis)
        stop = threading.Event()
        lease = _Lease(w, JOB.job_id, stop)
        await redis.set(Keys.in_progress(JOB.job_id), b"1", px=600)
        beating = asyncio.create_task(lease.keep())
        watching = asyncio.create_task(_watch_cancel(w, JOB.job_id, stop))
        try:
            await asyncio.sleep(0.5)
            await redis.execute_command("ACL", "SETUSER", "default", "-set", "-exists")
            await asyncio.sleep(3 * settings.heartbeat_seconds)
            assert not beating.done() and not watching.done()
            await redis.execute_command("ACL", "SETUSER", "default", "+set", "+exists")
            deadline = time.monotonic() + 5
            while not await redis.exists(Keys.in_progress(JOB.job_id)):
                assert time.monotonic() < deadline, "the marker was never taken back"
                await asyncio.sleep(0.1)
            assert not lease.lost.is_set()
            await redis.set(Keys.cancel(JOB.job_id), b"1")
            await asyncio.wait_for(watching, 10)  # ends after setting stop
            assert stop.is_set() and watching.exception() is None
        finally:
            for task in (beating, watching):
                task.cancel()
            await asyncio.gather(beating, watching, return_exceptions=True)
            await redis.aclose()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_a_worker_whose_marker_another_worker_took_gives_the_job_up(tmp_path: Path) -> None:
    async def go(url: str) -> None:
        redis = await connect(url)
        w = WorkerContext(BotSettings(heartbeat_seconds=0.3), tmp_path, tmp_path, redis=redis)
        stop = threading.Event()
        lease = _Lease(w, JOB.job_id, stop)
        try:
            await asyncio.sleep(0.4)  # no beat for a whole heartbeat: the marker lapsed
            await redis.set(Keys.in_progress(JOB.job_id), b"1", px=5000)  # another took it
            assert not await lease.beat()
            assert lease.lost.is_set() and stop.is_set()
        finally:
            await redis.aclose()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))
