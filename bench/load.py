"""Load benchmark: many people upload at once through the real python-telegram-bot; how long
does everyone wait for an answer, and does anyone stall?

Set-up (one run, both modes side by side):
* a private redis-server; the Bot API stand-in of the tests (tests/auxil/telegram_server.py)
  in its own thread and event loop, recording when each chat gets its first answer;
* the bot: the real ``Service`` (SQLite in a temporary folder, the same Redis) behind the
  real python-telegram-bot ``Application``, long-polling the stand-in, on the main loop;
* an intake worker process: a real arq ``Worker`` on the intake queue (``max_jobs`` 4, as
  the production worker) whose check takes ``--check-seconds`` (it stands in for the
  engine's face/voice check, so the figures are the bot's, not this CPU's face detector).

Scenario: ``--people`` people each send a photo at the same moment; 0.5 s later
``--bystanders`` other people send /talk. Latency is from an update's arrival at the stand-in
to the bot's first answer in that chat. Stalls: /talk answers slower than 5 s (a photo's
answer waits for its check, so the worker's capacity bounds those: with 4 checks at a time the
last of N photos cannot be answered before N x check / 4 s), and the bot loop's worst
lateness (a 10 ms ticker on the bot's event loop). The stand-in shares the bot's process (its
own thread, so its clock is not the bot loop's) and the machine: both inflate the figures.

Modes: "one at a time" is ``concurrent_updates(False)`` (the behaviour before per-person lanes);
"per-person lanes" is the default now (``bot.chat.adapters.telegram.PersonLanes``).

    .venv/bin/python bench/load.py [--people 200] [--bystanders 20] [--check-seconds 0.2]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds queue.py: keep the folder off sys.path, or it would shadow the standard
# library's queue module (which redis and arq import).
HERE, ROOT = Path(__file__).resolve().parent, Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

from arq import Worker  # noqa: E402
from arq.connections import RedisSettings  # noqa: E402
from arq.worker import func  # noqa: E402

from bot.contract.jobs import INTAKE_QUEUE  # noqa: E402
from bot.jobs.redis import ARQ_CODEC  # noqa: E402
from tests.auxil.ptb import polling  # noqa: E402
from tests.auxil.telegram_server import TelegramStandIn  # noqa: E402

STALL = 5.0  # seconds: an answer slower than this is a stall (the bar)
T = TypeVar("T")


# ---- the intake worker (its own process) -------------------------------------------------
def worker_main(url: str, seconds: float, poll: float) -> None:
    async def check_media(ctx: dict[str, Any], kind: str, digest: str) -> dict[str, Any]:
        await asyncio.sleep(seconds)
        return {"ok": True, "warnings": []}

    Worker(
        functions=[func(check_media, name="check_media")],
        queue_name=INTAKE_QUEUE,
        redis_settings=RedisSettings.from_dsn(url),
        **ARQ_CODEC,
        max_jobs=4,
        poll_delay=poll,
        keep_result=600,
    ).run()


# ---- the Bot API stand-in in its own thread ----------------------------------------------
class _Timed(TelegramStandIn):
    """Notes when each chat got its first answer."""

    def __init__(self) -> None:
        super().__init__()
        self.answered: dict[int, float] = {}

    async def _sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        self.answered.setdefault(int(p["chat_id"]), time.monotonic())
        return await super()._sendMessage(p)


class StandIn:
    """The stand-in on a loop of its own: the bot's loop cannot slow the clock that times it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tg = self._run(self._make())
        self.url = self.tg.url

    async def _make(self) -> _Timed:
        tg = _Timed()
        await tg.start()
        return tg

    def _run(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()  # type: ignore[arg-type]

    def push(self, fn: Callable[..., None], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def close(self) -> None:
        self._run(self.tg.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


# ---- one mode -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    uploads: list[float]
    talks: list[float]
    lag: float
    wall: float
    missing: int


async def _lag_probe(done: asyncio.Event) -> float:
    loop, worst = asyncio.get_running_loop(), 0.0
    while not done.is_set():
        before = loop.time()
        await asyncio.sleep(0.01)
        worst = max(worst, loop.time() - before - 0.01)
    return worst


async def run_mode(
    url: str, stand: StandIn, *, concurrent: bool, people: int, bystanders: int, base: int
) -> Result:
    from bot.chat.adapters.telegram import build_application
    from bot.chat.app import build_service
    from bot.settings import BotSettings

    with tempfile.TemporaryDirectory() as tmp:
        settings = BotSettings(
            telegram_bot_token="123:BENCH",
            telegram_api_base_url=stand.url,
            redis_url=url,
            data_dir=Path(tmp),
            intake_timeout_seconds=120.0,
        )
        service, store, queue = await build_service(settings)
        app = build_application(
            settings.telegram_bot_token, stand.url, service.handle, concurrent=concurrent
        )
        done = asyncio.Event()
        uploaders = [base + i for i in range(people)]
        talkers = [base + people + i for i in range(bystanders)]
        sent: dict[int, float] = {}
        async with polling(app):
            probe = asyncio.create_task(_lag_probe(done))
            start = time.monotonic()
            for chat in uploaders:
                sent[chat] = time.monotonic()
                stand.push(stand.tg.send_photo, chat, os.urandom(50_000))
            await asyncio.sleep(0.5)
            for chat in talkers:
                sent[chat] = time.monotonic()
                stand.push(stand.tg.send_text, chat, "/talk")
            deadline = time.monotonic() + 600
            while len([c for c in sent if c in stand.tg.answered]) < len(sent):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            wall = time.monotonic() - start
            done.set()
            lag = await probe
        await queue.close()
        await store.close()
    answered = stand.tg.answered
    return Result(
        uploads=[answered[c] - sent[c] for c in uploaders if c in answered],
        talks=[answered[c] - sent[c] for c in talkers if c in answered],
        lag=lag,
        wall=wall,
        missing=len([c for c in sent if c not in answered]),
    )


# ---- report --------------------------------------------------------------------------------
def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (nan when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--intake-worker":
        worker_main(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=200, help="people uploading at once")
    parser.add_argument("--bystanders", type=int, default=20, help="people sending /talk")
    parser.add_argument("--check-seconds", type=float, default=0.2, help="one intake check")
    parser.add_argument("--poll", type=float, default=0.1, help="the intake worker's poll delay")
    parser.add_argument(
        "--modes", default="old,lanes", help="old (one at a time), lanes, or both (default)"
    )
    args = parser.parse_args()

    from tests.auxil.redis_server import redis_server

    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start")
    print(
        f"{args.people} people send a photo at once, {args.bystanders} others send /talk 0.5 s"
        f" later; intake check {args.check_seconds:g} s, one worker, 4 checks at a time"
    )
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as url:
        command = [sys.executable, __file__, "--intake-worker", url]
        worker = subprocess.Popen(
            [*command, str(args.check_seconds), str(args.poll)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stand = StandIn()
        try:
            results = {}
            modes = (("old", "one at a time", False), ("lanes", "per-person lanes", True))
            for n, (key, name, concurrent) in enumerate(modes):
                if key not in args.modes.split(","):
                    continue
                results[name] = asyncio.run(
                    run_mode(
                        url,
                        stand,
                        concurrent=concurrent,
                        people=args.people,
                        bystanders=args.bystanders,
                        base=1_000_000 * (n + 1),
                    )
                )
        finally:
            stand.close()
            worker.terminate()
            worker.wait(timeout=30)
    floor = args.people * args.check_seconds / 4
    print(
        f"(the last photo cannot be answered before {floor:.1f} s:"
        f" {args.people} checks, 4 at a time)"
    )
    print(
        "\nmode               photo answer p50 / p99 s   /talk answer p50 / p99 / max s"
        "   /talk > 5 s   bot loop worst lateness   wall s"
    )
    for name, r in results.items():
        slow = sum(x > STALL for x in r.talks)
        print(
            f"{name:18s} {_pct(r.uploads, 50):12.2f} / {_pct(r.uploads, 99):6.2f}"
            f"   {_pct(r.talks, 50):14.3f} / {_pct(r.talks, 99):6.3f} / {max(r.talks or [0]):6.3f}"
            f"   {slow:4d} of {len(r.talks):3d}   {r.lag * 1000:17.0f} ms   {r.wall:7.1f}"
            + (f"   ({r.missing} unanswered)" if r.missing else "")
        )
    if len(results) < 2:
        return
    old, new = results["one at a time"], results["per-person lanes"]
    print(
        f"\n/talk p99: x{_pct(old.talks, 99) / _pct(new.talks, 99):.0f} faster with lanes;"
        f" photo p50: x{_pct(old.uploads, 50) / _pct(new.uploads, 50):.1f};"
        f" whole burst answered x{old.wall / new.wall:.1f} sooner"
    )
    print(f"load average {os.getloadavg()[0]:.1f} at the end (the machine is shared)")


if __name__ == "__main__":
    main()
