"""What one person, or everyone, can make the service hold is bounded, and every bound
answers in one line: uploads per hour and bytes per day (checked before the download, counted
atomically), the service's bytes per day, saved voices, Redis at its maxmemory ("busy, try
later", nothing lost), and the disk (a free-space floor; a disk that fills while an upload is
written: nothing of it kept, the conversation goes on).

The service runs over a real SQLite store and a real redis-server (no worker: uploads are
accepted unchecked after the short intake wait, as the design says); full disks are small
real tmpfs mounts (tests/auxil/small_disk)."""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Command, Media, Reply, Text, Who
from bot.conversation.service import Limits, Service
from bot.safety.policy import DAY, HOUR, UploadLimits, UploadUsage, decide_upload
from tests.auxil.redis_server import redis_server
from tests.auxil.small_disk import fill, small_disk

WHO = Who("telegram", "42", "42", name="Ann")


def _photo(
    data: bytes,
    fetched: list[int] | None = None,
    *,
    size: int | None = None,
    who: Who = WHO,
) -> Media:
    async def fetch() -> bytes:
        if fetched is not None:
            fetched.append(len(data))
        return data

    return Media(who, "image", len(data) if size is None else size, fetch, "p.jpg", "image/jpeg")


def _texts(actions: Sequence[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Reply)]


async def _service(tmp: Path, url: str, **limits: object) -> tuple[Service, Store, Queue]:
    store = await Store.open(tmp / "db.sqlite3")
    queue = await Queue.connect(url, intake_timeout=0.05)
    return Service(store, queue, tmp / "media", Limits(**limits)), store, queue  # type: ignore[arg-type]


def _run(tmp: Path, body: Callable[[Service, Store], Awaitable[None]], **limits: object) -> None:
    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp, url, **limits)
        try:
            await body(svc, store)
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp) as url:
        asyncio.run(go(url))


def test_uploads_per_hour_are_refused_before_the_download(tmp_path: Path) -> None:
    async def body(svc: Service, store: Store) -> None:
        fetched: list[int] = []
        await svc.handle(Command(WHO, "talk"))
        for i in range(3):
            said = _texts(await svc.handle(_photo(b"\xff\xd8 photo %d" % i, fetched)))
            assert said[0].startswith(texts.GOT_PHOTO), said
        refused = _texts(await svc.handle(_photo(b"\xff\xd8 one more", fetched)))
        assert len(fetched) == 3, "the fourth file was downloaded"
        assert refused == [texts.LIMIT_UPLOADS.format(allowed=3, when="in 1 h 0 min")]
        status = _texts(await svc.handle(Command(WHO, "status")))
        assert "photo" in status[0]  # the draft kept what it had

    _run(tmp_path, body, uploads=UploadLimits(per_hour=3, bytes_per_day=-1))


def test_the_daily_byte_quota_counts_real_bytes(tmp_path: Path) -> None:
    async def body(svc: Service, store: Store) -> None:
        fetched: list[int] = []
        await svc.handle(Command(WHO, "talk"))
        ok = _texts(await svc.handle(_photo(b"\xff" * 600, fetched)))
        assert ok[0].startswith(texts.GOT_PHOTO)
        # declared 100 bytes, but 600 come: counted as 600, over the 1000-byte day
        lied = _texts(await svc.handle(_photo(b"\xfe" * 600, fetched, size=100)))
        assert "over 0 MB of uploads a day" in lied[0] and "Try again in 24 h 0 min" in lied[0]
        # declared over what is left: refused before the download
        big = _texts(await svc.handle(_photo(b"\xfd" * 500, fetched)))
        assert big == lied and fetched == [600, 600]

    _run(tmp_path, body, uploads=UploadLimits(per_hour=-1, bytes_per_day=1000))


def test_a_burst_cannot_overshoot_the_quota(tmp_path: Path) -> None:
    """Ten uploads at once against a limit of four: the count and the insert are one
    transaction, so exactly four are accepted."""

    async def body(svc: Service, store: Store) -> None:
        limits = UploadLimits(per_hour=4, bytes_per_day=-1)
        results = await asyncio.gather(
            *(store.uploads.add("telegram", "7", 10, limits) for _ in range(10)),
            return_exceptions=True,
        )
        assert sum(r is None for r in results) == 4

    _run(tmp_path, body)


def test_upload_decisions() -> None:
    limits = UploadLimits(per_hour=2, bytes_per_day=100)
    now = 1_000_000.0
    assert decide_upload(limits, UploadUsage(), 100) is None
    assert decide_upload(limits, UploadUsage(), 101) is not None  # alone over the day
    two = UploadUsage((now - 100, now - 50), ((now - 100, 10), (now - 50, 10)))
    denial = decide_upload(limits, two, 1)
    assert denial is not None and denial.limit == "uploads"
    assert denial.retry_at == now - 100 + HOUR
    full = UploadUsage((), ((now - 3000, 60), (now - 2000, 30)))
    denial = decide_upload(limits, full, 20)
    assert denial is not None and denial.limit == "upload_bytes"
    assert denial.retry_at == now - 3000 + DAY  # the 60 leave first; then 30 + 20 fit
    assert decide_upload(limits, full, 10) is None
    assert decide_upload(UploadLimits(0, -1), UploadUsage(), 1) is not None  # uploads off


def test_saved_voices_are_capped_and_can_be_deleted(tmp_path: Path) -> None:
    async def body(svc: Service, store: Store) -> None:
        async def voice() -> bytes:
            return b"OggS voice"

        await svc.handle(Command(WHO, "talk"))
        await svc.handle(Media(WHO, "audio", 10, voice, "v.ogg", "audio/ogg", 5.0))
        for name in ("one", "two"):
            saved = _texts(await svc.handle(Command(WHO, "voice", f"save {name}")))
            assert saved == [texts.VOICE_SAVED.format(name=name)]
        full = _texts(await svc.handle(Command(WHO, "voice", "save three")))
        assert full == [texts.VOICES_FULL.format(max=2)]
        again = _texts(await svc.handle(Command(WHO, "voice", "save two")))  # replacing is fine
        assert again == [texts.VOICE_SAVED.format(name="two")]
        gone = _texts(await svc.handle(Command(WHO, "voice", "delete one")))
        assert gone == [texts.VOICE_DELETED.format(name="one")]
        missing = _texts(await svc.handle(Command(WHO, "voice", "delete one")))
        assert missing == [texts.VOICE_NOT_FOUND.format(name="one")]
        assert _texts(await svc.handle(Command(WHO, "voice", "save three"))) == [
            texts.VOICE_SAVED.format(name="three")
        ]
        assert [v.name for v in await store.voices.list("telegram", "42")] == ["three", "two"]

    _run(tmp_path, body, max_saved_voices=2)


def test_redis_at_maxmemory_answers_busy_and_keeps_the_draft(tmp_path: Path) -> None:
    """A real redis-server with maxmemory and noeviction (the compose settings): an upload
    that does not fit is answered "busy, try later"; the draft is unchanged; once memory
    frees up the same upload goes through."""

    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url)
        try:
            await queue.redis.config_set("maxmemory", "3mb")
            await queue.redis.config_set("maxmemory-policy", "noeviction")
            await svc.handle(Command(WHO, "talk"))
            await svc.handle(Command(WHO, "status"))
            ballast = b"\0" * 4_000_000
            busy = _texts(await svc.handle(_photo(b"\xff\xd8" + ballast)))
            assert busy == [texts.BUSY]
            status = _texts(await svc.handle(Command(WHO, "status")))
            assert "still needed: script, voice, photo" in status[0]
            await queue.redis.config_set("maxmemory", "0")
            ok = _texts(await svc.handle(_photo(b"\xff\xd8" + ballast)))
            assert ok[0].startswith(texts.GOT_PHOTO)
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_the_services_daily_upload_budget_counts_everyone(tmp_path: Path) -> None:
    """Everyone's bytes of the last day together, beside each person's own quota: refused
    on the declared size before the download, counted on the real size."""
    other = Who("telegram", "43", "43", name="Bo")

    async def body(svc: Service, store: Store) -> None:
        fetched: list[int] = []
        for who in (WHO, other):
            await svc.handle(Command(who, "talk"))
        ok = _texts(await svc.handle(_photo(b"\xff" * 600, fetched)))
        assert ok[0].startswith(texts.GOT_PHOTO)
        refused = _texts(await svc.handle(_photo(b"\xfe" * 600, fetched, who=other)))
        assert refused == [texts.LIMIT_UPLOAD_BYTES_TOTAL] and fetched == [600]
        # declared small, came big: refused once counted, nothing stored
        lied = _texts(await svc.handle(_photo(b"\xfd" * 600, fetched, size=100, who=other)))
        assert lied == [texts.LIMIT_UPLOAD_BYTES_TOTAL] and fetched == [600, 600]
        assert len(list((tmp_path / "media").rglob("*.jpg"))) == 1
        fits = _texts(await svc.handle(_photo(b"\xfc" * 400, fetched, who=other)))
        assert fits[0].startswith(texts.GOT_PHOTO)  # 600 + 400: the budget, not over it
        usage = await store.uploads.usage("telegram", "43", time.time())
        assert usage.total == 1000

    _run(
        tmp_path,
        body,
        uploads=UploadLimits(per_hour=-1, bytes_per_day=-1, total_bytes_per_day=1000),
    )


def test_the_budget_decision() -> None:
    limits = UploadLimits(per_hour=-1, bytes_per_day=100, total_bytes_per_day=1000)
    assert decide_upload(limits, UploadUsage(total=900), 100) is None
    denial = decide_upload(limits, UploadUsage(total=901), 100)
    assert denial is not None and denial.limit == "upload_bytes_total"
    assert denial.retry_at is None  # tomorrow
    # the person's own quota speaks first (it says when they may try again)
    mine = decide_upload(limits, UploadUsage(sizes=((1.0, 50),), total=1000), 60)
    assert mine is not None and mine.limit == "upload_bytes"
    assert decide_upload(UploadLimits(-1, -1, -1), UploadUsage(total=10**15), 1) is None


def test_a_disk_below_the_floor_refuses_uploads_before_the_download(tmp_path: Path) -> None:
    async def body(svc: Service, store: Store) -> None:
        fetched: list[int] = []
        await svc.handle(Command(WHO, "talk"))
        refused = _texts(await svc.handle(_photo(b"\xff\xd8 photo", fetched)))
        assert refused == [texts.DISK_FULL] and fetched == []
        assert not (tmp_path / "media").exists()
        assert (await store.uploads.usage("telegram", "42", 0.0)).sizes == ()  # not counted
        # the conversation goes on: a script is no file
        said = _texts(await svc.handle(Text(WHO, "Hello there, this is my script.")))
        assert said[0].startswith("Script received")

    _run(tmp_path, body, min_free_bytes=1 << 62)


def test_the_floor_is_checked_again_on_the_bytes_that_came(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Declared 10 bytes, 600 came: the write is refused, nothing kept."""
    monkeypatch.setattr("bot.jobs.media.free_bytes", lambda folder: 10_000)

    async def body(svc: Service, store: Store) -> None:
        await svc.handle(Command(WHO, "talk"))
        refused = _texts(await svc.handle(_photo(b"\xff" * 600, size=10)))
        assert refused == [texts.DISK_FULL]
        assert [p for p in (tmp_path / "media").rglob("*") if p.is_file()] == []
        assert await store.database.one("SELECT 1 FROM media") is None
        ok = _texts(await svc.handle(_photo(b"\xff" * 400)))
        assert ok[0].startswith(texts.GOT_PHOTO)

    _run(tmp_path, body, min_free_bytes=9_500)


def _no_half_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file() and p.name != "filler"]


def test_a_disk_full_while_the_upload_is_written_keeps_nothing(tmp_path: Path) -> None:
    """A real full disk (a 1 MB tmpfs holds the uploads, no floor set): the write fails
    with ENOSPC, the person reads one line, no half-written file stays, and the next upload
    that fits goes through."""
    media = tmp_path / "media"

    async def body(svc: Service, store: Store) -> None:
        await svc.handle(Command(WHO, "talk"))
        refused = _texts(await svc.handle(_photo(b"\xff\xd8" + os.urandom(2_000_000))))
        assert refused == [texts.DISK_FULL]
        assert _no_half_files(media) == []
        assert await store.database.one("SELECT 1 FROM media") is None
        ok = _texts(await svc.handle(_photo(b"\xff\xd8 a small photo")))
        assert ok[0].startswith(texts.GOT_PHOTO)
        assert len(_no_half_files(media)) == 1

    with small_disk(media, 1):
        _run(tmp_path, body)


def test_enospc_at_the_rename_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same without a tmpfs: ENOSPC injected at the one OS call that finishes a write."""
    real = os.replace

    def full(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    async def body(svc: Service, store: Store) -> None:
        await svc.handle(Command(WHO, "talk"))
        monkeypatch.setattr("bot.jobs.media.os.replace", full)
        refused = _texts(await svc.handle(_photo(b"\xff\xd8 photo")))
        assert refused == [texts.DISK_FULL]
        assert _no_half_files(tmp_path / "media") == []
        monkeypatch.setattr("bot.jobs.media.os.replace", real)
        ok = _texts(await svc.handle(_photo(b"\xff\xd8 photo")))
        assert ok[0].startswith(texts.GOT_PHOTO)

    _run(tmp_path, body)


def test_a_database_full_at_the_uploads_row_keeps_no_file(tmp_path: Path) -> None:
    """The file is written (its disk has room) but the database's disk fills before its
    row: the file goes too (no file without a row), the person reads one line, and the same
    upload goes through once there is room."""
    media = tmp_path / "media"

    async def go(url: str, data: Path) -> None:
        store = await Store.open(data / "db.sqlite3", spare_bytes=0)
        queue = await Queue.connect(url, intake_timeout=0.05)
        svc = Service(store, queue, media, Limits())
        counted = store.uploads.add
        filler: list[Path] = []

        async def add_then_fill(*args: object, **kwargs: object) -> None:
            await counted(*args, **kwargs)  # type: ignore[arg-type]
            filler.append(fill(data))

        try:
            await svc.handle(Command(WHO, "talk"))
            store.uploads.add = add_then_fill  # type: ignore[method-assign]
            refused = _texts(await svc.handle(_photo(b"\xff\xd8 photo")))
            assert refused == [texts.DISK_FULL] and filler
            assert _no_half_files(media) == []
            store.uploads.add = counted  # type: ignore[method-assign]
            filler[0].unlink()
            ok = _texts(await svc.handle(_photo(b"\xff\xd8 photo")))
            assert ok[0].startswith(texts.GOT_PHOTO)
            assert await store.media.path(_no_half_files(media)[0].stem) is not None
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url, small_disk(tmp_path / "data", 2) as data:
        asyncio.run(go(url, data))
