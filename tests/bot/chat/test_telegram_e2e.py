"""Telegram end to end: the real python-telegram-bot, a stand-in Bot API server on 127.0.0.1,
a real redis-server, real arq workers hosting the embedded CPU engine, SQLite on disk."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.contract import texts
from bot.settings import BotSettings
from engine import Engine, EngineSettings, InvalidInput, RenderRequest
from engine.media.video import probe
from tests.auxil.media_fixtures import write_wav
from tests.auxil.redis_server import redis_server
from tests.auxil.system import engine_workers, ready_draft, telegram_bot, with_settings
from tests.auxil.telegram_server import TelegramStandIn

CHAT = 777


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(EngineSettings())


@asynccontextmanager
async def system(tmp: Path, engine: Engine, **overrides: object) -> AsyncIterator[TelegramStandIn]:
    """Bot process + worker process pieces on one loop, against the stand-in and Redis."""
    with redis_server(tmp) as url:
        settings = BotSettings(
            telegram_bot_token="123:TEST",
            redis_url=url,
            data_dir=tmp / "data",
            status_edit_seconds=0.2,
            board_interval_seconds=0.2,
            **overrides,  # type: ignore[arg-type]
        )
        async with (
            telegram_bot(settings) as (tg, _),
            engine_workers(with_settings(settings, telegram_api_base_url=tg.url), engine),
        ):
            yield tg


def _replies_after(tg: TelegramStandIn, n: int) -> Callable[[], bool]:
    return lambda: len(tg.texts(CHAT)) >= n


def test_talk_to_video(
    tmp_path: Path,
    engine: Engine,
    sample_voice: Path,
    sample_photo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the render lingers a moment as it starts animating, so the status board (a tick every
    # 0.2 s) sees the job mid-way however fast the render runs (a reused avatar's is quick)
    real = engine.render

    def lingering(request: Any, *, on_progress: Any = None, **kw: Any) -> Any:
        lingered: list[bool] = []

        def seen(progress: Any) -> None:
            if on_progress is not None:
                on_progress(progress)
            if progress.stage == "video" and not lingered:
                lingered.append(True)
                time.sleep(1.0)

        return real(request, on_progress=seen, **kw)

    monkeypatch.setattr(engine, "render", lingering)

    async def go() -> None:
        async with system(tmp_path, engine) as tg:
            tg.send_text(CHAT, "/talk")
            await tg.wait_for(_replies_after(tg, 1))
            assert tg.texts(CHAT)[-1] == texts.START
            tg.send_text(CHAT, "Hello from the test. This is a short script.")
            await tg.wait_for(_replies_after(tg, 2))
            tg.send_voice(CHAT, sample_voice.read_bytes(), duration=7)
            await tg.wait_for(lambda: "skip_transcript|" in tg.buttons(CHAT), timeout=60)
            tg.send_photo(CHAT, sample_photo.read_bytes())
            await tg.wait_for(
                lambda: any(t.startswith("Photo received") for t in tg.texts(CHAT)), timeout=60
            )
            tg.press(CHAT, "skip_transcript|")
            await tg.wait_for(lambda: "consent|" in tg.buttons(CHAT))
            tg.press(CHAT, "consent|")
            await tg.wait_for(lambda: "render|" in tg.buttons(CHAT))
            tg.press(CHAT, "render|")
            tg.press(CHAT, "render|")  # a double click must not make a second video
            await tg.wait_for(lambda: len(tg.videos(CHAT)) >= 1, timeout=120)
            await asyncio.sleep(1.0)
            assert len(tg.videos(CHAT)) == 1
            out = tmp_path / "got.mp4"
            out.write_bytes(tg.videos(CHAT)[0])
            info = probe(out)
            assert info.video_codec == "h264" and info.audio_codec == "aac" and info.duration > 1.5
            assert "Mouthpiece job" in info.tags.get("comment", "")
            assert any(t.startswith("Queued as job") for t in tg.texts(CHAT))
            # the worker's status message: posted with a Cancel button, edited while the job
            # runs (stage and percentage), and finally to "done" without buttons
            assert any(b.startswith("cancel_job|") for b in tg.buttons(CHAT))
            actions = [c.params.get("action") for c in tg.calls if c.method == "sendChatAction"]
            assert "upload_video" in actions
            await tg.wait_for(lambda: any("done in" in e for e in tg.edits(CHAT)))
            assert any("animating the face" in e or "speaking" in e for e in tg.edits(CHAT))
            tg.send_text(CHAT, "/status")
            await tg.wait_for(lambda: "done" in tg.texts(CHAT)[-1])

    asyncio.run(go())


def _png_noise() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(
        buf, "PNG"
    )
    return buf.getvalue()


def test_bad_inputs_get_clear_replies_and_the_draft_survives(
    tmp_path: Path, engine: Engine, sample_photo: Path
) -> None:
    silent = write_wav(
        tmp_path / "silent.wav", np.zeros(16_000 * 4, np.float32), 16_000
    ).read_bytes()

    async def go() -> None:
        async with system(tmp_path, engine) as tg:
            tg.press(CHAT, "render|")  # out of order: no draft yet
            await tg.wait_for(_replies_after(tg, 1))
            assert tg.texts(CHAT)[-1] == texts.NO_DRAFT_BUTTON
            tg.send_text(CHAT, "/talk")
            await tg.wait_for(_replies_after(tg, 2))
            tg.send_voice(
                CHAT, b"x" * 100, duration=5, size=25_000_000
            )  # over 20 MB: never downloaded
            await tg.wait_for(_replies_after(tg, 3))
            assert "limit is 20 MB" in tg.texts(CHAT)[-1]
            assert not [c for c in tg.calls if c.method == "getFile"]
            tg.send_photo(CHAT, _png_noise())
            await tg.wait_for(_replies_after(tg, 4), timeout=60)
            assert tg.texts(CHAT)[-1].startswith("No face found")
            tg.send_voice(CHAT, silent, duration=4)
            await tg.wait_for(_replies_after(tg, 5), timeout=60)
            assert "silent" in tg.texts(CHAT)[-1]
            tg.send_text(CHAT, "!!! ???")
            await tg.wait_for(_replies_after(tg, 6))
            assert tg.texts(CHAT)[-1] == texts.SCRIPT_EMPTY
            tg.send_document(CHAT, b"%PDF-1.4", "talk.pdf", "application/pdf")
            await tg.wait_for(_replies_after(tg, 7))
            assert tg.texts(CHAT)[-1] == texts.BAD_FILE_TYPE
            tg.send_document(CHAT, b"A script from a file.", "script.txt", "text/plain")
            await tg.wait_for(_replies_after(tg, 9))
            assert tg.texts(CHAT)[-2].startswith("Script received")  # the draft is still usable
            tg.send_text(CHAT, "/status")
            await tg.wait_for(_replies_after(tg, 10))
            assert "still needed: voice, photo" in tg.texts(CHAT)[-1]

    asyncio.run(go())


def test_talk_with_a_language_reaches_the_workers_render_request(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/talk xx` is refused in one line; `/talk de` and `/lang fr` choose the language, which
    the draft keeps and the job carries to the worker: its engine is asked for French. (The
    voice note and photo are put in the draft directly, and the render stops at the engine:
    uploads and speech have their own tests.)"""
    asked: list[RenderRequest] = []

    def render(request: RenderRequest, **kw: Any) -> Any:
        asked.append(request)
        raise InvalidInput("Stopped by the test.")

    monkeypatch.setattr(engine, "render", render)

    async def go() -> None:
        with redis_server(tmp_path) as url:
            settings = BotSettings(
                telegram_bot_token="123:TEST", redis_url=url, data_dir=tmp_path / "data"
            )
            async with (
                telegram_bot(settings) as (tg, service),
                engine_workers(with_settings(settings, telegram_api_base_url=tg.url), engine),
            ):
                tg.send_text(CHAT, "/talk xx")
                await tg.wait_for(_replies_after(tg, 1))
                assert tg.texts(CHAT)[-1] == texts.LANG_UNKNOWN.format(
                    codes="en, fr, de, es, it, pt, nl"
                )
                tg.send_text(CHAT, "/talk de")
                await tg.wait_for(_replies_after(tg, 2))
                assert texts.LANG_SET.format(name="German") in tg.texts(CHAT)[-1]
                tg.send_text(CHAT, "Bonjour à tous, voici une courte vidéo.")
                await tg.wait_for(_replies_after(tg, 4))
                assert ", in German)" in tg.texts(CHAT)[-2]  # then what is still needed
                tg.send_text(CHAT, "/lang fr")
                await tg.wait_for(lambda: texts.LANG_SET.format(name="French") in tg.texts(CHAT))
                store, who = service.store, ("telegram", str(CHAT), str(CHAT))
                draft = await store.drafts.get(*who)
                assert draft is not None and draft.language == "fr"
                for digest in ("v" * 64, "p" * 64):  # the bot's copies of two uploads
                    path = tmp_path / f"{digest[0]}.bin"
                    path.write_bytes(b"media")
                    await store.media.put(digest, "audio", 5, "", path)
                ready = ready_draft(draft.id, script=draft.script or "")
                await store.drafts.put(*who, replace(ready, language=draft.language))
                tg.press(CHAT, "render|")
                await tg.wait_for(lambda: bool(asked), timeout=60)
                assert asked[0].language == "fr"
                assert asked[0].script == "Bonjour à tous, voici une courte vidéo."

    asyncio.run(go())
