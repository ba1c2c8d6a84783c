"""The preview's worth and cost, side by side in one run: for a script of a few sentences, the
seconds from enqueue until the preview arrives and until the full video arrives with previews
on, and until the full video arrives with previews off (MOUTHPIECE_PREVIEW_SECONDS=0).

Two real worker processes (``python -m bot.worker``, the embedded engine: espeak + warp), each
with its own redis-server and Telegram Bot API stand-in (tests/auxil), one with previews on
and one with them off, both started before the first job. Jobs go in as the bot enqueues them
(media into Redis, the fair enqueue), one at a time, alternating between the two workers
(which goes first alternates too); a first round warms both up and is not counted. Arrival is
when the stand-in has received the video (``sendVideo``), polled every 5 ms.

    .venv/bin/python bench/preview.py              # about 2 min on 2 cores
    .venv/bin/python bench/preview.py --rounds 3
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds scripts named like stdlib modules (queue.py): keep this folder off the path.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from contextlib import AsyncExitStack, asynccontextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from bot.chat.queue import Queue  # noqa: E402
from bot.contract import texts  # noqa: E402
from bot.conversation.flow import speech_seconds  # noqa: E402
from bot.worker.rendering import preview_of  # noqa: E402
from tests.auxil.redis_server import redis_server  # noqa: E402
from tests.auxil.telegram_server import TelegramStandIn  # noqa: E402
from tests.auxil.workers import status_of, submit, worker  # noqa: E402

SCRIPT = (
    "Welcome to the weekly update. This week we finished the new reading room, and it opens "
    "to everyone on Monday. The café on the ground floor stays open until eight in the "
    "evening. Thank you all for your patience during the works."
)
SECONDS = 3.0  # MOUTHPIECE_PREVIEW_SECONDS of the worker with previews on


@dataclass
class Side:
    """One worker with its Redis, stand-in and queue client."""

    name: str
    tg: TelegramStandIn
    queue: Queue


@asynccontextmanager
async def side(tmp: Path, name: str, preview_seconds: float) -> AsyncIterator[Side]:
    tg = TelegramStandIn()
    await tg.start()
    folder = tmp / name
    folder.mkdir()
    try:
        with redis_server(folder) as url:
            queue = await Queue.connect(url)
            env = {"MOUTHPIECE_PREVIEW_SECONDS": str(preview_seconds)}
            try:
                async with worker(folder, url, tg.url, name, env=env):
                    yield Side(name, tg, queue)
            finally:
                await queue.close()
    finally:
        await tg.stop()


async def one_job(s: Side, chat: int) -> tuple[float | None, float]:
    """Seconds from enqueue to the preview's arrival (None: no preview) and the video's."""
    started = time.perf_counter()
    job_id = await submit(s.queue, str(chat), 0, SCRIPT)
    preview: float | None = None
    while True:
        captions = [
            c.params.get("caption")
            for c in s.tg.calls
            if c.method == "sendVideo" and str(c.params.get("chat_id")) == str(chat)
        ]
        now = time.perf_counter() - started
        if preview is None and texts.PREVIEW_CAPTION in captions:
            preview = now
        if texts.VIDEO_CAPTION in captions:
            video = now
            break
        if now > 600:
            raise SystemExit(f"{s.name}: no video after 10 min (see {s.name}.log)")
        await asyncio.sleep(0.005)
    while await status_of(s.queue, job_id) != "done":  # its bookkeeping, before the next job
        await asyncio.sleep(0.02)
    return preview, video


async def run(rounds: int) -> None:
    opening = preview_of(SCRIPT, SECONDS)
    assert opening is not None, "the script must be long enough for a preview"
    with tempfile.TemporaryDirectory() as tmp:
        async with AsyncExitStack() as stack:
            on = await stack.enter_async_context(side(Path(tmp), "on", SECONDS))
            off = await stack.enter_async_context(side(Path(tmp), "off", 0.0))
            first_look: list[float] = []
            with_preview: list[float] = []
            without: list[float] = []
            for r in range(rounds + 1):  # round 0 warms both workers up
                order = (on, off) if r % 2 == 0 else (off, on)
                got: dict[str, tuple[float | None, float]] = {}
                for s in order:
                    got[s.name] = await one_job(s, 7000 + r)
                (p, v_on), (none, v_off) = got["on"], got["off"]
                assert p is not None and none is None, (p, none)
                if r == 0:
                    continue
                first_look.append(p)
                with_preview.append(v_on)
                without.append(v_off)
                print(
                    f"round {r}: preview {p:6.2f} s, video {v_on:6.2f} s (previews on); "
                    f"video {v_off:6.2f} s (previews off)",
                    flush=True,
                )
    a, b, c = (statistics.median(x) for x in (first_look, with_preview, without))
    print()
    print(
        f"script: {len(SCRIPT)} characters, about {speech_seconds(SCRIPT):.1f} s of speech; "
        f"its preview: {opening!r} (about {speech_seconds(opening):.1f} s)"
    )
    print(
        "python -m bot.worker (embedded engine: espeak + warp) -> Telegram stand-in; "
        f"median of {rounds} rounds"
    )
    print(f"{'':<26}{'to preview s':>14}{'to video s':>12}")
    print(f"{'previews on (3 s)':<26}{a:>14.2f}{b:>12.2f}")
    print(f"{'previews off (0)':<26}{'-':>14}{c:>12.2f}")
    print(f"first look, previews on / video, previews off:   {a / c:.2f}")
    print(f"video, previews on / video, previews off:        {b / c:.2f} ({b - c:+.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="counted jobs per side")
    asyncio.run(run(max(1, parser.parse_args().rounds)))


if __name__ == "__main__":
    main()
