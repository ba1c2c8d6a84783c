"""`python -m bot.worker` with fixed-time stand-ins for the engine's work, for bench/scale.py.

The scale benchmark measures the queue, the store and the front-ends, not this machine's
CPU: a real render takes minutes on a CPU and seconds on a GPU, and which one it is says
nothing about how the rest of the system holds up. So, in this process only:

- ``Engine.render`` waits until the file ``BENCH_GATE`` exists (the benchmark creates it once
  every person has pressed Render, so the workers drain a full queue), spends
  ``BENCH_RENDER_SECONDS`` "rendering frames" (progress reported, cancellation honoured, as
  the real one) and then copies ``BENCH_VIDEO`` (a small valid MP4 the benchmark made with
  ffmpeg) to the request's output: delivery, the status board and the job's life all run for
  real on it.
- ``Engine.inspect_photo`` / ``inspect_voice`` (the intake checks of uploads) take
  ``BENCH_INTAKE_SECONDS``. The face of data/samples/portrait.jpg is found for real once, at
  start-up (the benchmark's photos are that portrait with a comment added), and reused under
  each upload's own digest, so Redis holds what it would; a voice note is
  ``BENCH_VOICE_SECONDS`` long.
- Once its arq workers have started and that face was found, the process adds
  ``MOUTHPIECE_WORKER_NAME`` to the Redis set ``bench:scale:ready`` (the benchmark waits
  for every worker before people come).

Everything else is the real worker: arq, Redis, the job lifecycle, the platforms' HTTP code.
Run as ``python bench/scale_worker.py`` with the worker's usual environment plus those.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import os
import shutil
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

# bench/ holds queue.py: keep the folder off sys.path, or it would shadow the standard
# library's queue module (which redis and arq import).
HERE, ROOT = Path(__file__).resolve().parent, Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

from bot.worker.context import CTX_KEY  # noqa: E402
from engine.errors import Cancelled  # noqa: E402
from engine.pipeline import Engine  # noqa: E402
from engine.types import PhotoIntake, Progress, RenderResult, VoiceIntake  # noqa: E402

SAMPLES = ROOT / "data" / "samples"
READY = "bench:scale:ready"  # Redis set of the workers that are polling
# the module, not the function bot.worker exports under the same name
worker_main: Any = importlib.import_module("bot.worker.main")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _spend(seconds: float, kw: dict[str, Any], stage: str) -> None:
    """Wait ``seconds`` as a render's frames would take them: reporting, stoppable."""
    on_progress, should_cancel = kw.get("on_progress"), kw.get("should_cancel")
    start = time.monotonic()
    while (spent := time.monotonic() - start) < seconds:
        if should_cancel is not None and should_cancel():
            raise Cancelled("stopped during the stand-in render")
        if on_progress is not None:
            on_progress(Progress(stage, min(1.0, spent / seconds) if seconds else 1.0))
        time.sleep(min(0.05, max(0.0, seconds - spent)))


def _render(gate: Path, seconds: float, video: Path) -> Any:
    def render(self: Engine, request: Any, **kw: Any) -> RenderResult:
        should_cancel = kw.get("should_cancel")
        while not gate.exists():
            if should_cancel is not None and should_cancel():
                raise Cancelled("stopped before the gate opened")
            time.sleep(0.05)
        _spend(seconds, kw, "video")
        output = Path(request.output)
        part = output.with_name(output.name + ".part")
        shutil.copyfile(video, part)
        os.replace(part, output)  # written whole or not at all, as the engine does
        return RenderResult(
            output=output,
            speech_seconds=1.0,
            video_seconds=1.0,
            frames=25,
            size_bytes=output.stat().st_size,
            stage_seconds={"video": seconds},
            warnings=(),
            tts_backend="stand-in",
            lipsync_backend="stand-in",
            watermarked=False,
            job_id=request.options.job_id,
        )

    return render


class _Intake:
    """The upload checks' stand-ins. The photo's face is searched for once, for real, when
    the worker starts (the first search loads the detector: seconds); each upload then gets
    that finding under its own digest."""

    def __init__(self, seconds: float, voice_seconds: float) -> None:
        self.seconds, self.voice_seconds = seconds, voice_seconds
        self.real_photo = Engine.inspect_photo
        self.found: list[PhotoIntake] = []
        self.lock = threading.Lock()

    def warm(self, engine: Engine) -> None:
        with self.lock:
            if not self.found:
                self.found.append(self.real_photo(engine, SAMPLES / "portrait.jpg"))

    def install(self) -> None:
        def inspect_photo(engine: Engine, path: Path) -> PhotoIntake:
            start = time.monotonic()
            self.warm(engine)
            time.sleep(max(0.0, self.seconds - (time.monotonic() - start)))
            return replace(self.found[0], digest=_digest(path))

        def inspect_voice(engine: Engine, path: Path) -> VoiceIntake:
            time.sleep(self.seconds)
            return VoiceIntake(_digest(path), self.voice_seconds, ())

        Engine.inspect_photo = inspect_photo  # type: ignore[method-assign,assignment]
        Engine.inspect_voice = inspect_voice  # type: ignore[method-assign,assignment]


def _announce_ready(name: str, intake: _Intake) -> None:
    """Wrap the worker's arq start-up: once it ran (and the face detector is loaded), the
    worker says so in Redis."""
    real_build = worker_main.build_workers

    def build_workers(*args: Any, **kw: Any) -> Any:
        workers = real_build(*args, **kw)
        for w in workers:
            started = w.on_startup

            async def startup(ctx: dict[str, Any], started: Any = started) -> None:
                if started is not None:
                    await started(ctx)
                await asyncio.to_thread(intake.warm, ctx[CTX_KEY].engine)
                await ctx["redis"].sadd(READY, name)

            w.on_startup = startup
        return workers

    worker_main.build_workers = build_workers


def _install() -> None:
    env = os.environ
    render = _render(
        Path(env["BENCH_GATE"]), float(env["BENCH_RENDER_SECONDS"]), Path(env["BENCH_VIDEO"])
    )
    Engine.render = render  # type: ignore[method-assign]
    intake = _Intake(float(env["BENCH_INTAKE_SECONDS"]), float(env["BENCH_VOICE_SECONDS"]))
    intake.install()
    _announce_ready(env.get("MOUTHPIECE_WORKER_NAME", str(os.getpid())), intake)


if __name__ == "__main__":
    _install()
    raise SystemExit(worker_main.main())
