"""One trip per photo: what one job's photo and voice note cost in bytes and CPU, before and
after the intake result is reused, and after with the upload kept once (bot and worker sharing
the data folder, ``MOUTHPIECE_SHARED_MEDIA``), side by side in one run.

Both code trees run the same measured path in their own subprocess (real SQLite, a private
redis-server, the real worker functions and engine with its embedded CPU backends):

1. the bot keeps both uploads (``Uploads.keep``: its disk, its SQLite row, Redis unless
   shared);
2. a worker's intake checks both (``bot.worker.check_media``);
3. a worker renders the job (``bot.worker.rendering._render``: fetch, decode, find the face, speak,
   lip-sync, encode), ``--renders`` times (a retried or re-run job pays step 3 again).

Measured, per job: bytes written to files by the bot and the worker (sizes of the files each
left), bytes through Redis (``INFO``'s network counters: every command, both directions),
bytes through the worker process's read/write calls (``/proc/self/io`` rchar/wchar: files and
the Redis socket; ffmpeg children's own reads not included), face searches (calls of the
mediapipe graphs), CPU seconds of the worker process plus its children (ffmpeg) for the
intake and the render, and the render's ``inputs`` stage (decode + face) in wall seconds.

"before" is the tree at ``--base`` (default: a ``git worktree`` of commit 764489a, the main
branch this work started from, made under /tmp/base-i16 when missing); "after" is this tree,
with uploads through Redis (workers on other machines) and "shared" this tree with
``shared_media`` on (one box: the worker reads the bot's file in place).
Run from the repository root:

    .venv/bin/python bench/trip.py [--renders 2] [--base /tmp/base-i16]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Keep bench/ off sys.path: bench/queue.py would shadow the standard library's queue module.
HERE, ROOT = Path(__file__).resolve().parent, Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

BASE_COMMIT = "764489a"
SCRIPT = "Hello there. This is one trip of a photo and a voice note through Mouthpiece."


def _io() -> tuple[int, int]:
    """Bytes through this process's read and write calls so far (rchar, wchar)."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["rchar"]), int(fields["wchar"])


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


async def _redis_net(redis: Any) -> int:
    info = await redis.info("stats")
    return int(info["total_net_input_bytes"]) + int(info["total_net_output_bytes"])


async def _measure(tmp: Path, renders: int, shared: bool) -> dict[str, float]:
    """The trip in this interpreter's tree (whatever ``bot``/``engine`` import here)."""
    import bot.worker as worker
    import engine.media.image as image
    from bot.settings import BotSettings
    from engine import Engine, EngineSettings

    try:  # the layout by process and contract
        from bot.chat.queue import Queue
        from bot.chat.store import Store
        from bot.contract.events import Media, Who
        from bot.contract.jobs import RenderJob
        from bot.jobs.media import Uploads
        from bot.worker.rendering import _render as render_into

        def media_of(store: Any) -> Any:
            return store.media
    except ImportError:  # the base tree's layout (bot/core, bot/queue.py, bot/worker.py)
        from bot.core.events import Media, Who  # type: ignore[no-redef]
        from bot.core.uploads import Uploads  # type: ignore[no-redef]
        from bot.queue import Queue  # type: ignore[no-redef]
        from bot.store import Store  # type: ignore[no-redef]

        from bot.jobs import RenderJob  # type: ignore[no-redef]

        render_into = worker._render

        def media_of(store: Any) -> Any:
            return store

    searches = [0]
    real_detect = image._MediapipeFaces.detect

    def counted(self: Any, img: Any) -> Any:
        searches[0] += 1
        return real_detect(self, img)

    image._MediapipeFaces.detect = counted  # type: ignore[method-assign,assignment]
    samples = ROOT / "data" / "samples"
    photo, voice = (samples / "portrait.jpg").read_bytes(), (samples / "voice.ogg").read_bytes()
    from tests.auxil.redis_server import redis_server

    out: dict[str, float] = {"upload_bytes": len(photo) + len(voice)}
    with redis_server(tmp) as url:
        one_box = {"shared_media": True} if shared else {}
        settings = BotSettings(redis_url=url, data_dir=tmp / "data", **one_box)
        engine = Engine(EngineSettings(cache_dir=tmp / "engine-cache"))
        searches[0] = 0  # the engine's start-up pass on a blank image is not a job's
        store = await Store.open(tmp / "bot.sqlite3")
        queue = await Queue.connect(url, **({"shared": True} if shared else {}))
        media_dir = settings.media_dir
        uploads = Uploads(media_of(store), queue, media_dir)
        who = Who("telegram", "1", "1")
        # 1. the bot keeps both uploads
        net0 = await _redis_net(queue.redis)
        digests = {}
        for kind, data, name in (("image", photo, "p.jpg"), ("audio", voice, "v.ogg")):

            async def fetch(data: bytes = data) -> bytes:
                return data

            event = Media(who, kind, len(data), fetch, filename=name)
            digests[kind] = await uploads.keep(event, data)
        out["bot_file_bytes"] = _tree_bytes(media_dir)
        out["bot_redis_bytes"] = await _redis_net(queue.redis) - net0
        # 2. + 3. a worker's intake, then the render(s)
        ctx, house = _worker_ctx(worker, settings, engine, queue.redis, tmp)
        net0, io0, cpu0 = await _redis_net(queue.redis), _io(), _cpu()
        for kind in ("image", "audio"):
            await worker.check_media(ctx, kind, digests[kind])
        cpu1 = _cpu()
        out["intake_cpu_s"] = cpu1 - cpu0
        out["intake_face_searches"] = searches[0]
        job = RenderJob(
            job_id="trip",
            platform="telegram",
            chat_id="1",
            user_id="1",
            script=SCRIPT,
            voice_hash=digests["audio"],
            photo_hash=digests["image"],
        )
        inputs = []
        real_render = engine.render

        def timed_render(request: Any, **kw: Any) -> Any:
            result = real_render(request, **kw)
            inputs.append(result.stage_seconds["inputs"])
            return result

        engine.render = timed_render  # type: ignore[method-assign]
        for n in range(renders):
            output = tmp / f"out{n}.mp4"
            await render_into(house, job, output, threading.Event())
            output.unlink()
        io2, cpu2 = _io(), _cpu()
        out["render_cpu_s"] = (cpu2 - cpu1) / renders
        out["render_inputs_s"] = sum(inputs) / len(inputs)
        out["render_face_searches"] = (searches[0] - out["intake_face_searches"]) / renders
        out["worker_redis_bytes"] = await _redis_net(queue.redis) - net0
        out["worker_file_bytes"] = _tree_bytes(settings.data_dir / "cache")
        out["worker_syscall_bytes"] = sum(io2) - sum(io0)
        keys = [k async for k in queue.redis.scan_iter(match="mouthpiece:*")]
        out["redis_copies_bytes"] = sum(
            [await queue.redis.memory_usage(k) or 0 for k in keys if b":media:" in k]
        )
        out["stored_copies"] = (
            (1 if out["bot_file_bytes"] else 0)
            + (1 if out["redis_copies_bytes"] else 0)
            + (1 if out["worker_file_bytes"] else 0)
        )
        await queue.close()
        await store.close()
    return out


def _worker_ctx(
    worker: Any, settings: Any, engine: Any, redis: Any, tmp: Path
) -> tuple[dict[str, Any], Any]:
    """arq's ctx for the worker functions, and what ``_render`` takes: the typed context
    where the tree has one, else the old dict of keys."""
    cache, out = settings.data_dir / "cache" / "uploads", tmp / "out"
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    if hasattr(worker, "WorkerContext"):
        house = worker.WorkerContext(settings, out, cache, name="bench", engine=engine, redis=redis)
        return {worker.CTX_KEY: house, "redis": redis}, house
    ctx = {
        "engine": engine,
        "redis": redis,
        "cache_dir": cache,
        "out_dir": out,
        "settings": settings,
        "name": "bench",
    }
    return ctx, ctx


def _base_tree(path: Path) -> Path:
    if not (path / "bot" / "worker.py").is_file():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), BASE_COMMIT],
            check=True,
            capture_output=True,
        )
    return path


def _run_tree(tree: Path, renders: int, shared: bool = False) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "MOUTHPIECE_LOG_FORMAT": "text"}
    command = [sys.executable, str(Path(__file__).resolve()), "--measure", "--renders"]
    proc = subprocess.run(
        [*command, str(renders), *(["--shared"] if shared else [])],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise SystemExit(f"measuring {tree} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


ROWS = (
    ("stored_copies", "copies of the upload kept", "{:.0f}"),
    ("bot_file_bytes", "bot: file bytes written", "{:,.0f}"),
    ("bot_redis_bytes", "bot: Redis bytes", "{:,.0f}"),
    ("worker_file_bytes", "worker: file bytes written", "{:,.0f}"),
    ("worker_redis_bytes", "worker: Redis bytes (intake + renders)", "{:,.0f}"),
    ("worker_syscall_bytes", "worker: read+write bytes (+ ffmpeg pipes)", "{:,.0f}"),
    ("redis_copies_bytes", "Redis memory of upload copies", "{:,.0f}"),
    ("intake_face_searches", "face searches at intake", "{:.0f}"),
    ("render_face_searches", "face searches per render", "{:.0f}"),
    ("intake_cpu_s", "intake CPU s (photo + voice)", "{:.3f}"),
    ("render_inputs_s", "render 'inputs' stage s", "{:.3f}"),
    ("render_cpu_s", "render CPU s (incl. ffmpeg)", "{:.2f}"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--renders", type=int, default=2, help="renders of the one job")
    parser.add_argument("--base", type=Path, default=Path("/tmp/base-i16"))
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shared", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        sys.path.insert(0, os.getcwd())
        with tempfile.TemporaryDirectory(prefix="trip-") as tmp:
            got = asyncio.run(_measure(Path(tmp), args.renders, args.shared))
        print(json.dumps(got))
        return 0
    before = _run_tree(_base_tree(args.base), args.renders)
    after = _run_tree(ROOT, args.renders)
    shared = _run_tree(ROOT, args.renders, shared=True)
    photo_voice = before["upload_bytes"]
    print(f"one job: photo + voice = {photo_voice:,.0f} bytes, {args.renders} render(s)")
    heads = ("before", "after: redis", "after: shared", "redis/before", "shared/before")
    print(f"{'':42s}" + "".join(f"{h:>14s}" for h in heads))
    for key, label, fmt in ROWS:
        a, b, c = before[key], after[key], shared[key]
        ratios = [f"{x / a:.2f}" if a else "-" for x in (b, c)]
        cells = [fmt.format(x) for x in (a, b, c)] + ratios
        print(f"{label:42s}" + "".join(f"{x:>14s}" for x in cells))
    digest = hashlib.sha256(json.dumps([before, after, shared]).encode()).hexdigest()[:8]
    print(f"(before: {args.base} at {BASE_COMMIT}; after: {ROOT}; run {digest})")
    return 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main()
    if "--measure" not in sys.argv:
        print(f"bench took {time.perf_counter() - t0:.0f} s")
    raise SystemExit(code)
