"""What docs/operators.md promises when a render or its delivery goes wrong, with real parts: a
redis-server, `python -m bot.worker` subprocesses (through tests/auxil/worker_faults.py where a
fault must strike at an exact point: an engine failure, a SIGKILL right after a mark), the
embedded CPU engine, and the platforms' HTTP code against the Telegram and Discord stand-ins.

Covers: transient failures retried with a doubling backoff, then the user told once after
MOUTHPIECE_RENDER_MAX_TRIES runs; a re-run after that notice ends as failed (not done) and sends
nothing; the render timeout stops the engine and tells the user; a re-run after the platform
accepted the video sends nothing and renders nothing; a re-run after a failed delivery sends
the rendered file without rendering again; Discord: a worker killed after the platform took
the video but before its answer arrived, and the retry carries the same nonce (one message).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.chat.queue import Queue
from bot.contract import texts
from bot.contract.jobs import Keys
from tests.auxil.discord_server import DiscordStandIn, Req
from tests.auxil.redis_server import redis_server
from tests.auxil.worker_faults import renders
from tests.auxil.workers import (
    FAULTS,
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

pytestmark = pytest.mark.slow
LONG = " ".join([SHORT] * 24)


async def _killed(proc: object) -> None:
    """Wait for a worker that SIGKILLs itself (worker_faults) to be gone."""
    code = await asyncio.to_thread(proc.wait, 120)  # type: ignore[attr-defined]
    assert code == -9, f"the worker exited with {code}, not by SIGKILL"


async def _mark(queue: Queue, job_id: str) -> bytes | None:
    value: bytes | None = await queue.redis.get(Keys.delivered(job_id))
    return value


def test_transient_failures_retry_with_backoff_then_the_user_is_told_once(
    tmp_path: Path,
) -> None:
    log = tmp_path / "renders.log"
    faults = {
        "FAULT_RENDER_LOG": str(log),
        "FAULT_TRANSIENT_TRIES": "99",  # every run fails
        "FAULT_KILL_AFTER": "notice",  # and the worker dies the moment the user was told
        "MOUTHPIECE_RENDER_MAX_TRIES": "3",
        "MOUTHPIECE_RETRY_BACKOFF_SECONDS": "1.0",
    }

    async def go() -> None:
        async with platform_and_queue(tmp_path) as (tg, queue, url):
            job_id = await submit(queue, "8001")
            async with worker(tmp_path, url, tg.url, "flaky", env=faults, module=FAULTS) as proc:
                await _killed(proc)
            # Three runs, the second and third after 1 s and 2 s of backoff (at least).
            starts = renders(log, f"{job_id}.mp4")
            assert len(starts) == 3, starts
            assert starts[1] - starts[0] >= 1.0 and starts[2] - starts[1] >= 2.0, starts
            told = texts.FAILED_TRIES.format(tries=3)
            assert tg.texts(8001).count(told) == 1 and tg.videos(8001) == []
            assert await _mark(queue, job_id) == b"notice"
            # The worker died before its bookkeeping. The next one runs the job again: the
            # notice is not a delivered video, so the job ends failed, saying why, and the
            # user hears nothing more.
            await wait_until(lambda: gone(queue, Keys.in_progress(job_id)), HEARTBEAT + 5)
            async with worker(tmp_path, url, tg.url, "rescuer", env=faults, module=FAULTS):
                await wait_until(lambda: _final(queue, job_id), what="the re-run to finish")
            status = await queue.record(job_id)
            assert status is not None and (status.state, status.error) == ("failed", told)
            assert tg.texts(8001).count(told) == 1 and tg.videos(8001) == []
            assert len(renders(log, f"{job_id}.mp4")) == 3  # the re-run rendered nothing

    asyncio.run(go())


async def _final(queue: Queue, job_id: str) -> bool:
    return await status_of(queue, job_id) in ("done", "failed", "invalid", "cancelled")


def test_a_render_past_its_timeout_is_stopped_and_the_user_is_told(tmp_path: Path) -> None:
    log = tmp_path / "renders.log"
    settings = {"MOUTHPIECE_RENDER_TIMEOUT_MAX": "1.0", "FAULT_RENDER_LOG": str(log)}
    told = texts.FAILED_TIMEOUT.format(minutes=1.0 / 60)

    async def go() -> None:
        async with platform_and_queue(tmp_path) as (tg, queue, url):
            first = await submit(queue, "8101", 0, LONG)
            second = await submit(queue, "8101", 1, LONG)
            async with worker(tmp_path, url, tg.url, "w1", env=settings, module=FAULTS):
                await wait_until(lambda: is_status(queue, first, "failed"), what="the timeout")
                # One render at a time: the second job starts only once the first render has
                # stopped, and it is stopped the same way.
                await wait_until(lambda: is_status(queue, second, "failed"), what="the next")
                await wait_until(lambda: tg.texts(8101).count(told) == 2, what="the notices")
            for job_id in (first, second):
                status = await queue.record(job_id)
                assert status is not None and status.error == told
                assert len(renders(log, f"{job_id}.mp4")) == 1  # a timeout is not retried
                # the engine stopped mid-render: no video was finished
                assert not (tmp_path / "w1" / "out" / f"{job_id}.mp4").exists()
            assert tg.texts(8101).count(told) == 2 and tg.videos(8101) == []

    asyncio.run(go())


def test_a_rerun_after_the_platform_accepted_the_video_sends_and_renders_nothing(
    tmp_path: Path,
) -> None:
    log = tmp_path / "renders.log"
    faults = {"FAULT_RENDER_LOG": str(log), "FAULT_KILL_AFTER": "delivery"}

    async def go() -> None:
        async with platform_and_queue(tmp_path) as (tg, queue, url):
            job_id = await submit(queue, "8201")
            async with worker(tmp_path, url, tg.url, "doomed", env=faults, module=FAULTS) as proc:
                await _killed(proc)  # right after the video was accepted and marked
            assert len(tg.videos(8201)) == 1 and await _mark(queue, job_id) == b"video"
            assert await status_of(queue, job_id) == "delivering"  # no bookkeeping happened
            await wait_until(lambda: gone(queue, Keys.in_progress(job_id)), HEARTBEAT + 5)
            rescue = {"FAULT_RENDER_LOG": str(log)}
            async with worker(tmp_path, url, tg.url, "rescuer", env=rescue, module=FAULTS):
                await wait_until(lambda: is_status(queue, job_id, "done"), what="the re-run")
            raw = await queue.redis.hgetall(Keys.job(job_id))
            assert raw[b"worker"] == b"doomed"  # the re-run did not even start a render
            assert len(tg.videos(8201)) == 1 and len(renders(log)) == 1

    asyncio.run(go())


def test_a_rerun_after_a_failed_delivery_reuses_the_rendered_file(tmp_path: Path) -> None:
    log = tmp_path / "renders.log"
    faults = {"FAULT_RENDER_LOG": str(log), "MOUTHPIECE_RETRY_BACKOFF_SECONDS": "0.5"}

    async def go() -> None:
        async with platform_and_queue(tmp_path) as (tg, queue, url):
            tg.retry_after = 0.05
            tg.fail_next["sendVideo"] = [429] * 4  # every try of the first delivery
            job_id = await submit(queue, "8301")
            async with worker(tmp_path, url, tg.url, "w1", env=faults, module=FAULTS):
                await wait_until(lambda: is_status(queue, job_id, "done"), what="delivery")
            sent = tg.videos(8301)
            assert len(sent) == 5  # four refused, then the re-run's one accepted
            assert sent[-1] == sent[0] and len(renders(log)) == 1  # same file, rendered once
            raw = await queue.redis.hgetall(Keys.job(job_id))
            assert raw[b"try"] == b"2" and await _mark(queue, job_id) == b"video"

    asyncio.run(go())


def test_discord_video_accepted_then_worker_killed_posts_once_with_one_nonce(
    tmp_path: Path,
) -> None:
    log = tmp_path / "renders.log"
    shared = tmp_path / "volume"  # both workers see one data folder, like the compose volume

    async def go() -> None:
        dc = DiscordStandIn()
        await dc.start()
        env = {
            "DISCORD_BOT_TOKEN": "TEST",
            "DISCORD_API_BASE_URL": dc.api,
            "FAULT_RENDER_LOG": str(log),
        }
        path = "/channels/9001/messages"
        with redis_server(tmp_path) as url:
            queue = await Queue.connect(url)
            job_id = await submit(queue, "9001", platform="discord")
            async with worker(
                tmp_path, url, "", "doomed", env=env, module=FAULTS, data_dir=shared
            ) as proc:
                await dc.wait_for(lambda: len(dc.channel_posts("9001")) >= 1, timeout=120)
                dc.drop[f"POST {path}"] = 1  # the next post is the video: taken, answer lost
                await dc.wait_for(lambda: len(_videos(dc)) == 1, timeout=120)
                proc.kill()  # before the worker heard that Discord has it
                await asyncio.to_thread(proc.wait)
            claim = await _mark(queue, job_id)  # claimed for sending, never settled
            assert claim is not None and claim.startswith(b"sending:")
            await wait_until(lambda: gone(queue, Keys.in_progress(job_id)), HEARTBEAT + 5)
            async with worker(
                tmp_path, url, "", "rescuer", env=env, module=FAULTS, data_dir=shared
            ):
                await wait_until(lambda: is_status(queue, job_id, "done"), what="the re-run")
            posts = _videos(dc)
            assert len(posts) == 2 and posts[0].files == posts[1].files  # the same rendered file
            nonces = {p.json["nonce"] for p in posts}
            assert len(nonces) == 1 and all(p.json["enforce_nonce"] for p in posts)
            created = [m for m in dc.created if m["content"].startswith("Made with Mouthpiece")]
            assert len(created) == 1  # Discord kept one message for the one nonce
            assert len(renders(log)) == 1  # the re-run sent the file the first run rendered
            await queue.close()
        await dc.stop()

    asyncio.run(go())


def _videos(dc: DiscordStandIn) -> list[Req]:
    return [p for p in dc.channel_posts("9001") if p.files]


def test_telegram_video_accepted_then_worker_killed_is_sent_again_once_at_most(
    tmp_path: Path,
) -> None:
    """Telegram has no idempotency key. A worker killed after Telegram took the video but
    before the mark became final leaves a lapsed claim: the next worker sends once more
    (two copies, the documented worst case). If that one dies in the same window too, the
    third sends nothing: never a third copy."""
    log = tmp_path / "renders.log"
    shared = tmp_path / "volume"  # one data folder: the re-runs reuse the rendered file
    dying = {"FAULT_RENDER_LOG": str(log), "FAULT_KILL_AFTER": "send"}

    async def go() -> None:
        async with platform_and_queue(tmp_path) as (tg, queue, url):
            job_id = await submit(queue, "8401")
            for name, sent, claim in (("doomed", 1, b"sending:"), ("rescuer", 2, b"resent:")):
                async with worker(
                    tmp_path, url, tg.url, name, env=dying, module=FAULTS, data_dir=shared
                ) as proc:
                    await _killed(proc)  # right after Telegram took the video
                mark = await _mark(queue, job_id)
                assert len(tg.videos(8401)) == sent and mark is not None
                assert mark.startswith(claim)
                await wait_until(lambda: gone(queue, Keys.in_progress(job_id)), HEARTBEAT + 5)
            calm = {"FAULT_RENDER_LOG": str(log)}
            async with worker(
                tmp_path, url, tg.url, "last", env=calm, module=FAULTS, data_dir=shared
            ):
                await wait_until(lambda: is_status(queue, job_id, "done"), what="the last run")
            assert len(tg.videos(8401)) == 2 and len(renders(log)) == 1
            assert await _mark(queue, job_id) == b"video"

    asyncio.run(go())
