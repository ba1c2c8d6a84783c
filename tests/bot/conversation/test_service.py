"""Service over a real SQLite store and a real Redis queue (no worker: intake checks time out
and uploads are accepted unchecked, as the design says): limits, saved voices, last photo."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Button, Command, Media, Reply, Text, Who
from bot.conversation.service import Limits, Service
from tests.auxil.redis_server import redis_server

WHO = Who("telegram", "42", "42", name="Ann")


def _media(kind: str, data: bytes, name: str, duration: float | None = None) -> Media:
    async def fetch() -> bytes:
        return data

    return Media(WHO, kind, len(data), fetch, name, "", duration)


async def _service(tmp: Path, url: str, **limits: object) -> tuple[Service, Store, Queue]:
    store = await Store.open(tmp / "db.sqlite3")
    queue = await Queue.connect(url, intake_timeout=0.3)
    return Service(store, queue, tmp / "media", Limits(**limits)), store, queue  # type: ignore[arg-type]


def _texts(actions: list[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Reply)]


def test_script_limits_give_reasons(tmp_path: Path) -> None:
    async def go(url: str) -> None:
        svc, store, queue = await _service(
            tmp_path, url, max_script_chars=50, max_script_seconds=2.0
        )
        await svc.handle(Command(WHO, "talk"))
        long = await svc.handle(Text(WHO, "word " * 20))
        assert _texts(long) == [texts.SCRIPT_TOO_LONG.format(chars=99, limit=50)]
        slow = await svc.handle(Text(WHO, "a" * 40))
        assert "limit is 2 s" in _texts(slow)[0]
        ok = await svc.handle(Text(WHO, "Hi there."))
        assert _texts(ok)[0].startswith("Script received")
        await queue.close()
        await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_saved_voice_and_last_photo_are_offered_and_reused(tmp_path: Path) -> None:
    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url)
        await svc.handle(Command(WHO, "talk"))
        await svc.handle(_media("audio", b"OggS fake voice", "v.ogg", duration=5.0))
        await svc.handle(_media("image", b"\xff\xd8 fake jpeg", "p.jpg"))
        saved = await svc.handle(Command(WHO, "voice", "save Ann1"))
        assert _texts(saved) == [texts.VOICE_SAVED.format(name="Ann1")]
        listed = await svc.handle(Command(WHO, "voices"))
        assert isinstance(listed[0], Reply) and [b.value for b in listed[0].buttons] == ["Ann1"]
        await svc.handle(Command(WHO, "cancel"))
        start = await svc.handle(Command(WHO, "talk"))
        offered = {(b.action, b.value) for a in start if isinstance(a, Reply) for b in a.buttons}
        assert {("use_voice", "Ann1"), ("last_photo", "")} <= offered
        await svc.handle(Button(WHO, "use_voice", "Ann1"))
        await svc.handle(Button(WHO, "last_photo"))
        status = await svc.handle(Command(WHO, "status"))
        assert "still needed: script" in _texts(status)[0]
        bad = await svc.handle(Command(WHO, "voice", "save"))
        assert _texts(bad) == [texts.VOICE_SAVE_USAGE]
        await queue.close()
        await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))
