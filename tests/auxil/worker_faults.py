"""`python -m bot.worker` with faults injected at exact points, for the recovery tests.

Run as ``python -m tests.auxil.worker_faults`` with the worker's usual environment plus:

- ``FAULT_RENDER_LOG=path``: every call of the real ``Engine.render`` appends one line,
  ``<unix time> <output file name>``, before it starts (renders are counted across processes).
- ``FAULT_TRANSIENT_TRIES=N``: the first N renders of each job (counted in that log) raise
  ``TransientError`` instead of rendering.
- ``FAULT_RENDER_SECONDS=N``: every render first spends N seconds "rendering frames" (stage
  ``video``, stopping at once when the job is cancelled) before the real render: a render
  long enough to outlast a Redis outage.
- ``FAULT_KILL_AFTER=delivery|notice|send``: the process SIGKILLs itself the moment the video's
  delivery mark (``delivery``) or the failure notice (``notice``) has been written, before
  the job's bookkeeping: the next worker finds the mark and must not send again; or
  (``send``) the moment the platform accepted the video, before its mark became final:
  the window in which a resend is possible (once on Telegram, by nonce on Discord).

Everything else is the real worker: the real engine, Redis, arq and the platforms' HTTP code.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import bot.worker
import bot.worker.outbox
import bot.worker.rendering
from engine.errors import Cancelled, TransientError
from engine.pipeline import Engine
from engine.types import Progress


def renders(log: Path, output_name: str | None = None) -> list[float]:
    """Start times of the logged renders (of one output file, or of all)."""
    if not log.exists():
        return []
    rows = [line.split(" ", 1) for line in log.read_text().splitlines() if line]
    return [float(t) for t, name in rows if output_name is None or name == output_name]


def _slow(seconds: float) -> None:
    real_render = Engine.render

    def render(self: Engine, request: Any, **kw: Any) -> Any:
        on_progress, should_cancel = kw.get("on_progress"), kw.get("should_cancel")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if should_cancel is not None and should_cancel():
                raise Cancelled("stopped while slowed down")
            if on_progress is not None:
                on_progress(Progress("video", 0.0))
            time.sleep(0.1)
        return real_render(self, request, **kw)

    Engine.render = render  # type: ignore[method-assign]


def _install() -> None:
    slow = float(os.environ.get("FAULT_RENDER_SECONDS", "0"))
    if slow:
        _slow(slow)
    log = os.environ.get("FAULT_RENDER_LOG")
    transient = int(os.environ.get("FAULT_TRANSIENT_TRIES", "0"))
    kill_after = os.environ.get("FAULT_KILL_AFTER", "")
    if log:
        real_render = Engine.render

        def render(self: Engine, request: Any, **kw: Any) -> Any:
            name = Path(request.output).name
            earlier = len(renders(Path(log), name))
            with open(log, "a") as f:
                f.write(f"{time.time():.3f} {name}\n")
            if earlier < transient:
                raise TransientError(f"injected failure {earlier + 1} of {transient}")
            return real_render(self, request, **kw)

        Engine.render = render  # type: ignore[method-assign]
    if kill_after:
        module, target = {
            "delivery": (bot.worker.rendering, "deliver_once"),
            "notice": (bot.worker.rendering, "tell"),
            "send": (bot.worker.outbox, "deliver"),
        }[kill_after]
        real = getattr(module, target)

        async def then_die(*args: Any) -> None:
            await real(*args)
            os.kill(os.getpid(), signal.SIGKILL)

        setattr(module, target, then_die)


if __name__ == "__main__":
    _install()
    raise SystemExit(bot.worker.main())
