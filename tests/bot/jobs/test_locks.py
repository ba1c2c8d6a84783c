"""Locks across processes on a real redis-server: a person's events take turns in every chat
process (:class:`SharedLanes`), and a periodic pass runs in one process at a time
(:func:`leased_every`). Two processes are two sets of objects with their own connections."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.jobs.locks import LEASE_PREFIX, SharedLanes, leased_every
from bot.jobs.redis import connect
from tests.auxil.redis_server import redis_server


class Inside:
    """Counts blocks running at once, per key, and the most ever seen."""

    def __init__(self) -> None:
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.order: list[str] = []

    async def block(self, key: str, seconds: float = 0.01) -> None:
        self.now[key] = self.now.get(key, 0) + 1
        self.most[key] = max(self.most.get(key, 0), self.now[key])
        await asyncio.sleep(seconds)
        self.now[key] -= 1
        self.order.append(key)


def test_one_persons_events_take_turns_across_processes(tmp_path: Path) -> None:
    async def go() -> None:
        with redis_server(tmp_path) as url:
            one, two = await connect(url), await connect(url)
            lanes = [SharedLanes(one, seconds=2.0, poll=0.005), SharedLanes(two, seconds=2.0)]
            inside = Inside()

            async def event(i: int, who: str) -> None:
                async with lanes[i % 2].hold(("telegram", who)):
                    await inside.block(who)

            started = time.monotonic()
            await asyncio.gather(*(event(i, who) for i in range(20) for who in ("ann", "bob")))
            assert inside.most == {"ann": 1, "bob": 1}  # never two of one person at once
            assert len(inside.order) == 40
            # ann's and bob's lanes ran side by side: 20 turns each, not 40 in a row
            assert time.monotonic() - started < 40 * 0.01 + 5
            assert await one.keys("mouthpiece:lane:*") == []  # released
            await one.aclose()
            await two.aclose()

    asyncio.run(go())


def test_a_dead_holders_lock_lapses(tmp_path: Path) -> None:
    async def go() -> None:
        with redis_server(tmp_path) as url:
            redis = await connect(url)
            lanes = SharedLanes(redis, seconds=0.3, poll=0.01)
            # a process that died holding ann's lane: its key stays until its lifetime ends
            await redis.set(SharedLanes.redis_key(("telegram", "ann")), "dead", px=300)
            started = time.monotonic()
            async with lanes.hold(("telegram", "ann")):
                waited = time.monotonic() - started
            assert 0.2 < waited < 2.0
            await redis.aclose()

    asyncio.run(go())


def test_a_periodic_pass_runs_in_one_process_at_a_time(tmp_path: Path) -> None:
    async def go() -> None:
        with redis_server(tmp_path) as url:
            redis = [await connect(url) for _ in range(3)]
            inside = Inside()
            ran = [0, 0, 0]

            def pass_of(i: int):  # type: ignore[no-untyped-def]
                async def run() -> None:
                    ran[i] += 1
                    await inside.block("pass", 0.02)

                return run

            loops = [
                asyncio.create_task(
                    leased_every(r, "retention", 0.01, pass_of(i), lease_seconds=0.3)
                )
                for i, r in enumerate(redis)
            ]
            await asyncio.sleep(1.0)
            assert inside.most["pass"] == 1  # never two passes at once
            leader = ran.index(max(ran))
            assert ran[leader] > 5 and sum(ran) == ran[leader]  # the holder keeps its lease
            # the leader stops (its process ends): another takes the lease over
            loops[leader].cancel()
            await asyncio.gather(loops[leader], return_exceptions=True)
            before = list(ran)
            await asyncio.sleep(1.0)
            others = [ran[i] - before[i] for i in range(3) if i != leader]
            assert max(others) > 5 and min(others) == 0
            assert ran[leader] == before[leader]
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            assert await redis[0].exists(LEASE_PREFIX + "retention") == 0  # handed on
            for r in redis:
                await r.aclose()

    asyncio.run(go())


def test_a_pass_loop_cancelled_as_its_pass_ends_stops(tmp_path: Path) -> None:
    """Cancelled just as a pass returns (while the lease's renewal is being stopped), the
    loop ends: the renewal's own CancelledError must not swallow the loop's (it used to,
    and the loop ran on, "cancelling" forever: a stopping bot that never stopped)."""

    async def go() -> None:
        with redis_server(tmp_path) as url:
            redis = await connect(url)
            me: list[asyncio.Task[None]] = []

            async def run() -> None:  # the cancel lands on the loop's next await
                asyncio.get_running_loop().call_soon(me[0].cancel)

            me.append(asyncio.create_task(leased_every(redis, "p", 0.01, run)))
            done, _ = await asyncio.wait(me, timeout=5)
            assert done, "the loop went on after it was cancelled"
            assert me[0].cancelled()
            await redis.aclose()

    asyncio.run(go())
