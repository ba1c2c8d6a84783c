"""Status messages: one poster per job across workers (a lock renewed while a slow send is
in flight), a slow chat delays nobody else's status, and a chat that keeps refusing (the user
blocked the bot) is retried with a growing wait and then given up.

Real redis-server; the real TelegramDelivery against the Bot API stand-in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from arq.connections import ArqRedis

from bot.contract.jobs import JobRecord, JobState, Keys
from bot.jobs.locks import renewed_lock
from bot.jobs.redis import connect
from bot.worker.board import Backoff, StatusBoard
from bot.worker.delivery.telegram import TelegramDelivery
from tests.auxil.redis_server import redis_server
from tests.auxil.telegram_server import TelegramStandIn


class _SlowChats(TelegramStandIn):
    """sendMessage to a chat in ``slow`` takes that many seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.slow: dict[str, float] = {}

    async def _sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        await asyncio.sleep(self.slow.get(str(p["chat_id"]), 0.0))
        return await super()._sendMessage(p)


@asynccontextmanager
async def parts(tmp: Path) -> AsyncIterator[tuple[ArqRedis, _SlowChats, TelegramDelivery]]:
    tg = _SlowChats()
    await tg.start()
    with redis_server(tmp) as url:
        redis = await connect(url)
        async with aiohttp.ClientSession() as session:
            try:
                yield redis, tg, TelegramDelivery(session, tg.url, "123:TEST", tries=1)
            finally:
                await redis.aclose()
                await tg.stop()


async def _job(redis: ArqRedis, job_id: str, chat: str, status: str = "running") -> None:
    fields = JobRecord(
        JobState(status),
        stage="video",
        fraction=0.5,
        platform="telegram",
        chat_id=chat,
        user_id=chat,
        chars=40,
        started=time.time(),
    ).to_redis()
    await redis.hset(Keys.job(job_id), mapping=fields)  # type: ignore[misc]
    await redis.sadd(Keys.ACTIVE, job_id)  # type: ignore[misc]


def _board(redis: ArqRedis, messenger: TelegramDelivery, name: str, **kw: Any) -> StatusBoard:
    return StatusBoard(redis, {"telegram": messenger}, name=name, min_edit_seconds=0.0, **kw)


def test_one_poster_per_job_even_when_a_send_outlasts_the_lock(tmp_path: Path) -> None:
    """Worker 1 starts posting a job's status into a slow chat (1.5 s); its lock lasts 0.3 s
    but is renewed meanwhile, so worker 2's pass 0.8 s later leaves the job alone. One
    status message, not two."""

    async def go() -> None:
        async with parts(tmp_path) as (redis, tg, messenger):
            tg.slow["11"] = 1.5
            await _job(redis, "job-slow", "11")
            one = _board(redis, messenger, "w1", lock_seconds=0.3, pass_seconds=0.05)
            two = _board(redis, messenger, "w2", lock_seconds=0.3, pass_seconds=0.05)
            assert await one.tick() == 0  # still sending
            await asyncio.sleep(0.8)  # well past the lock's first expiry
            assert await two.tick() == 0
            await asyncio.sleep(1.2)
            assert len(tg.texts(11)) == 1, tg.texts(11)
            assert await redis.exists(Keys.status_lock("job-slow")) == 0  # released
            await one.close()
            await two.close()

    asyncio.run(go())


def test_a_slow_chat_does_not_hold_up_other_jobs(tmp_path: Path) -> None:
    async def go() -> None:
        async with parts(tmp_path) as (redis, tg, messenger):
            tg.slow["21"] = 3.0
            await _job(redis, "job-a", "21")
            await _job(redis, "job-b", "22")
            board = _board(redis, messenger, "w1", pass_seconds=0.5)
            assert await board.tick() == 1  # job-b shown while job-a's send hangs
            assert len(tg.texts(22)) == 1 and len(tg.texts(21)) == 1
            await redis.hset(Keys.job("job-b"), "fraction", "0.9")  # type: ignore[misc]
            assert await board.tick() == 1  # job-b edited again; job-a not started twice
            assert len(tg.edits(22)) == 1 and len(tg.texts(21)) == 1
            await asyncio.sleep(3.0)
            assert await redis.hget(Keys.job("job-a"), "msg_id")  # type: ignore[misc]
            await board.close()

    asyncio.run(go())


def test_a_blocked_chat_backs_off_then_is_given_up(tmp_path: Path) -> None:
    """403 (the user blocked the bot) on every try: attempts at 0, 5, 15, 35 s (doubling
    waits) and the fourth permanent error gives up; the job leaves the board."""

    async def go() -> None:
        async with parts(tmp_path) as (redis, tg, messenger):
            tg.fail_next["sendMessage"] = [403] * 10
            await _job(redis, "job-x", "31")
            now = [1000.0]
            board = _board(
                redis,
                messenger,
                "w1",
                backoff=Backoff(first=5.0, most=60.0, give_up_after=4),
                clock=lambda: now[0],
            )
            attempts = []
            for second in range(0, 80):
                now[0] = 1000.0 + second
                before = len(tg.calls)
                await board.tick()
                if len(tg.calls) > before:
                    attempts.append(second)
            assert attempts == [0, 5, 15, 35]
            assert not await redis.sismember(Keys.ACTIVE, "job-x")  # type: ignore[misc]
            assert await redis.hget(Keys.job("job-x"), "msg_gave_up") == b"1"  # type: ignore[misc]
            await board.close()

    asyncio.run(go())


def test_a_success_clears_the_failures(tmp_path: Path) -> None:
    async def go() -> None:
        async with parts(tmp_path) as (redis, tg, messenger):
            tg.fail_next["sendMessage"] = [403, 403]
            await _job(redis, "job-y", "41")
            now = [0.0]
            board = _board(
                redis, messenger, "w1", backoff=Backoff(1.0, 10.0, 3), clock=lambda: now[0]
            )
            for t in (0.0, 1.0, 3.0):  # fail, fail, succeed
                now[0] = t
                await board.tick()
            assert len(tg.texts(41)) == 3 and await redis.sismember(Keys.ACTIVE, "job-y")  # type: ignore[misc]
            info = await redis.hgetall(Keys.job("job-y"))  # type: ignore[misc]
            assert b"msg_fails" not in info and info[b"msg_id"]
            await board.close()

    asyncio.run(go())


def test_the_lock_is_exclusive_and_only_its_owner_releases_it(tmp_path: Path) -> None:
    async def go() -> None:
        with redis_server(tmp_path) as url:
            redis = await connect(url)
            async with renewed_lock(redis, "k", 0.2) as first:
                assert first
                async with renewed_lock(redis, "k", 0.2) as second:
                    assert not second
                await asyncio.sleep(0.5)  # renewed past its ttl
                assert await redis.exists("k") == 1
            assert await redis.exists("k") == 0
            await redis.set("k", "someone-else")
            async with renewed_lock(redis, "k", 0.2) as third:
                assert not third
            assert await redis.get("k") == b"someone-else"
            await redis.aclose()

    asyncio.run(go())
