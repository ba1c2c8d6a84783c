"""Data that really goes away: a person's data made in every place it can be, then /forget,
then a scan of the data folder (every file's name and bytes, the SQLite file included),
SQLite (every table and column) and Redis (every key and value) for their user id, the
words of their scripts and transcript, their uploads' hashes and the uploads' bytes.

Real parts: python-telegram-bot against the Bot API stand-in, redis-server, SQLite on disk,
arq workers hosting the embedded CPU engine. The worker is stopped and a new one started on
the same folder in between, as a restart would: its caches are one known folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.contract import texts
from bot.contract.jobs import INTAKE_QUEUE, Keys
from bot.conversation.service import Service
from bot.settings import BotSettings
from bot.worker import CTX_KEY, WorkerContext
from engine import Engine, EngineSettings
from engine.media.video import VideoWriter
from engine.tts.neutts import ReferenceCodes
from engine.types import Audio
from tests.auxil.redis_server import redis_server
from tests.auxil.system import engine_workers, said, telegram_bot, with_settings
from tests.auxil.telegram_server import TelegramStandIn

PERSON, OPERATOR = 731947528, 5550001
SCRIPTS = ("Zanzibarquokka tells the whole story.", "Marzipanheron sings it again.")
TRANSCRIPT = "Transcriptwombat reads the words."
WORDS = ("zanzibarquokka", "marzipanheron", "transcriptwombat")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine(EngineSettings(cache_dir=tmp_path_factory.mktemp("engine-cache")))


@pytest.mark.parametrize("shared", [False, True], ids=["redis-transport", "shared-folder"])
def test_forget_leaves_nothing_of_the_person_anywhere(
    tmp_path: Path, engine: Engine, sample_voice: Path, sample_photo: Path, shared: bool
) -> None:
    """Both hand-offs of an upload: through Redis into the worker's cache, and (one box,
    ``shared_media``) the bot's one file read in place, which leaves neither copy."""
    voice_bytes, photo_bytes = sample_voice.read_bytes(), sample_photo.read_bytes()
    digests = [hashlib.sha256(b).hexdigest() for b in (voice_bytes, photo_bytes)]
    data = tmp_path / "data"

    async def go(url: str) -> None:
        settings = BotSettings(
            telegram_bot_token="123:TEST",
            redis_url=url,
            data_dir=data,
            telegram_admin_ids=str(OPERATOR),
            status_edit_seconds=0.2,
            board_interval_seconds=0.2,
            forget_poll_seconds=0.2,
            bot_metrics_port=0,
            shared_media=shared,
        )
        async with telegram_bot(settings) as (tg, service):
            settings = with_settings(settings, telegram_api_base_url=tg.url)
            async with engine_workers(settings, engine) as first:
                await _make_a_trail(tg, first[0].ctx[CTX_KEY], voice_bytes, photo_bytes)
            assert digests[1] in engine.photo_sources()  # the render kept the photo's work
            await _copies(service, data, digests, shared)
            # The worker is down; the person's next video waits in the queue (an arq job
            # record holding its script), the one after in review, and a render killed
            # mid-way left its temporary audio and video beside the outputs.
            await _queue_and_review(tg)
            job_ids = [j.job_id for j in await service.store.jobs.recent("telegram", str(PERSON))]
            _killed_render(data / "out", await _open_job(service))
            await said(tg, PERSON, lambda: tg.send_text(PERSON, "/forget"), "Done. Removed")
            done = texts.FORGET_DONE.format(drafts=0, voices=1, media=2, outputs=1, jobs=3)
            assert tg.texts(PERSON)[-1] == done
            async with engine_workers(settings, engine):  # restarted: sweeps what the last run kept
                await _until_swept(data, engine)
            await _scan(service, data, digests, voice_bytes, photo_bytes, job_ids)

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


async def _make_a_trail(
    tg: TelegramStandIn, house: WorkerContext, voice: bytes, photo: bytes
) -> None:
    """Uploads (checked by the worker: its cache), a transcript, a saved voice, a rendered
    and delivered video, the engine's codes of the voice, an intake record in Redis."""
    me = PERSON
    await said(tg, me, lambda: tg.send_text(me, "/talk"), "Let's make a video")
    await said(tg, me, lambda: tg.send_text(me, SCRIPTS[0]), "Script received")
    await said(tg, me, lambda: tg.send_voice(me, voice, duration=7), "What is said")
    await said(tg, me, lambda: tg.send_text(me, TRANSCRIPT), texts.GOT_TRANSCRIPT)
    await said(tg, me, lambda: tg.send_photo(me, photo), "Before I render")
    await said(tg, me, lambda: tg.send_text(me, "/voice save mine"), "Saved the last voice")
    await said(tg, me, lambda: tg.press(me, "consent|"), "Ready:")
    await said(tg, me, lambda: tg.press(me, "render|"), "Queued as job")
    await tg.wait_for(lambda: len(tg.videos(me)) >= 1, timeout=120)
    # what NeuTTS keeps of a voice: its codes and transcript, indexed by the voice file
    source = hashlib.sha256(voice).hexdigest()
    cache = house.voice_cache
    assert cache is not None
    key = hashlib.sha256(b"codes of " + source.encode()).hexdigest()[:32]
    ReferenceCodes(np.arange(50, dtype=np.int64), TRANSCRIPT, "a" * 64).save(cache.path(key))
    cache.used(key, source)
    # an intake answer nobody read (the bot timed out): arq keeps it, naming the upload
    job = await house.pool.enqueue_job("check_media", "audio", source, _queue_name=INTAKE_QUEUE)
    assert job is not None
    await job.result(timeout=60)


async def _copies(service: Service, data: Path, digests: list[str], shared: bool) -> None:
    """Where the uploads are after a render: always the bot's file; in Redis and the
    worker's cache only when the two do not share the data folder."""
    redis = service.gateway.redis  # type: ignore[attr-defined]
    in_redis = [d for d in digests if await redis.exists(Keys.media(d))]
    cached = sorted(p.name for p in (data / "cache" / "uploads").iterdir())
    kept = sorted(p.name.split(".")[0] for p in (data / "media").rglob("*") if p.is_file())
    assert kept == sorted(digests)
    if shared:
        assert in_redis == [] and cached == []
    else:
        assert in_redis == digests and len(cached) == 2


async def _again(tg: TelegramStandIn, then: str) -> None:
    """A new draft from the saved voice and the last photo, up to Render."""
    me = PERSON
    await said(tg, me, lambda: tg.send_text(me, "/talk"), "Let's make a video")
    await said(tg, me, lambda: tg.send_text(me, SCRIPTS[1]), "Script received")
    await said(tg, me, lambda: tg.press(me, "use_voice|mine"), "Voice note received")
    await said(tg, me, lambda: tg.press(me, "last_photo|"), "Before I render")
    await said(tg, me, lambda: tg.press(me, "consent|"), "Ready:")
    await said(tg, me, lambda: tg.press(me, "render|"), then)


async def _queue_and_review(tg: TelegramStandIn) -> None:
    await _again(tg, "Queued as job")
    # the operator asks for reviews in direct messages; the person's next video waits there
    say = lambda: tg.send_text(OPERATOR, "/mod consent review")  # noqa: E731
    await said(tg, OPERATOR, say, "Consent mode here")
    await _again(tg, "A moderator checks consent")


async def _open_job(service: Service) -> str:
    jobs = await service.store.jobs.recent("telegram", str(PERSON), open_only=True)
    assert len(jobs) == 1
    return str(jobs[0].job_id)


def _killed_render(out: Path, job_id: str) -> None:
    """What a render killed mid-way leaves: the encoder's temporary WAV and MP4."""
    audio = Audio(np.zeros(16_000, np.float32), 16_000)
    writer = VideoWriter(out / f"{job_id}.mp4", size=(64, 64), fps=25, audio=audio)
    writer.open()
    assert writer._proc is not None
    writer._proc.kill()  # the process dies; nobody cleans up its files
    writer._proc.wait()
    for pipe in (writer._proc.stdin, writer._proc.stderr):
        if pipe is not None:
            pipe.close()
    assert len(list(out.glob(f".{job_id}.*"))) == 2


async def _until_swept(data: Path, engine: Engine) -> None:
    for _ in range(200):
        cached = list((data / "cache" / "uploads").iterdir())
        if not cached and not engine.voice_cache.sources() and not engine.photo_sources():
            return
        await asyncio.sleep(0.1)
    kept = (engine.voice_cache.sources(), engine.photo_sources())
    raise AssertionError(f"the restarted worker kept {cached} / {kept}")


async def _scan(
    service: Service,
    data: Path,
    digests: list[str],
    voice: bytes,
    photo: bytes,
    job_ids: list[str],
) -> None:
    who = str(PERSON).encode()
    words = [w.encode() for w in WORDS]
    hashes = [d.encode() for d in digests]
    chunks = [voice[1000:1064], photo[2000:2064]]  # 64 bytes of each upload
    # 1. Every file under the data folder: names and bytes. The database keeps the audit
    #    record (ids, times, hashes: checked row by row below), never words or bytes.
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        blob = path.read_bytes()
        named = str(path.relative_to(data)).encode()
        for needle in words:  # any case: the scripts say "Zanzibarquokka"
            assert needle not in blob.lower(), f"{needle!r} in {path}"
        for needle in chunks:
            assert needle not in blob, f"upload bytes in {path}"
        if path.name.startswith("mouthpiece.sqlite3"):
            continue
        for needle in (who, *hashes):
            assert needle not in blob and needle not in named, f"{needle!r} in {path}"
        for job_id in job_ids:  # videos, and the leftovers of a killed render
            assert job_id.encode() not in named, f"job {job_id} in {path}"
    # 2. SQLite, every table and column: the person's id and their uploads' fingerprints
    #    remain only where the audit and the limits need them.
    found = _sqlite_hits(data / "mouthpiece.sqlite3", [str(PERSON), *digests, *WORDS])
    allowed = {
        ("users", "user_id"),  # the limits count per person: a bare row
        ("jobs", "user_id"),  # job rows keep counting (forgetting resets no limit)
        ("jobs", "chat_id"),  # (a private chat's id is the person's id)
        ("uploads", "user_id"),  # the upload quota survives /forget
        ("consents", "user_id"),  # the audit: who asked for which video, when, and
        ("consents", "voice_digest"),  # SHA-256 fingerprints of what was used
        ("consents", "photo_digest"),
        ("audit_log", "user_id"),  # render requested, forget
    }
    assert found - allowed == set(), f"left in SQLite: {sorted(found - allowed)}"
    assert not any(w in str(found) for w in WORDS)
    # 3. Redis: every key and every value.
    redis = service.gateway.redis  # type: ignore[attr-defined]
    needles = [who, *words, *hashes, *(c.lower() for c in chunks)]
    async for key in redis.scan_iter(match="*", count=1000):
        for value in [key, *await _values(redis, key)]:
            for needle in needles:
                assert needle not in value.lower(), f"{needle[:20]!r} in Redis {key!r}"
    assert await redis.zcard(Keys.FORGOTTEN) >= 3  # tombstones: hashes of hashes only


async def _values(redis: Any, key: bytes) -> list[bytes]:
    kind = (await redis.type(key)).decode()
    if kind == "string":
        return [await redis.get(key)]
    if kind == "hash":
        return [b for kv in (await redis.hgetall(key)).items() for b in kv]
    if kind == "set":
        return list(await redis.smembers(key))
    if kind == "zset":
        return list(await redis.zrange(key, 0, -1))
    if kind == "list":
        return list(await redis.lrange(key, 0, -1))
    return []


def _sqlite_hits(path: Path, needles: list[str]) -> set[tuple[str, str]]:
    """(table, column) pairs where any needle occurs in any row."""
    hits = set()
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            for column in columns:
                for needle in needles:
                    row = db.execute(
                        f"SELECT 1 FROM {table} WHERE instr(lower(CAST({column} AS TEXT)), ?) > 0",
                        (needle,),
                    ).fetchone()
                    if row is not None:
                        hits.add((table, column))
    return hits


def test_a_worker_delivers_nothing_of_an_erased_job(
    tmp_path: Path, engine: Engine, sample_voice: Path, sample_photo: Path
) -> None:
    """A job erased while it waited (its tombstone is in Redis before a worker takes it):
    the worker neither renders nor sends it."""
    from bot.chat.queue import Queue
    from bot.contract.jobs import JobState, RenderJob, forget_token

    async def go(url: str) -> None:
        tg = TelegramStandIn()
        await tg.start()
        queue = await Queue.connect(url)
        settings = BotSettings(
            telegram_bot_token="123:TEST",
            telegram_api_base_url=tg.url,
            redis_url=url,
            data_dir=tmp_path / "data",
            bot_metrics_port=0,
        )
        try:
            digests = []
            for data in (sample_voice.read_bytes(), sample_photo.read_bytes()):
                digests.append(hashlib.sha256(data).hexdigest())
                await queue.put_media(digests[-1], data)
            jobs = [
                RenderJob(f"job{n}", "telegram", chat, chat, "Hello there.", *digests)
                for n, chat in ((1, "77"), (2, "78"))
            ]
            await queue.redis.zadd(Keys.FORGOTTEN, {forget_token("job1"): 1.0})
            for job in jobs:
                assert await queue.enqueue(job)
            async with engine_workers(settings, engine):
                for _ in range(600):
                    states = [await queue.record(j.job_id) for j in jobs]
                    if all(s is not None and s.state in ("done", "cancelled") for s in states):
                        break
                    await asyncio.sleep(0.1)
            assert [s.state if s else None for s in states] == [JobState.CANCELLED, JobState.DONE]
            assert len(tg.videos(78)) == 1 and tg.videos(77) == []  # job 1: never sent,
            started = [c for c in tg.calls if c.method == "sendChatAction"]  # nor started
            assert started and {c.params.get("chat_id") for c in started} == {"78"}
            assert not (settings.data_dir / "out" / "job1.mp4").exists()
        finally:
            await queue.close()
            await tg.stop()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))
