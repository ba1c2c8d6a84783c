"""Queue benchmark: enqueue-to-start latency and throughput of the render queue, and the bot's
per-update handling time with many users at once.

(a) arq workers run a no-op ``render`` on the real render queue name
    (``bot.contract.jobs.RENDER_QUEUE``)
    of a private redis-server; each worker is its own process (as in production: one per GPU,
    ``max_jobs=1``). Latency: jobs enqueued one every ``--spacing`` seconds (below capacity),
    time from ``enqueue_job`` to the no-op starting. Throughput: ``--jobs`` enqueued at once,
    jobs/s from the first enqueue until the last job ran. 1 worker and 4 workers side by side.
(b) The bot's real service (``bot.chat.app.build_service``: SQLite in a temp folder, the same
    redis-server) handles ``/talk``, a script and ``/status`` for ``--users`` users at once;
    every ``service.handle`` call is timed. Uploads are left out: they wait for a worker's
    intake check, which is (a)'s business, not the bot's.

(a) runs at two arq poll delays: a small one (the queue's own overhead) and the worker's
default (what a user waits before a free worker notices a job). arq starts at most one job
per poll with ``max_jobs=1``, so the slow-poll runs use fewer jobs to stay short.

    .venv/bin/python bench/queue.py [--jobs 500] [--users 200] [--poll-delays 0.01,0.5]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is bench/queue.py: keep its folder off sys.path, or it would shadow the standard
# library's queue module (which asyncio and arq import).
HERE, ROOT = Path(__file__).resolve().parent, Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

from arq import Worker  # noqa: E402
from arq.connections import ArqRedis, RedisSettings  # noqa: E402
from arq.worker import func  # noqa: E402

from bot.contract.jobs import RENDER_QUEUE  # noqa: E402
from bot.jobs.redis import ARQ_CODEC, connect  # noqa: E402

LATENCIES = "bench:queue:latency"  # list of enqueue-to-start seconds, one per job
READY = "bench:queue:ready"  # set of worker names that are polling


# ---- (a) workers -------------------------------------------------------------------------
async def _noop_render(ctx: dict[str, Any], enqueued_at: float) -> None:
    """Stands in for a render: note how long the job waited, do nothing else."""
    await ctx["redis"].rpush(LATENCIES, repr(time.time() - enqueued_at))


def worker_main(url: str, name: str, poll_delay: float) -> None:
    """One worker process: a real arq Worker on the render queue, max_jobs=1."""

    async def ready(ctx: dict[str, Any]) -> None:
        await ctx["redis"].sadd(READY, name)

    worker = Worker(
        functions=[func(_noop_render, name="render")],
        queue_name=RENDER_QUEUE,
        redis_settings=RedisSettings.from_dsn(url),
        **ARQ_CODEC,
        max_jobs=1,
        poll_delay=poll_delay,
        keep_result=60,
        on_startup=ready,
    )
    worker.run()


async def _wait_ready(redis: ArqRedis, n: int) -> None:
    while await redis.scard(READY) < n:  # type: ignore[misc]
        await asyncio.sleep(0.05)


async def _collect(redis: ArqRedis, n: int) -> list[float]:
    while await redis.llen(LATENCIES) < n:  # type: ignore[misc]
        await asyncio.sleep(0.01)
    return [float(x) for x in await redis.lrange(LATENCIES, 0, -1)]  # type: ignore[misc]


async def _paced(redis: ArqRedis, n: int, spacing: float) -> list[float]:
    await redis.delete(LATENCIES)
    for _ in range(n):
        await redis.enqueue_job("render", time.time(), _queue_name=RENDER_QUEUE)
        await asyncio.sleep(spacing)
    return await _collect(redis, n)


async def _burst(redis: ArqRedis, n: int) -> tuple[float, list[float]]:
    await redis.delete(LATENCIES)
    start = time.perf_counter()
    for _ in range(n):
        await redis.enqueue_job("render", time.time(), _queue_name=RENDER_QUEUE)
    lat = await _collect(redis, n)
    return n / (time.perf_counter() - start), lat


@dataclass(frozen=True)
class QueueRun:
    workers: int
    poll_delay: float
    paced: int  # jobs in the latency run
    spacing: float  # seconds between them
    burst: int  # jobs in the throughput run


def queue_bench(url: str, run: QueueRun) -> dict[str, float]:
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", url, f"w{i}", str(run.poll_delay)],
            stdout=subprocess.DEVNULL,
        )
        for i in range(run.workers)
    ]

    async def go() -> dict[str, float]:
        redis = await connect(url)
        try:
            await _wait_ready(redis, run.workers)
            paced = await _paced(redis, run.paced, run.spacing)
            rate, burst = await _burst(redis, run.burst)
            return {
                "p50": _pct(paced, 50),
                "p99": _pct(paced, 99),
                "jobs_s": rate,
                "burst_p50": _pct(burst, 50),
                "burst_p99": _pct(burst, 99),
            }
        finally:
            await redis.delete(READY)
            await redis.aclose()

    try:
        return asyncio.run(go())
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


# ---- (b) the bot's per-update time ---------------------------------------------------------
async def _user(service: Any, i: int, timings: dict[str, list[float]]) -> None:
    from bot.contract.events import Command, Text, Who

    who = Who("telegram", str(10_000 + i), str(10_000 + i), name=f"user{i}")
    script = f"Hello, this is simulated user number {i}. Please say this in my voice."
    for kind, event in (
        ("/talk", Command(who, "talk")),
        ("script", Text(who, script)),
        ("/status", Command(who, "status")),
    ):
        start = time.perf_counter()
        await service.handle(event)
        timings[kind].append(time.perf_counter() - start)


async def bot_bench(url: str, users: int, concurrent: bool) -> tuple[dict[str, list[float]], float]:
    from bot.chat.app import build_service
    from bot.settings import BotSettings

    with tempfile.TemporaryDirectory() as tmp:
        settings = BotSettings(redis_url=url, data_dir=Path(tmp), limit_user_per_day=1000)
        service, store, queue = await build_service(settings)
        timings: dict[str, list[float]] = {"/talk": [], "script": [], "/status": []}
        try:
            start = time.perf_counter()
            if concurrent:
                await asyncio.gather(*(_user(service, i, timings) for i in range(users)))
            else:
                for i in range(users):
                    await _user(service, i, timings)
            wall = time.perf_counter() - start
        finally:
            await queue.close()
            await store.close()
    return timings, wall


# ---- report --------------------------------------------------------------------------------
def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def _ms(x: float) -> str:
    return f"{x * 1000:8.1f}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500, help="jobs in the throughput burst")
    parser.add_argument("--paced", type=int, default=200, help="jobs in the latency run")
    parser.add_argument("--spacing", type=float, default=0.02, help="seconds between paced jobs")
    parser.add_argument(
        "--poll-delays", default="0.01,0.5", help="arq poll_delay values (s), comma-separated"
    )
    parser.add_argument("--users", type=int, default=200, help="simulated chat users")
    args = parser.parse_args()

    from tests.auxil.redis_server import redis_server

    print(f"machine: {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as url:
        t0 = time.perf_counter()
        print("\n(a) render queue, no-op render, one worker process each, max_jobs=1")
        print("    latency: jobs enqueued one by one, below capacity; throughput: a burst at once")
        print(
            "    poll s  workers  paced jobs  start p50 ms  start p99 ms"
            "  burst jobs    jobs/s  burst p99 ms"
        )
        for delay in (float(x) for x in args.poll_delays.split(",")):
            spacing = max(args.spacing, 1.2 * delay)  # one worker keeps up between jobs
            paced = min(args.paced, int(24 / spacing))
            burst = min(args.jobs, int(20 / delay))
            rates = {}
            for n in (1, 4):
                r = queue_bench(url, QueueRun(n, delay, paced, spacing, burst))
                rates[n] = r
                print(
                    f"    {delay:6.2f}  {n:7d}  {paced:10d}  {_ms(r['p50'])}      {_ms(r['p99'])}"
                    f"      {burst:6d}  {r['jobs_s']:8.1f}      {_ms(r['burst_p99'])}"
                )
            speedup = rates[4]["jobs_s"] / rates[1]["jobs_s"]
            print(
                f"    {delay:6.2f}  4 vs 1: throughput x{speedup:.2f}"
                f", start p50 x{rates[4]['p50'] / rates[1]['p50']:.2f}"
            )

        print(
            f"\n(b) bot service.handle per update, {args.users} users (/talk, script, /status;"
            " no uploads)"
        )
        print("    mode          event      p50 ms    p99 ms    max ms   updates/s")
        for concurrent in (False, True):
            timings, wall = asyncio.run(bot_bench(url, args.users, concurrent))
            mode = "concurrent" if concurrent else "one by one"
            every = [x for v in timings.values() for x in v]
            for kind, values in [*timings.items(), ("all", every)]:
                rate = f"{len(every) / wall:10.0f}" if kind == "all" else ""
                print(
                    f"    {mode:12s}  {kind:8s} {_ms(_pct(values, 50))}  {_ms(_pct(values, 99))}"
                    f"  {_ms(max(values))}  {rate}"
                )
        print(f"\ntotal {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
