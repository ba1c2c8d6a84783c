"""The fetch hand-off (``MOUTHPIECE_MEDIA_URL``): workers that share nothing with the bot but
Redis GET each upload from the chat process's media server with a signed link for one upload,
one purpose and one job, that expires; Redis carries only the links.

Real parts: python-telegram-bot and the Bot API stand-in, redis-server, SQLite, the media
server on a real port, arq workers hosting the embedded CPU engine in their own data folder
(no shared folder, nothing copied). Covers: a conversation's intake checks and render fetch
through links, and the worker keeps no copy after; Redis holds no upload bytes; a link with
any part changed, an expired one, a malformed digest are refused (403, counted by reason,
logged without the signature); an erased upload is 404; a fetched file whose bytes are not
the digest's is refused; a job supplied again gets a fresh link; an erasure takes the links.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

import bot.chat.media_server as media_server
from bot.chat.media_server import media_links_from, start_media_server
from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Media, Who
from bot.contract.jobs import Keys, RenderJob
from bot.contract.ports import ErasePlan
from bot.jobs.media import Uploads
from bot.jobs.media_links import MediaLinks
from bot.jobs.redis import connect
from bot.observability import Metrics
from bot.settings import BotSettings
from bot.worker import WorkerContext
from bot.worker.intake import drop_fetched, media_file
from engine import Engine, EngineSettings, InvalidInput
from tests.auxil.redis_server import free_port, redis_server
from tests.auxil.system import engine_workers, said, telegram_bot, with_settings

ME = 4343
WHO = Who("telegram", str(ME), str(ME))
JOB = "ab12" * 8
#: what a link in Redis may weigh at most (it is a URL of a few hundred bytes, never media)
LINK_BYTES = 512


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine(EngineSettings(cache_dir=tmp_path_factory.mktemp("engine-cache")))


def _fetching(tmp: Path, redis_url: str, **more: Any) -> BotSettings:
    """The bot's settings with the fetch hand-off on, its media server on a free port."""
    port = free_port()
    return BotSettings(
        redis_url=redis_url,
        data_dir=tmp / "bot",
        media_url=f"http://127.0.0.1:{port}",
        media_host="127.0.0.1",
        media_port=port,
        bot_metrics_port=0,
        **more,
    )


async def _scan(redis: Any, pattern: str) -> dict[str, bytes]:
    return {k.decode(): await redis.get(k) async for k in redis.scan_iter(match=pattern)}


async def _no_upload_bytes(redis: Any, digests: list[str]) -> None:
    """Redis holds no upload: no copy under the media keys, every link a short URL."""
    for key, value in (await _scan(redis, "mouthpiece:media*")).items():
        assert len(value) < LINK_BYTES, key
        assert value.startswith(b"http://127.0.0.1:"), key
    assert not await redis.exists(*(Keys.media(d) for d in digests))


def test_a_worker_on_another_machine_renders_from_signed_links_and_keeps_no_copy(
    tmp_path: Path, engine: Engine, sample_voice: Path, sample_photo: Path
) -> None:
    voice, photo = sample_voice.read_bytes(), sample_photo.read_bytes()
    digests = [hashlib.sha256(b).hexdigest() for b in (voice, photo)]

    async def go(url: str) -> None:
        settings = _fetching(
            tmp_path,
            url,
            telegram_bot_token="123:TEST",
            status_edit_seconds=0.2,
            board_interval_seconds=0.2,
        )
        metrics = Metrics.create()
        async with telegram_bot(settings) as (tg, service):
            queue: Queue = service.gateway  # type: ignore[assignment]
            assert queue.links is not None and not queue.shared
            media = await start_media_server(settings, queue.links, metrics)
            assert media is not None
            # the worker: its own folder, none of the bot's, and no hand-off setting at all
            host = with_settings(
                settings,
                telegram_api_base_url=tg.url,
                data_dir=tmp_path / "worker",
                media_url="",
            )
            cache = host.data_dir / "cache" / "uploads"
            seen: list[str] = []  # every media key a worker read, caught as the render ran
            try:
                async with engine_workers(host, engine):
                    me = ME
                    await said(tg, me, lambda: tg.send_text(me, "/talk"), "Let's make a video")
                    await said(tg, me, lambda: tg.send_text(me, "Hello there."), "Script received")
                    await said(tg, me, lambda: tg.send_voice(me, voice, duration=7), "What is said")
                    await said(tg, me, lambda: tg.press(me, "skip_transcript|"), "Still needed")
                    await said(tg, me, lambda: tg.send_photo(me, photo), "Before I render")
                    await said(tg, me, lambda: tg.press(me, "consent|"), "Ready:")
                    await _no_upload_bytes(queue.redis, digests)  # the checks' links are gone
                    assert await _scan(queue.redis, "mouthpiece:media*") == {}
                    await said(tg, me, lambda: tg.press(me, "render|"), "Queued as job")
                    seen += await _scan(queue.redis, "mouthpiece:media-link:*")
                    await _no_upload_bytes(queue.redis, digests)
                    await tg.wait_for(lambda: len(tg.videos(me)) == 1, timeout=120)
                assert len(seen) == 2  # the job's two links: its voice and its photo
                assert not any("expired" in t for t in tg.texts(me) + tg.edits(me))
                assert not list(cache.iterdir())  # no copy past the render, no partial file
                assert not (host.data_dir / "media").exists()
                assert metrics.media_refused.labels(reason="signature")._value.get() == 0
            finally:
                await media.cleanup()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


@dataclass
class BotSide:
    uploads: Uploads
    queue: Queue
    settings: BotSettings
    metrics: Metrics
    links: MediaLinks


@asynccontextmanager
async def _bot_side(tmp: Path, url: str) -> AsyncIterator[BotSide]:
    """The bot's uploads over a real store and Redis, in fetch mode, its media server up."""
    settings = _fetching(tmp, url)
    store = await Store.open(settings.db_path)
    links = media_links_from(settings)
    assert links is not None
    queue = Queue(await connect(url), links=links)
    metrics = Metrics.create()
    media = await start_media_server(settings, links, metrics)
    assert media is not None
    try:
        uploads = Uploads(store.media, queue, settings.media_dir)
        yield BotSide(uploads, queue, settings, metrics, links)
    finally:
        await media.cleanup()
        await queue.close()
        await store.close()


async def _keep(uploads: Uploads, data: bytes, kind: str = "image") -> str:
    async def fetch() -> bytes:
        return data

    return await uploads.keep(Media(WHO, kind, len(data), fetch, filename="x.jpg"), data)


async def _get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s, s.get(url, allow_redirects=False) as r:
        return r.status, await r.read()


def _changed(url: str, **parts: str) -> str:
    """``url`` with some query parts replaced (``digest``: the path's)."""
    split = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    path = split.path
    if "digest" in parts:
        path = f"/media/{parts.pop('digest')}"
    query.update(parts)
    return split._replace(path=path, query=urlencode(query)).geturl()


def _refused(metrics: Metrics, reason: str) -> float:
    value: float = metrics.media_refused.labels(reason=reason)._value.get()
    return value


def test_a_link_opens_one_upload_for_one_job_until_it_expires(
    tmp_path: Path, sample_photo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    photo = sample_photo.read_bytes()

    async def go(url: str) -> None:
        async with _bot_side(tmp_path, url) as side:
            uploads, settings, metrics, links = (
                side.uploads,
                side.settings,
                side.metrics,
                side.links,
            )
            digest = await _keep(uploads, photo)
            other = await _keep(uploads, b"another upload")
            good = links.url(digest, "render", JOB, time.time())
            assert await _get(good) == (200, photo)
            sig = parse_qs(urlsplit(good).query)["sig"][0]
            forged = [
                _changed(good, digest=other),
                _changed(good, purpose="intake"),
                _changed(good, job="cd34" * 8),
                _changed(good, exp=str(int(time.time()) + 10 * 86_400)),
                _changed(good, sig=("0" if sig[0] != "0" else "1") + sig[1:]),
            ]
            with caplog.at_level(logging.INFO):
                for link in forged:
                    assert (await _get(link))[0] == 403, link
                assert _refused(metrics, "signature") == len(forged)
                # signed by another key (another chat process's secret)
                stranger = MediaLinks(b"s" * 32, settings.media_url, 60)
                assert (await _get(stranger.url(digest, "render", JOB, time.time())))[0] == 403
                assert _refused(metrics, "signature") == len(forged) + 1
                late = links.url(digest, "render", JOB, time.time() - 2 * links.seconds)
                assert (await _get(late))[0] == 403
                assert _refused(metrics, "expired") == 1
                # nothing but a SHA-256 may become a path
                for name in (
                    "G" * 64,
                    digest[:63],
                    f"{digest}.jpg",
                    "..%2F..%2Fmouthpiece.sqlite3",
                ):
                    assert (await _get(_changed(good, digest=name)))[0] in (403, 404), name
                assert _refused(metrics, "malformed") >= 3
                assert (await _get(_changed(good, purpose="everything")))[0] == 403
                for bare in (f"{settings.media_url}/media/", f"{settings.media_url}/"):
                    assert (await _get(bare))[0] == 404
            assert not any(sig in r.getMessage() or sig in str(r.__dict__) for r in caplog.records)
            async with aiohttp.ClientSession() as s, s.post(good) as r:
                assert r.status == 405  # GET only
            # erased (or expired by retention): the bot's file is gone, the link finds nothing
            kept = await uploads.files.path(digest)
            assert kept is not None
            kept.unlink()
            assert (await _get(good))[0] == 404

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_a_worker_refuses_bytes_that_are_not_the_digests_and_keeps_nothing(
    tmp_path: Path,
    sample_photo: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    photo = sample_photo.read_bytes()
    tampered = tmp_path / "tampered.jpg"
    tampered.write_bytes(photo[:-1] + b"\x00")

    async def go(url: str) -> None:
        async with _bot_side(tmp_path, url) as side:
            uploads, queue = side.uploads, side.queue
            digest = await _keep(uploads, photo)
            job = RenderJob(JOB, "telegram", WHO.user_id, WHO.chat_id, "Hi.", digest, digest)
            assert await uploads.supply(job) is None
            cache = tmp_path / "worker-cache"
            cache.mkdir()
            house = WorkerContext(BotSettings(data_dir=tmp_path / "worker"), cache, cache)
            house.redis = queue.redis
            # the bot's file served, checked, read by the job, then dropped
            path = await media_file(house, digest, "image", JOB)
            assert path.read_bytes() == photo and path.parent == cache
            assert await media_file(house, digest, "image", JOB) == path  # preview, then video
            assert await drop_fetched(house, JOB) == 1
            assert list(cache.iterdir()) == []
            # a server that sends other bytes than the digest's: refused, nothing kept
            monkeypatch.setattr(media_server, "stored_media", lambda *_: tampered)
            with caplog.at_level(logging.WARNING), pytest.raises(InvalidInput) as e:
                await media_file(house, digest, "image", JOB)
            assert e.value.reason == texts.UPLOAD_EXPIRED
            assert "does not match its digest" in caplog.text
            assert list(cache.iterdir()) == []
            monkeypatch.undo()
            # bigger than any upload may be: refused before it is all read
            small = WorkerContext(BotSettings(data_dir=tmp_path, max_file_bytes=100), cache, cache)
            small.redis = queue.redis
            with pytest.raises(InvalidInput):
                await media_file(small, digest, "image", JOB)
            assert list(cache.iterdir()) == []
            # the link expired in Redis: the job supplied again gets a fresh one
            link = Keys.media_link(digest, JOB)
            first = await queue.redis.get(link)
            assert first is not None and len(first) < LINK_BYTES
            assert not await queue.redis.exists(Keys.media(digest))
            await queue.redis.delete(link)
            with pytest.raises(InvalidInput):
                await media_file(house, digest, "image", JOB)
            assert await uploads.supply(job) is None
            assert await media_file(house, digest, "image", JOB)
            await drop_fetched(house, JOB)
            # an erasure of the job, or of the upload, takes its links (and the bot's file:
            # no new link)
            await queue.erase(ErasePlan("telegram", job_ids=(JOB,)))
            assert not await queue.redis.exists(link)
            assert await uploads.supply(job) is None
            await queue.erase(ErasePlan("telegram", digests=(digest,)))
            assert not await queue.redis.exists(link)
            kept = await uploads.files.path(digest)
            assert kept is not None
            kept.unlink()
            assert await uploads.supply(job) == "voice note"
            assert not await queue.redis.exists(link)

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_the_fetch_hand_off_is_one_of_three() -> None:
    env = {"MOUTHPIECE_MEDIA_URL": "http://bot:8082", "MOUTHPIECE_SHARED_MEDIA": "true"}
    with pytest.raises(ValueError, match="MOUTHPIECE_SHARED_MEDIA"):
        BotSettings.from_env(env, None)
    with pytest.raises(ValueError, match="MOUTHPIECE_MEDIA_URL"):
        BotSettings.from_env({"MOUTHPIECE_MEDIA_URL": "bot:8082"}, None)
    with pytest.raises(ValueError, match="MOUTHPIECE_MEDIA_SECRET"):
        BotSettings.from_env({"MOUTHPIECE_MEDIA_SECRET": "short"}, None)
    assert media_links_from(BotSettings()) is None
