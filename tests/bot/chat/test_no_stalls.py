"""No head-of-line blocking: one person's slow upload never delays another person's reply,
and a person's own messages keep their order.

Telegram: the real python-telegram-bot against the Bot API stand-in, a real redis-server and
SQLite, and **no worker**: every upload waits its whole intake timeout for a check that never
comes (the worst case the issue describes). Discord: the real discord.py against its REST
stand-in; attachments are checked as declared before any byte is downloaded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from telegram import Update

from bot.chat.adapters.discord import MouthpieceClient
from bot.chat.adapters.telegram import PersonLanes
from bot.contract import texts
from bot.lanes import Lanes
from tests.auxil.discord_server import APP_ID, DiscordStandIn, user
from tests.auxil.system import discord_system, telegram_system
from tests.auxil.telegram_server import TelegramStandIn

ADA, BEN = 501, 502
CHECK_WAIT = 6.0  # seconds each upload waits for its (absent) worker


@asynccontextmanager
async def telegram(tmp: Path, *, concurrent: bool = True) -> AsyncIterator[TelegramStandIn]:
    """The bot process alone (no worker) against the stand-in."""
    settings = {"intake_timeout_seconds": CHECK_WAIT}
    async with telegram_system(tmp, concurrent=concurrent, **settings) as (tg, _, _):
        yield tg


def test_a_slow_upload_never_delays_another_persons_reply(tmp_path: Path) -> None:
    """Ada sends two photos and then her script; while her photos wait for their checks,
    Ben's /talk is answered at once. Ada's replies come in the order she wrote."""

    async def go() -> None:
        async with telegram(tmp_path) as tg:
            tg.send_text(ADA, "/talk")
            await tg.wait_for(lambda: len(tg.texts(ADA)) >= 1)
            tg.send_photo(ADA, b"\xff\xd8 first photo")
            tg.send_photo(ADA, b"\xff\xd8 second photo")
            tg.send_text(ADA, "Hello, this is my script.")
            await asyncio.sleep(0.5)  # Ada's first photo is now waiting for its check
            asked = time.monotonic()
            tg.send_text(BEN, "/talk")
            await tg.wait_for(lambda: len(tg.texts(BEN)) >= 1, timeout=3 * CHECK_WAIT)
            waited = time.monotonic() - asked
            assert tg.texts(BEN) == [texts.START]
            assert waited < 5.0, f"Ben waited {waited:.1f} s behind Ada's uploads"
            assert len(tg.texts(ADA)) == 1, "Ada's later messages overtook her uploads"

            await tg.wait_for(
                lambda: any(t.startswith("Script received") for t in tg.texts(ADA)),
                timeout=4 * CHECK_WAIT,
            )
            said = tg.texts(ADA)
            photos = [i for i, t in enumerate(said) if t.startswith(texts.GOT_PHOTO)]
            script = next(i for i, t in enumerate(said) if t.startswith("Script received"))
            assert len(photos) == 2 and photos[-1] < script, said

    asyncio.run(go())


def test_one_at_a_time_was_the_stall(tmp_path: Path) -> None:
    """The same scene with updates handled one at a time (the old behaviour): Ben waits for
    Ada's checks. This is what the test above guards against."""

    async def go() -> None:
        async with telegram(tmp_path, concurrent=False) as tg:
            tg.send_photo(ADA, b"\xff\xd8 a photo")
            await asyncio.sleep(0.5)
            asked = time.monotonic()
            tg.send_text(BEN, "/talk")
            await tg.wait_for(lambda: len(tg.texts(BEN)) >= 1, timeout=3 * CHECK_WAIT)
            assert time.monotonic() - asked > CHECK_WAIT - 1.0

    asyncio.run(go())


def _update(user_id: int, n: int) -> Update:
    message = {
        "message_id": n,
        "date": 0,
        "chat": {"id": user_id, "type": "private"},
        "from": {"id": user_id, "is_bot": False, "first_name": "A"},
        "text": f"message {n}",
    }
    update = Update.de_json({"update_id": n, "message": message}, None)
    assert update is not None
    return update


def test_lanes_keep_each_persons_order_and_bound_a_flood() -> None:
    """PersonLanes: a person's updates run one at a time in order; others run alongside;
    a person over ``per_person`` pending updates has the rest dropped, not queued."""

    async def go() -> None:
        processor = PersonLanes(per_person=3)
        gate = asyncio.Event()
        ran: list[tuple[int, int]] = []

        async def work(user: int, n: int) -> None:
            ran.append((user, n))
            if user == ADA:
                await gate.wait()

        tasks = [
            asyncio.create_task(processor.process_update(_update(ADA, n), work(ADA, n)))
            for n in range(1, 6)
        ]
        await asyncio.sleep(0.05)
        await processor.process_update(_update(BEN, 9), work(BEN, 9))  # not behind Ada
        assert ran == [(ADA, 1), (BEN, 9)]
        gate.set()
        await asyncio.gather(*tasks)
        assert ran == [(ADA, 1), (BEN, 9), (ADA, 2), (ADA, 3)]  # 4 and 5 were over the cap
        assert len(processor.lanes) == 0  # idle people cost nothing

    asyncio.run(go())


def test_lanes_are_fifo_per_key() -> None:
    async def go() -> None:
        lanes, order = Lanes(), []

        async def one(key: str, n: int) -> None:
            async with lanes.hold(key):
                await asyncio.sleep(0.01 * (5 - n))  # later ones would finish first if free
                order.append((key, n))

        await asyncio.gather(*(one("a", n) for n in range(5)), *(one("b", n) for n in range(2)))
        assert [n for k, n in order if k == "a"] == list(range(5))
        assert order.index(("b", 0)) < order.index(("a", 1))  # b did not wait behind a

    asyncio.run(go())


# ---- Discord ---------------------------------------------------------------------------------
class _Attachments(DiscordStandIn):
    """Records every attachment download; can stream a file without a Content-Length."""

    def __init__(self) -> None:
        super().__init__()
        self.downloads: list[str] = []
        self.streamed: dict[str, int] = {}  # name -> bytes to stream (chunked, no length)
        self.sent: dict[str, int] = {}  # name -> bytes written before the reader hung up

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.downloads.append(name)
        if name not in self.streamed:
            return await super()._attachment(request)
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = b"\0" * (1 << 16)
        sent = 0
        try:
            while sent < self.streamed[name]:
                await resp.write(chunk)
                sent += len(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the bot hung up at its cap
        self.sent[name] = sent
        return resp


def _interaction(data: dict[str, Any], who: str, n: int) -> dict[str, Any]:
    return {
        "id": str(7000 + n),
        "application_id": APP_ID,
        "type": 2,
        "token": f"tok{n}",
        "version": 1,
        "channel_id": "900",
        "channel": {"id": "900", "type": 1},
        "user": user(who),
        "attachment_size_limit": 25 * 1024 * 1024,
        "locale": "en-US",
        "data": data,
    }


def _talk(dc: DiscordStandIn, name: str, size: int, ctype: str, n: int) -> dict[str, Any]:
    attachment = {
        "id": str(100 + n),
        "filename": name,
        "size": size,
        "url": f"{dc.url}/att/{name}",
        "proxy_url": f"{dc.url}/att/{name}",
        "content_type": ctype,
    }
    return _interaction(
        {
            "id": "77",
            "name": "talk",
            "type": 1,
            "resolved": {"attachments": {attachment["id"]: attachment}},
            "options": [
                {"name": "script", "type": 3, "value": "Hello there."},
                {"name": "voice", "type": 11, "value": attachment["id"]},
            ],
        },
        str(40 + n),
        n,
    )


def test_discord_defers_first_and_downloads_only_what_passes(tmp_path: Path) -> None:
    async def go() -> None:
        async with discord_system(
            tmp_path, stand_in=_Attachments(), intake_timeout_seconds=0.5
        ) as (dc, client, _, _):
            await _discord_cases(dc, client)  # type: ignore[arg-type]

    asyncio.run(go())


async def _discord_cases(dc: _Attachments, client: MouthpieceClient) -> None:
    def answer(n: int) -> str:
        token = f"tok{n}"
        posts = [r for r in dc.followups() if token in r.path]
        return str((posts[-1].json or {}).get("content", "")) if posts else ""

    cases = [
        ("big.ogg", 25_000_000, "audio/ogg", b"", "limit is 20 MB"),
        ("talk.pdf", 1000, "application/pdf", b"%PDF", texts.BAD_FILE_TYPE),
        ("fine.ogg", 2000, "audio/ogg", b"OggS" + bytes(1996), "Voice note received"),
    ]
    for n, (name, size, ctype, data, _) in enumerate(cases):
        dc.attachments[name] = data
        client._connection.parse_interaction_create(_talk(dc, name, size, ctype, n))  # type: ignore[arg-type]
    for n, (_, _, _, _, said) in enumerate(cases):
        await dc.wait_for(lambda n=n, said=said: said in answer(n), timeout=20)
    assert dc.downloads == ["fine.ogg"], "only the attachment that passed was downloaded"
    first = [r for r in dc.requests if r.path.endswith("/callback")]
    assert first and all(r.json["type"] == 5 for r in first)  # deferred, never timed out

    # A declared size that lies: the download stops at the cap, nothing is kept.
    # (far more than the cap: the loopback socket buffers hold several MB the client never reads)
    dc.streamed["liar.ogg"] = 200_000_000
    dc.attachments["liar.ogg"] = b""
    client._connection.parse_interaction_create(_talk(dc, "liar.ogg", 1000, "audio/ogg", 9))  # type: ignore[arg-type]
    await dc.wait_for(lambda: "limit is 20 MB" in answer(9), timeout=20)
    await dc.wait_for(lambda: "liar.ogg" in dc.sent, timeout=20)
    assert dc.sent["liar.ogg"] < 60_000_000, "the download went on past the cap"


def test_capped_read_refuses_a_long_stream() -> None:
    """The Discord download helper alone: Content-Length over the cap, or a stream without
    one that goes past it, both stop with MediaTooLarge."""
    from bot.chat.adapters.discord import _read_capped
    from bot.contract.errors import MediaTooLarge

    async def go() -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            if request.path == "/long":
                return web.Response(body=b"x" * 5000)
            resp = web.StreamResponse()
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            try:
                for _ in range(100):
                    await resp.write(b"y" * 1000)
            except (ConnectionError, RuntimeError):
                pass
            return resp

        app = web.Application()
        app.router.add_get("/{any}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        import aiohttp

        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{port}"
            with pytest.raises(MediaTooLarge):
                await _read_capped(session, f"{base}/long", 4000)
            with pytest.raises(MediaTooLarge) as e:
                await _read_capped(session, f"{base}/stream", 4000)
            assert 4000 < e.value.size < 100_000
            assert await _read_capped(session, f"{base}/long", 5000) == b"x" * 5000
        await runner.cleanup()

    asyncio.run(go())
