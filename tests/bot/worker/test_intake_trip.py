"""One trip per photo: the worker's intake check finds the face once and leaves what it found
(a ``PhotoIntake``) beside the upload in Redis; the render reads it back; an erasure of the
upload removes it with the upload's copy. On one box the upload is kept once: the worker reads
the bot's file in place. Real engine, real Redis."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract.events import Media, Who
from bot.contract.jobs import Keys
from bot.contract.ports import ErasePlan, MediaCheck
from bot.jobs.media import Uploads, stored_media
from bot.jobs.redis import connect
from bot.settings import BotSettings
from bot.worker import CTX_KEY, WorkerContext, check_media
from bot.worker.intake import media_file, photo_intake
from engine import Engine, EngineSettings, InvalidInput
from engine.types import PhotoIntake
from tests.auxil.redis_server import redis_server

EXPIRED = "Your upload expired before it could be used: send it again."


def test_the_photo_intake_is_kept_for_the_render_and_erased_with_the_upload(
    tmp_path: Path, sample_photo: Path
) -> None:
    photo = sample_photo.read_bytes()
    digest = hashlib.sha256(photo).hexdigest()
    engine = Engine(EngineSettings(cache_dir=tmp_path / "engine"))

    async def go(url: str) -> None:
        redis = await connect(url)
        house = WorkerContext(BotSettings(), tmp_path, tmp_path, engine=engine, redis=redis)
        try:
            await redis.set(Keys.media(digest), photo)
            check = MediaCheck.from_json(await check_media({CTX_KEY: house}, "image", digest))
            assert check.ok and check.warnings == ()
            kept = await photo_intake(house, digest)
            assert isinstance(kept, PhotoIntake) and kept.digest == digest
            assert kept.face == engine.inspect_photo(sample_photo).face
            assert 0 < await redis.ttl(Keys.intake(digest)) <= BotSettings().media_ttl_seconds
            await Queue(redis).erase(ErasePlan("telegram", digests=(digest,)))
            assert await photo_intake(house, digest) is None
            assert not await redis.exists(Keys.media(digest))
        finally:
            await redis.aclose()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_shared_folder_the_worker_reads_the_bots_file_in_place(
    tmp_path: Path, sample_photo: Path
) -> None:
    """One box (``shared_media``): the bot's one file, nothing in Redis, nothing in the
    worker's cache; the intake finding is still kept for the render. Once the bot's file is
    gone, the worker answers the usual one line."""
    photo = sample_photo.read_bytes()
    digest = hashlib.sha256(photo).hexdigest()
    data = tmp_path / "data"
    settings = BotSettings(data_dir=data, shared_media=True)
    engine = Engine(EngineSettings(cache_dir=tmp_path / "engine"))
    cache = data / "cache" / "uploads"
    cache.mkdir(parents=True)

    async def fetch() -> bytes:
        return photo

    async def go(url: str) -> None:
        redis = await connect(url)
        store = await Store.open(settings.db_path)
        queue = Queue(redis, shared=True)
        house = WorkerContext(settings, data / "out", cache, engine=engine, redis=redis)
        ctx = {CTX_KEY: house}
        try:
            who = Who("telegram", "7", "7")
            sent = Media(who, "image", len(photo), fetch, filename="me.JPG", mime="image/jpeg")
            assert await Uploads(store.media, queue, settings.media_dir).keep(sent, photo) == digest
            kept = await store.media.path(digest)
            assert kept is not None and kept.parent.parent == settings.media_dir
            assert await queue.supply_media(digest, kept)
            check = MediaCheck.from_json(await check_media(ctx, "image", digest))
            assert check.ok, check.reason
            assert await media_file(house, digest, "image") == kept
            assert list(cache.iterdir()) == []
            assert [k async for k in redis.scan_iter(match=Keys.media("*"))] == []
            intake = await photo_intake(house, digest)
            assert intake is not None and intake.digest == digest
            kept.unlink()  # erased, or purged by retention
            assert not await queue.supply_media(digest, kept)
            gone = MediaCheck.from_json(await check_media(ctx, "image", digest))
            assert (gone.ok, gone.reason) == (False, EXPIRED)
        finally:
            await store.close()
            await redis.aclose()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_redis_transport_an_expired_copy_reads_the_same_line(tmp_path: Path) -> None:
    house = WorkerContext(BotSettings(data_dir=tmp_path), tmp_path, tmp_path)

    async def go(url: str) -> None:
        house.redis = await connect(url)
        try:
            with pytest.raises(InvalidInput) as e:
                await media_file(house, "ab" * 32, "audio")
            assert e.value.reason == EXPIRED
        finally:
            await house.redis.aclose()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_a_stored_upload_is_found_only_by_its_digest(tmp_path: Path) -> None:
    digest = "0f" * 32
    folder = tmp_path / digest[:2]
    folder.mkdir()
    (folder / f".part.{digest}").write_bytes(b"half")  # a write in progress
    (folder / f"{digest}0.ogg").write_bytes(b"another name")
    assert stored_media(tmp_path, digest) is None
    (tmp_path / "secret").write_bytes(b"not an upload")
    (folder / f"{digest}.ogg").symlink_to(tmp_path / "secret")
    assert stored_media(tmp_path, digest) is None
    (folder / f"{digest}.ogg").unlink()
    (folder / f"{digest}.ogg").write_bytes(b"voice")
    assert stored_media(tmp_path, digest) == folder / f"{digest}.ogg"
    for bad in ("0F" * 32, "../" + digest[3:], digest[:-1], digest + "0", "*" * 64, ""):
        assert stored_media(tmp_path, bad) is None, bad
