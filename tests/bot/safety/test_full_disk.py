"""Erasure and retention on a full disk, and the upload folder's orphan sweep.

Real parts: the data folder is a small tmpfs filled to its last byte (tests/auxil/small_disk),
SQLite writes there for real and fails for real ("database or disk is full"); /forget runs
through the service with a real redis-server. Files go before rows, so a delete finds the
room the files left; where they leave too little (a person with no files), the database's
spare makes the room.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Command, Media, Reply, Who
from bot.contract.jobs import JobState, RenderJob
from bot.conversation.flow import Draft
from bot.conversation.service import Limits, Service
from bot.db import SPARE_BYTES, DatabaseFull
from bot.jobs.media import Uploads
from bot.safety.policy import Safety
from bot.safety.retention import Retention, purge, sweep_orphans
from bot.settings import BotSettings
from tests.auxil.redis_server import redis_server
from tests.auxil.small_disk import fill, free, small_disk
from tests.auxil.system import chat_service

WHO = Who("telegram", "u", "c")
HOUR = 3600.0


async def _upload(store: Store, media: Path, digest: str, size: int, created: float) -> Path:
    """An upload's file (``size`` bytes) and its media row, made at ``created``."""
    path = media / digest[:2] / f"{digest}.ogg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    await store.media.put(digest, "audio", size, "audio/ogg", path)
    async with store.database.writing() as db:
        await db.execute("UPDATE media SET created=? WHERE digest=?", (created, digest))
    return path


async def _person_with_words(store: Store) -> None:
    """A draft and a finished job with a script: rows only, no file of theirs on the disk."""
    await store.drafts.put("telegram", "u", "c", Draft(id="d", script="draft words"))
    job = RenderJob("j1", "telegram", "u", "c", "Secret script", "a" * 64, "b" * 64)
    await store.jobs.add(job, None)
    await store.jobs.move("j1", JobState.DONE)


def _service(store: Store, queue: Queue, data: Path) -> Service:
    return Service(store, queue, data / "media", Limits(), safety=Safety(out_dir=data / "out"))


def _replies(actions: Sequence[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Reply)]


def test_forget_on_a_full_disk_erases_the_person_and_answers(tmp_path: Path) -> None:
    """Nothing of theirs is a file: only the spare makes room for the delete. Once the disk
    has room again, the next retention pass makes the spare again."""

    async def go(url: str, data: Path) -> None:
        store = await Store.open(data / "db.sqlite3", spare_bytes=SPARE_BYTES)
        queue = await Queue.connect(url, intake_timeout=0.3)
        spare = data / "db.sqlite3.spare"
        try:
            assert (
                spare.stat().st_size == SPARE_BYTES and spare.stat().st_blocks * 512 >= SPARE_BYTES
            )
            svc = _service(store, queue, data)
            await _person_with_words(store)
            await store.database.compact()  # the write-ahead log is empty, as after /forget
            filler = fill(data)
            with pytest.raises(DatabaseFull):  # the disk takes no write, not even a delete
                await store.drafts.put("telegram", "someone", "c", Draft(id="x"))

            said = _replies(await svc.handle(Command(WHO, "forget")))

            assert said == [
                texts.FORGET_DONE.format(drafts=1, voices=0, media=0, outputs=0, jobs=1)
            ]
            assert await store.drafts.get("telegram", "u", "c") is None
            row = await store.database.one("SELECT payload FROM jobs WHERE job_id='j1'")
            assert row is not None and "Secret" not in row[0]
            assert not spare.exists()  # it made the room
            # full again: anyone else is told "can't store files right now", and nothing
            # sticks: the same command works once there is room
            more = fill(data, "more")
            someone = Who("telegram", "o", "o")
            assert _replies(await svc.handle(Command(someone, "talk"))) == [texts.DISK_FULL]

            filler.unlink()
            more.unlink()
            assert _replies(await svc.handle(Command(someone, "talk"))) == [texts.START]
            await purge(store, None, Retention(), time.time())
            assert spare.stat().st_size == SPARE_BYTES  # back for the next full disk
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url, small_disk(tmp_path / "data", 24) as data:
        asyncio.run(go(url, data))


def test_forget_deletes_the_files_before_the_rows(tmp_path: Path) -> None:
    """No spare: the person's upload file, deleted first, is the room their rows' delete
    needs."""

    async def go(url: str, data: Path) -> None:
        store = await Store.open(data / "db.sqlite3", spare_bytes=0)
        queue = await Queue.connect(url, intake_timeout=0.3)
        try:
            svc = _service(store, queue, data)
            voice = await _upload(store, data / "media", "c" * 64, 1 << 20, time.time())
            await store.voices.save("telegram", "u", "mine", "c" * 64, 5.0, None)
            await store.media.remember("telegram", "u", voice=("c" * 64, 5.0, None))
            await _person_with_words(store)
            await store.database.compact()
            fill(data)

            said = _replies(await svc.handle(Command(WHO, "forget")))

            assert said == [
                texts.FORGET_DONE.format(drafts=1, voices=1, media=1, outputs=0, jobs=1)
            ]
            assert not voice.exists()
            assert await store.voices.list("telegram", "u") == []
            assert await store.media.path("c" * 64) is None
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url, small_disk(tmp_path / "data", 8) as data:
        asyncio.run(go(url, data))


def test_retention_on_a_full_disk_deletes_files_then_rows(tmp_path: Path) -> None:
    """No spare: the expired uploads' files go first and make the room for their rows."""
    now = 2_000_000_000.0

    async def go(data: Path) -> None:
        store = await Store.open(data / "db.sqlite3", spare_bytes=0)
        try:
            media = data / "media"
            old = [await _upload(store, media, d * 64, 512 * 1024, now - 25 * HOUR) for d in "de"]
            fresh = await _upload(store, media, "f" * 64, 1024, now - HOUR)
            await store.drafts.put("telegram", "u", "c", Draft(id="idle"))
            async with store.database.writing() as db:
                await db.execute("UPDATE drafts SET updated=?", (now - 25 * HOUR,))
            await store.database.compact()
            fill(data)

            report = await purge(store, None, Retention(media_hours=24), now, media_dir=media)

            assert (report.media, report.drafts) == (2, 1)
            assert not any(p.exists() for p in old) and fresh.exists()
            rows = await store.database.one("SELECT COUNT(*) FROM media")
            assert rows is not None and rows[0] == 1
        finally:
            await store.close()

    with small_disk(tmp_path / "data", 8) as data:
        asyncio.run(go(data))


def test_the_spare_never_fills_the_disk_and_is_the_last_resort(tmp_path: Path) -> None:
    async def go(data: Path) -> None:
        store = await Store.open(data / "db.sqlite3", spare_bytes=SPARE_BYTES)
        try:
            spare = data / "db.sqlite3.spare"
            assert not spare.exists()  # 12 MB: no room for 8 MB twice over
            assert sorted(p.name for p in data.iterdir() if "spare" in p.name) == []
            await store.drafts.put("telegram", "u", "c", Draft(id="d"))
            await store.database.compact()
            fill(data)

            async def delete() -> None:
                async with store.database.writing() as db:
                    await db.execute("DELETE FROM drafts")

            with pytest.raises(DatabaseFull):  # no spare to release: the error stands
                await store.database.freeing(delete)
            assert await store.drafts.get("telegram", "u", "c") is not None  # rolled back
        finally:
            await store.close()

    with small_disk(tmp_path / "data", 12) as data:
        assert free(data) < 2 * SPARE_BYTES
        asyncio.run(go(data))


# ---- the orphan sweep -----------------------------------------------------------------
def _aged(path: Path, data: bytes, age: float, now: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (now - age, now - age))
    return path


def test_the_sweep_removes_old_unfinished_writes_and_files_without_a_row(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    media = tmp_path / "media"
    now = time.time()
    old, young = 3600.0, 60.0

    async def go() -> None:
        store = await Store.open(tmp_path / "db.sqlite3", spare_bytes=0)
        try:
            kept = await _upload(store, media, "1" * 64, 10, now)
            os.utime(kept, (now - old, now - old))  # old, but its row names it
            crashed = _aged(media / "22" / ".part.abc123", b"half", old, now)
            writing = _aged(media / "22" / ".part.def456", b"now", young, now)
            no_row = _aged(media / "33" / f"{'3' * 64}.jpg", b"lost row", old, now)
            no_row_yet = _aged(media / "44" / f"{'4' * 64}.jpg", b"row coming", young, now)
            # the same bytes under another name than the row's: nothing names this copy
            twin = _aged(media / "11" / f"{'1' * 64}.jpg", b"twin", old, now)
            not_ours = _aged(media / "notes.txt", b"an operator's file", old, now)
            link = media / "66" / f"{'6' * 64}.jpg"
            link.parent.mkdir()
            link.symlink_to(not_ours)  # named like an upload, but a link: never followed
            os.utime(link, (now - old, now - old), follow_symlinks=False)

            with caplog.at_level(logging.INFO, logger="bot.safety.retention"):
                swept = await sweep_orphans(store, media, 600.0, now)

            assert (swept.parts, swept.files, swept.bytes) == (1, 2, 4 + 8 + 4)
            assert not crashed.exists() and not no_row.exists() and not twin.exists()
            assert kept.exists() and writing.exists() and no_row_yet.exists()
            assert not_ours.exists() and link.is_symlink()
            (line,) = [r for r in caplog.records if r.getMessage() == "orphan files removed"]
            assert line.parts == 1 and line.files == 2 and line.bytes == 16  # type: ignore[attr-defined]
            assert sorted(line.names) == sorted(  # type: ignore[attr-defined]
                [f"11/{'1' * 64}.jpg", "22/.part.abc123", f"33/{'3' * 64}.jpg"]
            )
            # the retention pass runs it, and says how many went
            _aged(media / "55" / ".part.x", b"x", old, now)
            report = await purge(store, None, Retention(), now, media_dir=media)
            assert report.orphans == 1
        finally:
            await store.close()

    asyncio.run(go())


def test_an_upload_of_an_orphans_bytes_adopts_the_file(tmp_path: Path) -> None:
    """A row-less old file whose bytes come again is the new upload's file: its time is
    renewed before its row is written, so a sweep that runs just then (between the file and
    the row) leaves it."""
    media = tmp_path / "media"
    data = b"\xff\xd8 the same photo"
    digest = hashlib.sha256(data).hexdigest()
    now = time.time()
    orphan = _aged(media / digest[:2] / f"{digest}.png", data, 3600.0, now)

    class NoRedis:
        async def put_media(self, digest: str, data: bytes) -> None:
            return None

    async def fetch() -> bytes:
        return data

    class SweptBeforeTheRow:
        """The store's media table, with a retention pass's sweep run just before the row."""

        def __init__(self, store: Store) -> None:
            self.store = store
            self.swept = -1

        async def put(self, digest: str, kind: str, size: int, mime: str, path: Path) -> None:
            self.swept = (await sweep_orphans(self.store, media, 600.0, time.time())).count
            await self.store.media.put(digest, kind, size, mime, path)

        async def path(self, digest: str) -> Path | None:
            return await self.store.media.path(digest)

    async def go() -> None:
        store = await Store.open(tmp_path / "db.sqlite3", spare_bytes=0)
        try:
            files = SweptBeforeTheRow(store)
            uploads = Uploads(files, NoRedis(), media)  # type: ignore[arg-type]
            event = Media(WHO, "image", len(data), fetch, "p.jpg", "image/jpeg")
            assert await uploads.keep(event, data) == digest
            assert files.swept == 0 and orphan.exists()
            assert await store.media.path(digest) == orphan  # one file: the one there was
            assert list(media.rglob(f"{digest}*")) == [orphan]
        finally:
            await store.close()

    asyncio.run(go())


def test_the_spare_is_real_bytes_without_fallocate_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the OS has no fallocate (macOS) the spare is written: never a sparse file,
    which would free nothing when deleted."""
    monkeypatch.delattr(os, "posix_fallocate")

    async def go() -> None:
        store = await Store.open(tmp_path / "db.sqlite3", spare_bytes=SPARE_BYTES)
        await store.close()

    asyncio.run(go())
    spare = (tmp_path / "db.sqlite3.spare").stat()
    assert spare.st_size == SPARE_BYTES and spare.st_blocks * 512 >= SPARE_BYTES


def test_the_bot_starts_with_its_spare_and_its_settings(tmp_path: Path) -> None:
    """``python -m bot``'s wiring: the spare beside the database, the free-space floor and
    the service's daily budget from the settings."""
    settings = BotSettings.from_env(
        {
            "MOUTHPIECE_DATA_DIR": str(tmp_path / "data"),
            "MOUTHPIECE_MIN_FREE_BYTES": "123",
            "MOUTHPIECE_LIMIT_UPLOAD_BYTES_PER_DAY_TOTAL": "456",
        },
        dotenv=None,
    )

    async def go(url: str) -> None:
        async with chat_service(replace(settings, redis_url=url)) as (svc, store, _):
            assert (tmp_path / "data" / "mouthpiece.sqlite3.spare").stat().st_size == SPARE_BYTES
            assert svc.uploads.min_free_bytes == 123
            assert svc.limits.uploads.total_bytes_per_day == 456

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))
