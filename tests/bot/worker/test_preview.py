"""The preview (docs/operators.md, "Previews"): a long script's first seconds rendered and sent
before the full video, on Telegram and Discord, through the real arq worker (in this process,
with the embedded CPU engine) on a private redis-server, delivering to the platform stand-ins.

Covers: the preview comes first, with its caption, titled as the preview and marked with the
job like the video, its file deleted once sent, the job's stage "preview" while it renders; a
slow preview send still comes before the video; a one-sentence script, and a web studio job,
get none; MOUTHPIECE_PREVIEW_SECONDS=0 sends none; a preview that fails to render, or that the
platform refuses, still ends with the full video; a cancel during the preview stops the job;
a re-run (a retry) after the preview went out does not send it again; the erasures find a
preview file left behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from bot.chat.queue import Queue
from bot.contract import texts
from bot.contract.events import WEB_CHAT
from bot.contract.jobs import Keys, RenderJob, forget_token, job_id_for
from bot.contract.ports import posted_in
from bot.jobs.redis import connect
from bot.safety.erasure import SweepState, remove_job_files, sweep_forgotten
from bot.settings import BotSettings
from bot.worker.rendering import PREVIEW_STAGE, preview_of, preview_path
from engine import Engine, EngineSettings
from engine.errors import Cancelled, TransientError
from engine.media.video import probe
from tests.auxil.discord_server import DiscordStandIn
from tests.auxil.redis_server import redis_server
from tests.auxil.system import engine_workers
from tests.auxil.telegram_server import TelegramStandIn
from tests.auxil.workers import SAMPLES, is_status, status_of, submit, wait_until

pytestmark = pytest.mark.slow
#: a script several times longer than its first sentence: it gets a preview
LONG = (
    "Hello there, this is my preview. Then the script goes on for a good while, well past its "
    "opening."
)
OPENING = "Hello there, this is my preview."
SHORT = "Hello there, this is one short sentence."
CHAT = "6001"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(EngineSettings())


@dataclass
class Video:
    caption: str
    data: bytes
    nonce: str = ""


class Renders:
    """Every call of the engine's render, by output file name (the preview's and the video's),
    with faults to inject: ``fail_preview`` (raise), ``hold_preview`` (run until cancelled),
    ``transient`` (the first N full renders raise TransientError)."""

    def __init__(self, engine: Engine) -> None:
        self.real = engine.render
        self.names: list[str] = []
        self.fail_preview = False
        self.hold_preview = False
        self.transient = 0
        self._lock = threading.Lock()

    def __call__(self, request: Any, **kw: Any) -> Any:
        name = Path(request.output).name
        with self._lock:
            self.names.append(name)
            fulls = sum(1 for n in self.names if not _is_preview(n))
        if _is_preview(name) and self.fail_preview:
            raise RuntimeError("injected preview failure")
        if _is_preview(name) and self.hold_preview:
            stop = kw["should_cancel"]
            while not stop():
                threading.Event().wait(0.05)
            raise Cancelled("stopped during the preview")
        if not _is_preview(name) and fulls <= self.transient:
            raise TransientError("injected transient failure")
        return self.real(request, **kw)

    @property
    def previews(self) -> int:
        return sum(1 for n in self.names if _is_preview(n))

    @property
    def fulls(self) -> int:
        return sum(1 for n in self.names if not _is_preview(n))


def _is_preview(name: str) -> bool:
    return name.endswith(".preview.mp4")


@dataclass
class Posted:
    """The videos posted in :data:`CHAT` on the stand-in, in order (call it)."""

    stand_in: TelegramStandIn | DiscordStandIn

    def __call__(self) -> list[Video]:
        if isinstance(self.stand_in, TelegramStandIn):
            return [
                Video(str(c.params.get("caption", "")), c.files["video"])
                for c in self.stand_in.calls
                if c.method == "sendVideo" and str(c.params.get("chat_id")) == CHAT
            ]
        return [
            Video(r.json.get("content", ""), r.files["files[0]"], r.json.get("nonce", ""))
            for r in self.stand_in.channel_posts(CHAT)
            if r.files
        ]


@asynccontextmanager
async def running(
    tmp: Path, engine: Engine, platform: str, **overrides: Any
) -> AsyncIterator[tuple[Posted, Queue, BotSettings]]:
    """A stand-in of ``platform``, a private Redis, the bot's queue client and a worker's arq
    workers on this loop (``overrides``: its settings)."""
    tg, dc = TelegramStandIn(), DiscordStandIn()
    stand_in = tg if platform == "telegram" else dc
    await stand_in.start()
    try:
        with redis_server(tmp) as url:
            if platform == "telegram":
                tokens: dict[str, Any] = {
                    "telegram_bot_token": "123:TEST",
                    "telegram_api_base_url": tg.url,
                }
            else:
                tokens = {"discord_bot_token": "TEST", "discord_api_base_url": dc.api}
            settings = BotSettings(
                redis_url=url,
                data_dir=tmp / "data",
                retry_backoff_seconds=0.2,
                status_edit_seconds=0.2,
                board_interval_seconds=0.2,
                **tokens,
                **overrides,
            )
            queue = await Queue.connect(url)
            try:
                async with engine_workers(settings, engine):
                    yield Posted(stand_in), queue, settings
            finally:
                await queue.close()
    finally:
        await stand_in.stop()


async def _done(queue: Queue, job_id: str) -> None:
    """Wait for the job to end; it must end done."""
    final = ("done", "failed", "invalid", "cancelled")
    await wait_until(lambda: _ended(queue, job_id, final), 120, "the job to end")
    assert await status_of(queue, job_id) == "done"


async def _ended(queue: Queue, job_id: str, final: tuple[str, ...]) -> bool:
    return await status_of(queue, job_id) in final


@pytest.mark.parametrize("platform", ["telegram", "discord"])
def test_the_preview_comes_first_with_its_caption_then_the_full_video(
    tmp_path: Path, engine: Engine, platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert preview_of(LONG, 3.0) == OPENING
    renders = Renders(engine)
    monkeypatch.setattr(engine, "render", renders)

    async def go() -> None:
        async with running(tmp_path, engine, platform) as (videos, queue, settings):
            job_id = await submit(queue, CHAT, 0, LONG, platform=platform)
            stages: list[str] = []

            async def watch() -> None:
                while True:
                    record = await queue.record(job_id)
                    if record is not None and record.stage not in stages[-1:]:
                        stages.append(record.stage)
                    await asyncio.sleep(0.02)

            watcher = asyncio.create_task(watch())
            try:
                await _done(queue, job_id)
            finally:
                watcher.cancel()
            sent = videos()
            assert [v.caption for v in sent] == [texts.PREVIEW_CAPTION, texts.VIDEO_CAPTION]
            preview, full = (tmp_path / "preview.mp4", tmp_path / "full.mp4")
            preview.write_bytes(sent[0].data)
            full.write_bytes(sent[1].data)
            first, whole = probe(preview), probe(full)
            # the opening only, titled as the preview, marked with the same job as the video
            assert 0.5 < first.duration < whole.duration / 2, (first.duration, whole.duration)
            assert first.tags.get("title") == texts.PREVIEW_TITLE
            assert "title" not in whole.tags
            assert job_id in first.tags.get("comment", "") == whole.tags.get("comment", "")
            if platform == "discord":  # a nonce of its own: not taken for the video's
                assert sent[0].nonce and sent[1].nonce and sent[0].nonce != sent[1].nonce
            mark = await queue.redis.get(Keys.preview(job_id))
            assert mark is not None and mark.startswith(b"sent:")
            # both posted messages are kept with the job: a takedown deletes the preview too
            record = await queue.record(job_id)
            assert record is not None and record.preview_msg_id == mark.decode()[5:]
            kinds = [p.kind for p in posted_in(record)]
            assert "preview" in kinds and "video" in kinds
            assert await queue.redis.ttl(Keys.preview(job_id)) > 0  # kept with the job's records
            out = settings.out_dir
            assert not preview_path(out, job_id).exists() and (out / f"{job_id}.mp4").exists()
            assert PREVIEW_STAGE in stages and stages.index(PREVIEW_STAGE) < stages.index("video")
            assert (renders.previews, renders.fulls) == (1, 1)

    asyncio.run(go())


def test_the_video_waits_for_a_slow_preview_send(tmp_path: Path, engine: Engine) -> None:
    """The preview's send runs beside the full render; the video is sent only once it ended
    (or after PREVIEW_SEND_WAIT), so a slow preview still comes first."""

    async def go() -> None:
        async with running(tmp_path, engine, "telegram") as (videos, queue, _):
            assert isinstance(videos.stand_in, TelegramStandIn)
            # the preview's first try is answered "retry after 4 s", longer than the full
            # render of this script takes here
            videos.stand_in.retry_after = 4.0
            videos.stand_in.fail_next["sendVideo"] = [429]
            job_id = await submit(queue, CHAT, 0, LONG)
            await _done(queue, job_id)
            captions = [v.caption for v in videos()]
            assert captions == [texts.PREVIEW_CAPTION] * 2 + [texts.VIDEO_CAPTION]

    asyncio.run(go())


def test_a_one_sentence_script_and_a_web_studio_job_get_no_preview(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert preview_of(SHORT, 3.0) is None
    renders = Renders(engine)
    monkeypatch.setattr(engine, "render", renders)

    async def go() -> None:
        async with running(tmp_path, engine, "discord") as (videos, queue, settings):
            job_id = await submit(queue, CHAT, 0, SHORT, platform="discord")
            await _done(queue, job_id)
            assert [v.caption for v in videos()] == [texts.VIDEO_CAPTION]
            assert not await queue.redis.exists(Keys.preview(job_id))
            assert (renders.previews, renders.fulls) == (0, 1)
            # a long script asked in the web studio: its video stays on the data volume for
            # the browser, and no preview is made for a chat it would go nowhere in
            web = replace(await _job(queue, LONG), chat_id=WEB_CHAT)
            assert await queue.enqueue(web)
            await _done(queue, web.job_id)
            assert (settings.out_dir / f"{web.job_id}.mp4").exists()
            assert len(videos()) == 1 and (renders.previews, renders.fulls) == (0, 2)

    asyncio.run(go())


async def _job(queue: Queue, script: str) -> RenderJob:
    """A job as the bot builds it (its media put in Redis first), on Discord, in :data:`CHAT`."""
    voice, photo = (SAMPLES / "voice.ogg").read_bytes(), (SAMPLES / "portrait.jpg").read_bytes()
    vh, ph = hashlib.sha256(voice).hexdigest(), hashlib.sha256(photo).hexdigest()
    await queue.put_media(vh, voice)
    await queue.put_media(ph, photo)
    return RenderJob(job_id_for("web-draft"), "discord", CHAT, CHAT, script, vh, ph)


def test_previews_turned_off_send_none(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert BotSettings.from_env({"MOUTHPIECE_PREVIEW_SECONDS": "0"}, None).preview_seconds == 0
    with pytest.raises(ValueError, match="MOUTHPIECE_PREVIEW_SECONDS"):
        BotSettings.from_env({"MOUTHPIECE_PREVIEW_SECONDS": "-1"}, None)
    renders = Renders(engine)
    monkeypatch.setattr(engine, "render", renders)

    async def go() -> None:
        async with running(tmp_path, engine, "telegram", preview_seconds=0.0) as (
            videos,
            queue,
            _,
        ):
            job_id = await submit(queue, CHAT, 0, LONG)
            await _done(queue, job_id)
            assert [v.caption for v in videos()] == [texts.VIDEO_CAPTION]
            assert (renders.previews, renders.fulls) == (0, 1)

    asyncio.run(go())


def test_a_preview_that_fails_to_render_still_delivers_the_full_video(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders = Renders(engine)
    renders.fail_preview = True
    monkeypatch.setattr(engine, "render", renders)

    async def go() -> None:
        async with running(tmp_path, engine, "telegram") as (videos, queue, settings):
            job_id = await submit(queue, CHAT, 0, LONG)
            await _done(queue, job_id)
            assert [v.caption for v in videos()] == [texts.VIDEO_CAPTION]
            assert await queue.redis.get(Keys.preview(job_id)) == b"failed"
            assert not preview_path(settings.out_dir, job_id).exists()
            assert (renders.previews, renders.fulls) == (1, 1)

    asyncio.run(go())


def test_a_preview_the_platform_refuses_still_delivers_the_full_video(
    tmp_path: Path, engine: Engine
) -> None:
    async def go() -> None:
        async with running(tmp_path, engine, "telegram") as (videos, queue, settings):
            assert isinstance(videos.stand_in, TelegramStandIn)
            videos.stand_in.fail_next["sendVideo"] = [400]  # the first video sent: refused
            job_id = await submit(queue, CHAT, 0, LONG)
            await _done(queue, job_id)
            sent = videos()  # the refused preview (once: not retried), then the video
            assert [v.caption for v in sent] == [texts.PREVIEW_CAPTION, texts.VIDEO_CAPTION]
            assert await queue.redis.get(Keys.preview(job_id)) == b"failed"
            assert not preview_path(settings.out_dir, job_id).exists()

    asyncio.run(go())


def test_a_cancel_during_the_preview_stops_the_job(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders = Renders(engine)
    renders.hold_preview = True  # the preview renders until the job is cancelled
    monkeypatch.setattr(engine, "render", renders)

    async def go() -> None:
        async with running(tmp_path, engine, "telegram") as (videos, queue, settings):
            job_id = await submit(queue, CHAT, 0, LONG)

            async def previewing() -> bool:
                record = await queue.record(job_id)
                return record is not None and record.stage == PREVIEW_STAGE

            await wait_until(previewing, 60, "the preview to render")
            assert await queue.cancel(job_id) == "stopping"
            await wait_until(lambda: is_status(queue, job_id, "cancelled"), 60, "the cancel")
            assert videos() == [] and (renders.previews, renders.fulls) == (1, 0)
            assert not preview_path(settings.out_dir, job_id).exists()

    asyncio.run(go())


@pytest.mark.parametrize("platform", ["telegram", "discord"])
def test_a_rerun_after_the_preview_went_out_does_not_send_it_again(
    tmp_path: Path, engine: Engine, platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders = Renders(engine)
    renders.transient = 1  # the first full render fails for a passing reason: a retry
    monkeypatch.setattr(engine, "render", renders)

    async def go() -> None:
        async with running(tmp_path, engine, platform) as (videos, queue, _):
            previews = [texts.PREVIEW_CAPTION]
            if isinstance(videos.stand_in, TelegramStandIn):
                # the preview's send is still retrying when the full render fails: the run
                # lets it finish before it ends (the retry)
                videos.stand_in.retry_after = 1.0
                videos.stand_in.fail_next["sendVideo"] = [429]
                previews *= 2
            job_id = await submit(queue, CHAT, 0, LONG, platform=platform)
            await _done(queue, job_id)
            assert [v.caption for v in videos()] == [*previews, texts.VIDEO_CAPTION]
            record = await queue.record(job_id)
            assert record is not None and record.attempt == 2  # the video came from the re-run
            assert (renders.previews, renders.fulls) == (1, 2)  # the re-run made no preview

    asyncio.run(go())


def test_the_erasures_find_a_preview_left_behind(tmp_path: Path) -> None:
    """A preview file a killed worker left: /forget's file removal and the workers' sweep
    both take it as the job's."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    out.mkdir()
    cache.mkdir()
    job_id = "0123456789abcdef0123"
    preview_path(out, job_id).write_bytes(b"mp4")
    assert remove_job_files(out, (job_id,)) == (0, 1)
    assert not preview_path(out, job_id).exists()

    async def go(url: str) -> None:
        redis = await connect(url)
        try:
            preview_path(out, job_id).write_bytes(b"mp4")
            await redis.zadd(Keys.FORGOTTEN, {forget_token(job_id): 1.0})
            removed = await sweep_forgotten(
                redis, SweepState(), cache_dir=cache, out_dir=out, force=True
            )
            assert removed == 1 and not preview_path(out, job_id).exists()
        finally:
            await redis.aclose()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))
