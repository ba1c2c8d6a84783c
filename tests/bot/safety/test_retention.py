"""Retention purge with fake clock values, and /forget (and /mod purge) removing everything a
user has while the audit keeps only hashes."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Command, Reply, Who
from bot.contract.jobs import JobState, Keys, RenderJob
from bot.conversation.flow import Draft
from bot.conversation.service import Limits, Service
from bot.safety import Staff
from bot.safety.policy import LimitExceeded, RateLimits, Safety, ServerPolicy
from bot.safety.retention import Retention, purge, purge_dir
from tests.auxil.redis_server import redis_server

HOUR = 3600.0


async def _media(store: Store, folder: Path, digest: str, created: float) -> Path:
    path = folder / f"{digest}.ogg"
    path.write_bytes(b"x")
    await store.media.put(digest, "audio", 1, "audio/ogg", path)
    async with store.database.writing() as db:
        await db.execute("UPDATE media SET created=? WHERE digest=?", (created, digest))
    return path


def test_purge_expires_uploads_and_videos_but_keeps_saved_voices_and_open_jobs(
    tmp_path: Path,
) -> None:
    media, out = tmp_path / "media", tmp_path / "out"
    media.mkdir()
    out.mkdir()
    now = 2_000_000_000.0

    async def go() -> None:
        store = await Store.open(tmp_path / "db.sqlite3")
        try:
            await check(store)
        finally:
            await store.close()

    async def check(store: Store) -> None:
        old = await _media(store, media, "o" * 64, now - 25 * HOUR)
        fresh = await _media(store, media, "f" * 64, now - 23 * HOUR)
        voice = await _media(store, media, "s" * 64, now - 900 * HOUR)
        busy = await _media(store, media, "b" * 64, now - 30 * HOUR)
        await store.voices.save("telegram", "u", "mine", "s" * 64, 5.0, None)
        await store.media.remember("telegram", "u", photo="o" * 64)
        job = RenderJob("open1", "telegram", "u2", "c", "Words", "b" * 64, "p" * 64)
        await store.jobs.add(job, None)  # still queued: its upload must stay
        done = RenderJob("done1", "telegram", "u", "c", "Private words", "x" * 64, "p" * 64)
        await store.jobs.add(done, None)
        await store.jobs.move("done1", JobState.DONE)
        async with store.database.writing() as db:
            await db.execute("UPDATE jobs SET finished=? WHERE job_id='done1'", (now - 8 * 86_400,))
        await store.drafts.put("telegram", "u", "c", Draft(id="idle"))
        async with store.database.writing() as db:
            await db.execute("UPDATE drafts SET updated=?", (now - 25 * HOUR,))
        old_video, new_video = out / "done1.mp4", out / "recent.mp4"
        for path, age in ((old_video, 8 * 86_400), (new_video, 6 * 86_400)):
            path.write_bytes(b"mp4")
            os.utime(path, (now - age, now - age))

        report = await purge(store, out, Retention(media_hours=24, output_days=7), now)

        assert (report.media, report.drafts, report.scripts, report.outputs) == (1, 1, 1, 1)
        assert not old.exists() and fresh.exists() and voice.exists() and busy.exists()
        assert not old_video.exists() and new_video.exists()
        user = await store.media.last("telegram", "u")
        assert user is not None and user.photo_hash is None  # no dangling "last photo"
        row = await store.database.one("SELECT payload FROM jobs WHERE job_id='done1'")
        assert row is not None and "Private words" not in row[0] and "x" * 64 in row[0]
        assert await store.drafts.get("telegram", "u", "c") is None
        # a second pass a day later finds the next expiries (the clock is an argument)
        later = await purge(store, out, Retention(), now + 2 * HOUR)
        assert later.media == 1 and not fresh.exists() and voice.exists()

    asyncio.run(go())


def test_purge_dir_by_age(tmp_path: Path) -> None:
    now = time.time()
    (tmp_path / "a").mkdir()
    keep, drop = tmp_path / "a" / "keep.bin", tmp_path / "a" / "drop.bin"
    keep.write_bytes(b"1")
    drop.write_bytes(b"2")
    os.utime(drop, (now - 100, now - 100))
    assert purge_dir(tmp_path, 50, now) == 1
    assert keep.exists() and not drop.exists()
    assert purge_dir(tmp_path / "missing", 50, now) == 0


def test_forget_removes_everything_the_user_has_and_confirms_counts(tmp_path: Path) -> None:
    who = Who("telegram", "u", "c")
    other = Who("telegram", "someone", "c2")
    operator = Who("telegram", "admin", "c3")

    async def go(url: str) -> None:
        store = await Store.open(tmp_path / "db.sqlite3")
        queue = await Queue.connect(url, intake_timeout=0.3)
        safety = Safety(
            defaults=ServerPolicy(limits=RateLimits(1, -1, -1, -1)),
            out_dir=tmp_path / "out",
            staff=Staff(operators={"telegram": frozenset({"admin"})}),
        )
        svc = Service(store, queue, tmp_path / "media", Limits(), safety=safety)
        try:
            await check(svc, store, queue)
        finally:
            await queue.close()
            await store.close()

    async def check(svc: Service, store: Store, queue: Queue) -> None:
        media = tmp_path / "media"
        media.mkdir()
        (tmp_path / "out").mkdir()
        now = time.time()
        mine = await _media(store, media, "m" * 64, now)
        shared = await _media(store, media, "s" * 64, now)
        photo = await _media(store, media, "p" * 64, now)
        await queue.put_media("m" * 64, b"voice bytes")
        await store.voices.save("telegram", "u", "me", "m" * 64, 5.0, "my words")
        await store.voices.save("telegram", "someone", "theirs", "s" * 64, 5.0, None)
        await store.media.remember("telegram", "u", voice=("s" * 64, 4.0, None), photo="p" * 64)
        await store.drafts.put(
            "telegram", "u", "c", Draft(id="d", script="draft words", voice_hash="m" * 64)
        )
        job = RenderJob("j1", "telegram", "u", "c", "Secret script", "m" * 64, "p" * 64)
        await store.jobs.add(job, None, limits=RateLimits(1, -1, -1, -1))
        await store.jobs.move("j1", JobState.DONE)
        (tmp_path / "out" / "j1.mp4").write_bytes(b"video")

        got = await svc.handle(Command(who, "forget"))
        assert [a.text for a in got if isinstance(a, Reply)] == [
            texts.FORGET_DONE.format(drafts=1, voices=1, media=2, outputs=1, jobs=1)
        ]
        assert not mine.exists() and not photo.exists() and shared.exists()  # shared stays
        assert not (tmp_path / "out" / "j1.mp4").exists()
        assert await queue.redis.get(Keys.media("m" * 64)) is None
        assert await store.voices.list("telegram", "u") == []
        assert [v.name for v in await store.voices.list("telegram", "someone")] == ["theirs"]
        assert await store.drafts.get("telegram", "u", "c") is None
        user = await store.media.last("telegram", "u")
        assert user is not None and user.voice_hash is None
        payload = await store.database.one("SELECT payload FROM jobs WHERE job_id='j1'")
        assert payload is not None and "Secret" not in payload[0]
        (record,) = await store.safety.log.recent_renders("telegram", "")
        assert record.voice == "m" * 64 and len(record.script) == 64  # hashes remain
        # forgetting does not reset the daily limit (job rows keep counting)
        again = RenderJob("j2", "telegram", "u", "c", "x", "m" * 64, "p" * 64)
        with pytest.raises(LimitExceeded):
            await store.jobs.add(again, None, limits=RateLimits(1, -1, -1, -1))

        # an operator purges another user everywhere; a non-moderator cannot
        refused = await svc.handle(Command(other, "mod", "purge someone everywhere"))
        assert [a.text for a in refused] == [texts.MOD_ONLY]
        purged = await svc.handle(Command(operator, "mod", "purge 123 everywhere"))
        assert purged[0].text.startswith("Removed user 123's data everywhere")
        await store.voices.save("telegram", "123", "v", "s" * 64, 5.0, None)
        await svc.handle(Command(operator, "mod", "purge 123 everywhere"))
        assert await store.voices.list("telegram", "123") == [] and shared.exists()  # still used

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_worker_purges_its_cached_uploads_and_videos(tmp_path: Path) -> None:
    from bot.jobs.redis import connect
    from bot.settings import BotSettings
    from bot.worker import CTX_KEY, WorkerContext, purge_worker_files

    cache, out = tmp_path / "cache", tmp_path / "out"
    cache.mkdir()
    out.mkdir()
    now = time.time()
    files = {
        cache / "old.audio": 25 * HOUR,
        cache / "new.img": 1 * HOUR,
        out / "old.mp4": 8 * 86_400,
        out / "new.mp4": 6 * 86_400,
    }
    for path, age in files.items():
        path.write_bytes(b"x")
        os.utime(path, (now - age, now - age))

    async def go(url: str) -> dict[str, int]:
        redis = await connect(url)
        try:
            house = WorkerContext(BotSettings(), out_dir=out, cache_dir=cache, redis=redis)
            return await purge_worker_files({CTX_KEY: house})
        finally:
            await redis.aclose()

    with redis_server(tmp_path) as url:
        got = asyncio.run(go(url))
    assert (got["media"], got["outputs"]) == (1, 1)
    assert sorted(p.name for p in files if p.exists()) == ["new.img", "new.mp4"]


def test_a_notice_for_a_chat_goes_through_a_worker(tmp_path: Path) -> None:
    """The bot has no delivery outside a conversation: an expired review's notice is queued
    (Queue.notify) and a worker sends it, keeping no result record."""
    import aiohttp
    from arq import Worker, func
    from arq.connections import RedisSettings

    from bot.contract.jobs import INTAKE_QUEUE
    from bot.jobs.redis import ARQ_CODEC
    from bot.settings import BotSettings
    from bot.worker import CTX_KEY, WorkerContext, close_worker, notify
    from bot.worker.delivery.telegram import TelegramDelivery
    from tests.auxil.telegram_server import TelegramStandIn

    async def go(url: str) -> None:
        tg = TelegramStandIn()
        await tg.start()
        queue = await Queue.connect(url)
        async with aiohttp.ClientSession() as session:
            messengers = {"telegram": TelegramDelivery(session, tg.url, "123:TEST")}
            worker = Worker(
                functions=[func(notify, keep_result=0)],
                queue_name=INTAKE_QUEUE,
                poll_delay=0.05,
                redis_settings=RedisSettings.from_dsn(url),
                **ARQ_CODEC,
                handle_signals=False,
                ctx={
                    CTX_KEY: WorkerContext(BotSettings(), tmp_path, tmp_path, messengers=messengers)
                },
            )
            task = asyncio.create_task(worker.main())
            try:
                await queue.notify("telegram", "4711", "Your review expired.", "job1")
                await tg.wait_for(lambda: tg.texts(4711) == ["Your review expired."], timeout=20)
                await asyncio.sleep(0.2)
                assert [k async for k in queue.redis.scan_iter(match="arq:result:*")] == []
            finally:
                await close_worker(worker)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await queue.close()
                await tg.stop()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_the_audit_log_is_kept_for_its_retention_only(tmp_path: Path) -> None:
    now = 2_000_000_000.0

    async def go() -> None:
        store = await Store.open(tmp_path / "db.sqlite3")
        try:
            async with store.database.writing() as db:
                for at in (now - 400 * 86_400, now - 10 * 86_400):
                    await db.execute(
                        "INSERT INTO audit_log (at, platform, guild_id, user_id, action, detail) "
                        "VALUES (?, 'discord', 'g1', '42', 'render_requested', 'job')",
                        (at,),
                    )
            out = tmp_path / "out"
            out.mkdir()
            await purge(store, out, Retention(audit_days=365), now)
            rows = await (await store.database.conn.execute("SELECT at FROM audit_log")).fetchall()
            assert [r[0] for r in rows] == [now - 10 * 86_400]
        finally:
            await store.close()

    asyncio.run(go())
