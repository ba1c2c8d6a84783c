"""Saved voices keep working after the uploads' copies in Redis expired: the bot hands the
workers a fresh copy from its own storage when a job needs it.

Real parts: python-telegram-bot and the Bot API stand-in, redis-server, SQLite, arq workers
hosting the embedded CPU engine. The uploads' Redis copies are deleted between the two
videos (as a day's expiry would); the second video is rendered by a worker on another "host"
(its own folder, no cached copy)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from bot.contract.jobs import Keys
from bot.settings import BotSettings
from engine import Engine, EngineSettings
from tests.auxil.redis_server import redis_server
from tests.auxil.system import engine_workers, said, telegram_bot, with_settings

ME = 4242


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine(EngineSettings(cache_dir=tmp_path_factory.mktemp("engine-cache")))


def test_a_saved_voice_renders_after_the_redis_copies_expired(
    tmp_path: Path, engine: Engine, sample_voice: Path, sample_photo: Path
) -> None:
    voice, photo = sample_voice.read_bytes(), sample_photo.read_bytes()
    digests = [hashlib.sha256(b).hexdigest() for b in (voice, photo)]

    async def go(url: str) -> None:
        settings = BotSettings(
            telegram_bot_token="123:TEST",
            redis_url=url,
            data_dir=tmp_path / "bot",
            status_edit_seconds=0.2,
            board_interval_seconds=0.2,
            bot_metrics_port=0,
        )
        async with telegram_bot(settings) as (tg, service):
            settings = with_settings(settings, telegram_api_base_url=tg.url)
            me, redis = ME, service.gateway.redis  # type: ignore[attr-defined]
            async with engine_workers(with_settings(settings, data_dir=tmp_path / "host1"), engine):
                await said(tg, me, lambda: tg.send_text(me, "/talk"), "Let's make a video")
                await said(tg, me, lambda: tg.send_text(me, "Hello there."), "Script received")
                await said(tg, me, lambda: tg.send_voice(me, voice, duration=7), "What is said")
                await said(tg, me, lambda: tg.press(me, "skip_transcript|"), "Still needed")
                await said(tg, me, lambda: tg.send_photo(me, photo), "Before I render")
                await said(tg, me, lambda: tg.send_text(me, "/voice save mine"), "Saved the")
                await said(tg, me, lambda: tg.press(me, "consent|"), "Ready:")
                await said(tg, me, lambda: tg.press(me, "render|"), "Queued as job")
                await tg.wait_for(lambda: len(tg.videos(me)) == 1, timeout=120)
            # a day later, as far as Redis knows: its copies are gone (expired keys are
            # deleted keys; a short TTL instead would race the first job's intake under load)
            assert await redis.exists(*(Keys.media(d) for d in digests)) == 2
            await redis.delete(*(Keys.media(d) for d in digests))
            async with engine_workers(with_settings(settings, data_dir=tmp_path / "host2"), engine):
                await said(tg, me, lambda: tg.send_text(me, "/talk"), "Let's make a video")
                await said(tg, me, lambda: tg.send_text(me, "Again."), "Script received")
                await said(tg, me, lambda: tg.press(me, "use_voice|mine"), "Voice note received")
                await said(tg, me, lambda: tg.press(me, "last_photo|"), "Before I render")
                await said(tg, me, lambda: tg.press(me, "consent|"), "Ready:")
                await said(tg, me, lambda: tg.press(me, "render|"), "Queued as job")
                await tg.wait_for(lambda: len(tg.videos(me)) == 2, timeout=120)
            assert not any("expired" in t for t in tg.texts(me) + tg.edits(me))

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))
