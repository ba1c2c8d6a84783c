"""The arq worker process: hosts the engine, checks uploads, renders, delivers.

``python -m bot.worker`` runs two arq workers on one event loop: the render queue
(``max_jobs`` renders at a time, one per GPU) and the intake queue (fast photo and voice
checks, answered in seconds even while a render runs, because renders run in a thread).
This is the one module where ``bot`` meets ``engine``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from arq import Worker
from arq.connections import RedisSettings

from bot.delivery.telegram import DeliveryError, TelegramDelivery
from bot.jobs import INTAKE_QUEUE, RENDER_QUEUE, JobStatus, Keys, RenderJob
from bot.settings import BotSettings
from engine import Engine, EngineSettings, InvalidInput, RenderOptions, RenderRequest
from engine.errors import Cancelled, EngineError

__all__ = ["build_workers", "main", "check_media", "render"]

log = logging.getLogger(__name__)
_SUFFIX = {"audio": ".audio", "image": ".img"}
Deliver = Callable[[dict[str, Any], RenderJob, Path | None, str], Awaitable[None]]


async def _media_file(ctx: dict[str, Any], digest: str, kind: str) -> Path:
    """The upload as a local file in this worker's cache (fetched from Redis by hash)."""
    cache: Path = ctx["cache_dir"]
    path = cache / f"{digest}{_SUFFIX.get(kind, '')}"
    if not path.exists():
        data = await ctx["redis"].get(Keys.media(digest))
        if data is None:
            raise InvalidInput(
                "Your upload expired before it could be used: send it again.", field=kind
            )
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


async def check_media(ctx: dict[str, Any], kind: str, digest: str) -> dict[str, Any]:
    """Intake check of a photo or voice note; answers {ok, reason, seconds, warnings}."""
    engine: Engine = ctx["engine"]
    try:
        path = await _media_file(ctx, digest, kind)
        if kind == "image":
            photo = await asyncio.to_thread(engine.inspect_photo, path)
            return {"ok": True, "warnings": list(photo.warnings)}
        voice = await asyncio.to_thread(engine.inspect_voice, path)
        return {"ok": True, "seconds": voice.seconds, "warnings": list(voice.warnings)}
    except InvalidInput as e:
        return {"ok": False, "reason": e.reason}


async def _set_status(ctx: dict[str, Any], job_id: str, status: JobStatus) -> None:
    await ctx["redis"].hset(Keys.job(job_id), mapping=status.to_redis())
    await ctx["redis"].expire(Keys.job(job_id), 7 * 86_400)


async def render(ctx: dict[str, Any], payload: str) -> str:
    """Render one job and deliver the MP4 to its chat. Returns the final status."""
    job = RenderJob.from_json(payload)
    deliver: Deliver = ctx["deliver"]
    out_dir: Path = ctx["out_dir"]
    await _set_status(ctx, job.job_id, JobStatus("running"))
    progress: dict[str, Any] = {"stage": "inputs", "fraction": 0.0}
    try:
        voice = await _media_file(ctx, job.voice_hash, "audio")
        photo = await _media_file(ctx, job.photo_hash, "image")
        request = RenderRequest(
            script=job.script,
            voice=voice,
            photo=photo,
            voice_text=job.voice_text,
            output=out_dir / f"{job.job_id}.mp4",
            options=RenderOptions(
                max_bytes=job.max_bytes,
                seed=job.seed,
                label=job.label,
                metadata=(("comment", f"Mouthpiece job {job.job_id}"),),
            ),
        )
        on_progress = lambda p: progress.update(stage=p.stage, fraction=p.fraction)  # noqa: E731
        result = await asyncio.to_thread(ctx["engine"].render, request, on_progress=on_progress)
    except InvalidInput as e:
        await _set_status(ctx, job.job_id, JobStatus("invalid", error=e.reason))
        await deliver(ctx, job, None, e.reason)
        return "invalid"
    except (Cancelled, EngineError) as e:
        log.exception("render failed", extra={"job_id": job.job_id})
        await _set_status(ctx, job.job_id, JobStatus("failed", error=type(e).__name__))
        await deliver(ctx, job, None, "Sorry, the render failed. Please try again later.")
        return "failed"
    await deliver(ctx, job, result.output, "")
    await _set_status(
        ctx,
        job.job_id,
        JobStatus(
            "done",
            stage="done",
            fraction=1.0,
            output_bytes=result.size_bytes,
            seconds=result.stage_seconds,
        ),
    )
    log.info("job delivered", extra={"job_id": job.job_id, "seconds": result.stage_seconds})
    return "done"


async def deliver(ctx: dict[str, Any], job: RenderJob, video: Path | None, message: str) -> None:
    """Send the video (or ``message``) to the job's chat on its platform."""
    settings: BotSettings = ctx["settings"]
    session: aiohttp.ClientSession = ctx["http"]
    if job.platform == "telegram":
        tg = TelegramDelivery(session, settings.telegram_api_base_url, settings.telegram_bot_token)
        if video is None:
            await tg.send_text(job.chat_id, message)
        else:
            await tg.send_video(job.chat_id, video, caption="Made with Mouthpiece · AI-generated")
        return
    if job.platform == "discord":
        from bot.delivery.discord import DiscordDelivery

        dc = DiscordDelivery(session, settings.discord_api_base_url, settings.discord_bot_token)
        if video is None:
            await dc.send_text(job.chat_id, message)
        else:
            await dc.send_video(job.chat_id, video, content="Made with Mouthpiece · AI-generated")
        return
    raise DeliveryError(f"unknown platform {job.platform!r}", retryable=False)


def build_workers(settings: BotSettings, engine: Engine, *, burst: bool = False) -> list[Worker]:
    """The render and intake workers, sharing one context (engine, HTTP session, folders)."""
    out_dir = settings.data_dir / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(tempfile.mkdtemp(prefix="mouthpiece-worker-"))
    ctx: dict[str, Any] = {
        "engine": engine,
        "settings": settings,
        "deliver": deliver,
        "out_dir": out_dir,
        "cache_dir": cache_dir,
    }
    redis = RedisSettings.from_dsn(settings.redis_url)

    async def startup(c: dict[str, Any]) -> None:
        if "http" not in c or c["http"].closed:  # both workers share one session
            c["http"] = aiohttp.ClientSession()

    async def shutdown(c: dict[str, Any]) -> None:
        if "http" in c and not c["http"].closed:
            await c["http"].close()

    common = {
        "redis_settings": redis,
        "ctx": ctx,
        "handle_signals": False,
        "burst": burst,
        "poll_delay": 0.2,
        "on_startup": startup,
        "on_shutdown": shutdown,
    }
    return [
        Worker(
            functions=[render],
            queue_name=RENDER_QUEUE,
            max_jobs=settings.render_max_jobs,
            job_timeout=3600,
            max_tries=3,
            keep_result=3600,
            **common,  # type: ignore[arg-type]
        ),
        Worker(
            functions=[check_media],
            queue_name=INTAKE_QUEUE,
            max_jobs=4,
            job_timeout=60,
            max_tries=1,
            keep_result=600,
            **common,  # type: ignore[arg-type]
        ),
    ]


async def run(settings: BotSettings) -> None:
    engine = await asyncio.to_thread(Engine, EngineSettings.from_env(tts=settings.tts))
    workers = build_workers(settings, engine)
    try:
        await asyncio.gather(*(w.main() for w in workers))
    finally:
        for w in workers:
            await w.close()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(BotSettings.from_env()))


if __name__ == "__main__":
    main()
