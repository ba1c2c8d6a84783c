"""The fair queue shares the workers per scope and per cost (bot/jobs/fair.py), on a real
Redis: the order the scores give is the order arq runs the jobs in."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.chat.queue import Queue
from bot.contract.jobs import RENDER_QUEUE, SCOPE_WIDTH, RenderJob
from bot.jobs.fair import ROUND, cost
from tests.auxil.redis_server import redis_server

SHORT = "Hello there, this is short."


def _job(job_id: str, user: str, guild: str = "", script: str = SHORT) -> RenderJob:
    return RenderJob(job_id, "telegram", user, user, script, "v" * 64, "p" * 64, guild_id=guild)


async def _order(queue: Queue) -> list[str]:
    entries = await queue.redis.zrange(RENDER_QUEUE, 0, -1)
    return [e.decode() for e in entries]


def _run(tmp_path: Path, scenario: object) -> None:
    async def go(url: str) -> None:
        queue = await Queue.connect(url)
        try:
            await scenario(queue)  # type: ignore[operator]
        finally:
            await queue.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_a_swarm_of_dm_accounts_does_not_keep_a_server_member_waiting(tmp_path: Path) -> None:
    """25 fresh DM accounts queue one job each, then a member of a server queues one: the
    member's job runs within the first round (behind at most the DM pool's width), not 26th."""

    async def scenario(queue: Queue) -> None:
        for i in range(25):
            assert await queue.enqueue(_job(f"dm{i}", f"fresh{i}"))
        assert await queue.enqueue(_job("member", "m1", guild="g1"))
        order = await _order(queue)
        assert order.index("member") <= SCOPE_WIDTH, order
        scores = dict(await queue.redis.zrange(RENDER_QUEUE, 0, -1, withscores=True))
        rounds = sorted({int(s) // ROUND for k, s in scores.items() if k != b"member"})
        assert len(rounds) == -(-25 // SCOPE_WIDTH)  # the swarm spread over 13 rounds

    _run(tmp_path, scenario)


def test_two_people_of_one_scope_still_take_turns(tmp_path: Path) -> None:
    async def scenario(queue: Queue) -> None:
        for n in range(3):
            await queue.enqueue(_job(f"a{n}", "a", guild="g1"))
        for n in range(2):
            await queue.enqueue(_job(f"b{n}", "b", guild="g1"))
        assert await _order(queue) == ["a0", "b0", "a1", "b1", "a2"]

    _run(tmp_path, scenario)


def test_a_long_script_costs_more_rounds(tmp_path: Path) -> None:
    """A two-minute script queued first runs after a short one queued later by someone
    else: rounds are weighted by the expected seconds of speech."""
    long_script = "This sentence is said again and again. " * 45  # about two minutes spoken

    async def scenario(queue: Queue) -> None:
        assert cost(long_script) >= 10 and cost(SHORT) == 1
        await queue.enqueue(_job("long", "a", script=long_script))
        await queue.enqueue(_job("short", "b", guild="g1"))
        await queue.enqueue(_job("short2", "c", guild="g2"))
        assert await _order(queue) == ["short", "short2", "long"]

    _run(tmp_path, scenario)
