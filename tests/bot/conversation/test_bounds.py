"""What one person can make the service hold is bounded, and every bound answers in one line:
uploads per hour and bytes per day (checked before the download, counted atomically),
saved voices, and Redis at its maxmemory ("busy, try later", nothing lost).

The service runs over a real SQLite store and a real redis-server (no worker: uploads are
accepted unchecked after the short intake wait, as the design says)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Command, Media, Reply, Who
from bot.conversation.service import Limits, Service
from bot.safety.policy import DAY, HOUR, UploadLimits, UploadUsage, decide_upload
from tests.auxil.redis_server import redis_server

WHO = Who("telegram", "42", "42", name="Ann")


def _photo(data: bytes, fetched: list[int] | None = None, *, size: int | None = None) -> Media:
    async def fetch() -> bytes:
        if fetched is not None:
            fetched.append(len(data))
        return data

    return Media(WHO, "image", len(data) if size is None else size, fetch, "p.jpg", "image/jpeg")


def _texts(actions: list[object]) -> list[str]:
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
