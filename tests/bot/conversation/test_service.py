"""Service over a real SQLite store and a real Redis queue (no worker: intake checks time out
and uploads are accepted unchecked, as the design says): limits, saved voices, last photo."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Button, Command, Media, Reply, Text, Who
from bot.contract.jobs import RENDER_QUEUE
from bot.conversation.service import Limits, Service
from spoken_text import spoken
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


def _texts(actions: Sequence[object]) -> list[str]:
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


#: 994 characters typed, under the default limit of 1,000, but about 10,800 spoken: every
#: "7777777" is read as "seven million seven hundred and seventy-seven thousand seven ..."
DIGITS = ("7777777 " * 125)[:994]


def test_a_script_of_digits_is_limited_by_what_is_spoken(tmp_path: Path) -> None:
    """The script limit counts the script as the voice will say it: 994 typed digits are
    refused with the reason (numbers are spoken as words, how long that is) and nothing is
    queued; the same draft with an ordinary script is queued."""
    said = spoken(DIGITS)
    assert len(DIGITS) == 994 and len(said) > 10_000

    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url)  # the default limits
        for event in (
            Command(WHO, "talk"),
            _media("audio", b"OggS fake voice", "v.ogg", duration=5.0),
            _media("image", b"\xff\xd8 fake jpeg", "p.jpg"),
            Button(WHO, "skip_transcript"),
            Button(WHO, "consent"),
        ):
            await svc.handle(event)
        refused = _texts(await svc.handle(Text(WHO, DIGITS)))
        assert refused == [
            texts.SCRIPT_SPOKEN_TOO_LONG.format(
                chars=994, spoken=len(said), seconds=len(said) / 15, limit=1000
            )
        ]
        assert "spoken as words" in refused[0] and f"{len(said)} characters" in refused[0]
        after = _texts(await svc.handle(Button(WHO, "render")))
        assert not any(t.startswith("Queued as job") for t in after)
        assert await store.jobs.recent(WHO.platform, WHO.user_id) == []
        assert await queue.redis.zcard(RENDER_QUEUE) == 0
        # the control: the harness sees a job when one is queued
        await svc.handle(Text(WHO, "Hello there, this is my script."))
        await svc.handle(Button(WHO, "consent"))
        queued = _texts(await svc.handle(Button(WHO, "render")))
        assert any(t.startswith("Queued as job") for t in queued), queued
        assert len(await store.jobs.recent(WHO.platform, WHO.user_id)) == 1
        assert await queue.redis.zcard(RENDER_QUEUE) == 1
        await queue.close()
        await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_a_long_script_file_is_refused_before_it_is_normalised(tmp_path: Path) -> None:
    """Normalising costs more than the length on hostile text (a run of digits is rescanned
    from each digit: about 50 ms for 1,000 characters, minutes for 100,000): the typed limit
    is checked first, so a 100 kB .txt of digits is refused at once."""
    hostile = "7" * 99_999 + "x"

    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url)
        await svc.handle(Command(WHO, "talk"))
        started = time.monotonic()
        refused = await svc.handle(_media("text", hostile.encode(), "script.txt"))
        assert time.monotonic() - started < 10
        assert _texts(refused) == [texts.SCRIPT_TOO_LONG.format(chars=100_000, limit=1000)]
        await queue.close()
        await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_speech_seconds_count_the_script_as_spoken(tmp_path: Path) -> None:
    """A short script of numbers fits as typed (23 characters, 1.5 s) but not as spoken:
    refused for its spoken seconds, saying why; the reply to a script gives spoken seconds."""
    numbers = "1234567 1234567 1234567"
    seconds = len(spoken(numbers)) / 15
    assert seconds > 10 > len(numbers) / 15

    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url, max_script_seconds=10.0)
        await svc.handle(Command(WHO, "talk"))
        slow = _texts(await svc.handle(Text(WHO, numbers)))
        assert slow == [texts.SCRIPT_SPOKEN_TOO_SLOW.format(chars=23, seconds=seconds, limit=10.0)]
        ok = _texts(await svc.handle(Text(WHO, "1234567")))
        english = texts.SCRIPT_LANGUAGE_DETECTED.format(name="English")
        assert ok[0] == texts.GOT_SCRIPT.format(chars=7, seconds=77 / 15, language=english)
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
