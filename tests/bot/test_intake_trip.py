"""One trip per photo: the worker's intake check finds the face once and leaves what it found
(a ``PhotoIntake``) beside the upload in Redis; the render reads it back; an erasure of the
upload removes it with the upload's copy. Real engine, real Redis."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from arq import create_pool

from bot.core.ports import ErasePlan, MediaCheck
from bot.jobs import Keys
from bot.queue import Queue, redis_settings
from bot.settings import BotSettings
from bot.worker import CTX_KEY, WorkerContext, _photo_intake, check_media
from engine import Engine, EngineSettings
from engine.types import PhotoIntake
from tests.auxil.redis_server import redis_server


def test_the_photo_intake_is_kept_for_the_render_and_erased_with_the_upload(
    tmp_path: Path, sample_photo: Path
) -> None:
    photo = sample_photo.read_bytes()
    digest = hashlib.sha256(photo).hexdigest()
    engine = Engine(EngineSettings(cache_dir=tmp_path / "engine"))

    async def go(url: str) -> None:
        redis = await create_pool(redis_settings(url))
        house = WorkerContext(BotSettings(), tmp_path, tmp_path, engine=engine, redis=redis)
        try:
            await redis.set(Keys.media(digest), photo)
            check = MediaCheck.from_json(await check_media({CTX_KEY: house}, "image", digest))
            assert check.ok and check.warnings == ()
            kept = await _photo_intake(house, digest)
            assert isinstance(kept, PhotoIntake) and kept.digest == digest
            assert kept.face == engine.inspect_photo(sample_photo).face
            assert 0 < await redis.ttl(Keys.intake(digest)) <= BotSettings().media_ttl_seconds
            await Queue(redis).erase(ErasePlan("telegram", digests=(digest,)))
            assert await _photo_intake(house, digest) is None
            assert not await redis.exists(Keys.media(digest))
        finally:
            await redis.aclose()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))
