"""A worker's shutdown runs whole, whatever its running jobs end with: a job cancelled outside
its own function (arq writing its result, a render already delivered) ends cancelled, and
arq's ``close`` let that CancelledError out, skipping the shutdown hook (the status board,
the HTTP session) and every worker closed after it. Real parts: a private redis-server and
arq's Worker on this loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from arq import Worker
from arq.connections import RedisSettings

from bot.contract.jobs import INTAKE_QUEUE
from bot.jobs.redis import ARQ_CODEC
from bot.worker import close_worker
from tests.auxil.redis_server import redis_server


async def _noop(ctx: dict[str, Any]) -> None:  # arq needs a function to serve
    return None


def test_a_job_cancelled_outside_its_function_does_not_cut_the_shutdown_short(
    tmp_path: Path,
) -> None:
    shut: list[str] = []

    async def go(url: str) -> None:
        def make(name: str) -> Worker:
            async def on_shutdown(ctx: dict[str, Any]) -> None:
                shut.append(name)

            return Worker(
                functions=[_noop],
                queue_name=f"{INTAKE_QUEUE}:{name}",
                redis_settings=RedisSettings.from_dsn(url),
                handle_signals=False,
                poll_delay=0.05,
                on_shutdown=on_shutdown,
                **ARQ_CODEC,
            )

        workers = [make("first"), make("second")]
        mains = [asyncio.create_task(w.main()) for w in workers]
        try:
            for w in workers:  # connected and polling
                for _ in range(200):
                    if w._pool is not None:
                        break
                    await asyncio.sleep(0.02)
            # a job task arq holds that its cancel ends as cancelled (no function of ours
            # around it to catch it): what a job writing its result is at that moment
            workers[0].tasks["finishing"] = asyncio.create_task(asyncio.sleep(60))
            await asyncio.sleep(0)
            for w in workers:
                await close_worker(w)
            assert shut == ["first", "second"]
            assert workers[0].tasks == {}
        finally:
            for task in mains:
                task.cancel()
            await asyncio.gather(*mains, return_exceptions=True)

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))
