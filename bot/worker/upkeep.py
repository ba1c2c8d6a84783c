"""The worker's housekeeping: retention on its own disk, erasure sweeps, the status board."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from bot.safety.erasure import sweep_forgotten
from bot.safety.retention import purge_dir
from bot.worker.board import StatusBoard
from bot.worker.context import WorkerContext, context

__all__ = ["purge_worker_files", "sweep", "run_sweeps", "run_board"]

log = logging.getLogger(__name__)


async def purge_worker_files(ctx: dict[str, Any]) -> dict[str, int]:
    """Retention on the worker's own disk (hourly): cached uploads and the engine's voice
    codes unused for the media retention, rendered videos after the output retention, a
    killed render's leftovers after the longest render; then a full sweep of erased data
    (a video that finished after its job was erased)."""
    w = context(ctx)
    settings = w.settings
    now, media_age = time.time(), settings.media_retention_hours * 3600
    media, outputs, leftovers = await asyncio.gather(  # walks and unlinks: off the loop
        asyncio.to_thread(purge_dir, w.cache_dir, media_age, now),
        asyncio.to_thread(
            purge_dir, w.out_dir, settings.output_retention_days * 86_400, now, "*.mp4"
        ),
        asyncio.to_thread(purge_dir, w.out_dir, settings.render_timeout_max, now, ".*"),
    )
    voices = w.voice_cache
    codes = await asyncio.to_thread(voices.expire, media_age, now) if voices else 0
    forgotten = await sweep(w, force=True)
    # what the engine keeps in memory per photo (an avatar's face, crops, latents) lives at
    # most until this pass: an upload the bot's retention expired leaves no tombstone
    photos = w.engine.clear_memory() if w.engine is not None else 0
    return {
        "media": media,
        "outputs": outputs,
        "leftovers": leftovers,
        "voice_codes": codes,
        "forgotten": forgotten,
        "photo_memory": photos,
    }


async def sweep(w: WorkerContext, *, force: bool = False) -> int:
    """Remove this worker's copies of what the bot erased since the last sweep."""
    return await sweep_forgotten(
        w.pool,
        w.sweep_state,
        cache_dir=w.cache_dir,
        out_dir=w.out_dir,
        voices=w.voice_cache,
        photos=w.engine,
        force=force,
    )


async def run_sweeps(w: WorkerContext, interval: float) -> None:
    """Sweep erased data now (what an earlier run kept) and then every ``interval`` s."""
    while True:
        try:
            await sweep(w)
        except Exception:  # the sweeper must outlive a Redis blip
            log.exception("erasure sweep failed")
        await asyncio.sleep(interval)


async def run_board(board: StatusBoard, interval: float) -> None:
    while True:
        try:
            await board.beat()
            await board.tick()
        except Exception:  # the board must outlive a Redis blip
            log.exception("status board pass failed")
        await asyncio.sleep(interval)
