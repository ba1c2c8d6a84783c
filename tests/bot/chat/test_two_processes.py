"""Two chat processes at once, as a split deployment runs them: ``run_bot`` twice, Discord
shard 0 and shard 1 of 2, each with its own service, store connection (one PostgreSQL
database) and Redis client, its own reports follower, reconciler and held-batch pass; one
worker renders and delivers. One person with a limit of one video at a time presses Render in
a server on each shard at the same moment: one is queued, the other refused, never both; and
every video is delivered once, each job's reports applied once, nothing re-queued twice."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.chat.store import Store
from bot.contract import texts
from bot.settings import BotSettings
from engine import Engine, EngineSettings
from tests.auxil.discord_server import APP_ID, DiscordStandIn, Req, shard_of
from tests.auxil.postgres_server import fresh_database, postgres_admin_url
from tests.auxil.redis_server import redis_server
from tests.auxil.system import CAN_POST, bot_process, engine_workers, guild_interaction, member

pytestmark = pytest.mark.slow  # tens of seconds

__all__ = ["postgres_admin_url"]  # the fixture

PERSON = "4242"
#: two servers (and a channel in each) whose events Discord sends to shard 0 and shard 1 of 2
PLACES = {
    str(1_000_000_000 << 22): "9100",
    str(1_000_000_001 << 22): "9200",
}
CONCURRENT_REFUSAL = texts.LIMIT_CONCURRENT.split("{")[0]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine(EngineSettings(cache_dir=tmp_path_factory.mktemp("engine-cache")))


def _attachment(dc: DiscordStandIn, aid: str, name: str, data: bytes, ctype: str) -> dict[str, Any]:
    dc.attachments[name] = data
    url = f"{dc.url}/att/{name}"
    return {"id": aid, "filename": name, "size": len(data), "url": url, "proxy_url": url,
            "content_type": ctype}  # fmt: skip


def _answers(dc: DiscordStandIn, token: str) -> list[dict[str, Any]]:
    """What the bot sent for the interaction with ``token``: its follow-ups."""
    prefix = f"/webhooks/{APP_ID}/{token}"
    return [r.json or {} for r in dc.followups() if r.path.startswith(prefix)]


def _button(dc: DiscordStandIn, token: str, action: str) -> tuple[str, dict[str, Any]] | None:
    """The button whose custom id names ``action``, in an answer to ``token``; with its message."""
    for answer in _answers(dc, token):
        for row in answer.get("components", []):
            for c in row.get("components", []):
                if f":{action}:" in c.get("custom_id", ""):
                    return c["custom_id"], dc.message("0", answer)
    return None


async def _press(dc: DiscordStandIn, guild: str, token: str, action: str) -> str:
    """Press the ``action`` button the bot sent for ``token`` in ``guild``; the press's token."""
    await dc.wait_for(lambda: _button(dc, token, action) is not None, timeout=90)
    found = _button(dc, token, action)
    assert found is not None
    custom_id, message = found
    data = {"custom_id": custom_id, "component_type": 2}
    press = guild_interaction(
        3, data, member(PERSON, CAN_POST), guild=guild, in_channel=PLACES[guild], message=message
    )
    await dc.dispatch("INTERACTION_CREATE", press)
    return str(press["token"])


async def _ready_to_render(dc: DiscordStandIn, guild: str, voice: bytes, photo: bytes) -> str:
    """/talk with the script and both files in ``guild``, consent given: the token whose
    answer carries the Render button."""
    n = len(dc.attachments)
    resolved = {
        "attachments": {
            f"{n + 1}": _attachment(dc, f"{n + 1}", f"v{n}.ogg", voice, "audio/ogg"),
            f"{n + 2}": _attachment(dc, f"{n + 2}", f"p{n}.jpg", photo, "image/jpeg"),
        }
    }
    data = {
        "id": "77",
        "name": "talk",
        "type": 1,
        "resolved": resolved,
        "options": [
            {"name": "script", "type": 3, "value": "Hello from two processes at once."},
            {"name": "voice", "type": 11, "value": f"{n + 1}"},
            {"name": "photo", "type": 11, "value": f"{n + 2}"},
        ],
    }
    talk = guild_interaction(
        2, data, member(PERSON, CAN_POST), guild=guild, in_channel=PLACES[guild]
    )
    await dc.dispatch("INTERACTION_CREATE", talk)
    return await _press(dc, guild, str(talk["token"]), "consent")


def _said(dc: DiscordStandIn, token: str) -> str:
    return "\n".join(a.get("content", "") for a in _answers(dc, token))


def _videos(dc: DiscordStandIn) -> list[Req]:
    return [p for channel in PLACES.values() for p in dc.channel_posts(channel) if p.files]


def test_two_chat_processes_hold_a_limit_and_deliver_each_video_once(
    tmp_path: Path,
    engine: Engine,
    postgres_admin_url: str,
    sample_voice: Path,
    sample_photo: Path,
) -> None:
    assert sorted(shard_of(g, 2) for g in PLACES) == [0, 1]
    database = fresh_database(postgres_admin_url)
    voice, photo = sample_voice.read_bytes(), sample_photo.read_bytes()

    async def go(url: str) -> None:
        dc = DiscordStandIn()
        dc.shards = 2
        await dc.start()
        common = BotSettings(
            discord_bot_token="TEST",
            discord_api_base_url=dc.api,
            discord_shard_count=2,
            redis_url=url,
            database_url=database,
            data_dir=tmp_path / "data",  # one box: the worker reads the bots' uploads
            shared_media=True,
            limit_user_concurrent=1,
            reconcile_seconds=0.5,
            batch_resume_seconds=0.5,
            bot_metrics_port=0,
            status_edit_seconds=0.3,
        )
        first, second = (replace(common, discord_shard_ids=i) for i in ("0", "1"))
        try:
            async with (
                bot_process(first, telegram=False, discord=True) as one,
                bot_process(second, telegram=False, discord=True) as two,
                engine_workers(common, engine),
            ):
                await dc.wait_for(lambda: dc.connected_shards() == [0, 1], timeout=60)
                await _race_then_deliver_once(dc, voice, photo)
                assert not one.done() and not two.done()
        finally:
            await dc.stop()
        store = await Store.open(database)
        try:
            rows = await store.database.conn.execute("SELECT status FROM jobs ORDER BY created")
            assert [r[0] for r in await rows.fetchall()] == ["done", "done"]
        finally:
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


async def _race_then_deliver_once(dc: DiscordStandIn, voice: bytes, photo: bytes) -> None:
    (guild_a, _), (guild_b, _) = PLACES.items()
    ready = await asyncio.gather(
        _ready_to_render(dc, guild_a, voice, photo), _ready_to_render(dc, guild_b, voice, photo)
    )
    # Render in both servers at the same moment: one process each (shard 0, shard 1)
    presses = await asyncio.gather(
        _press(dc, guild_a, ready[0], "render"), _press(dc, guild_b, ready[1], "render")
    )
    for token in presses:
        await dc.wait_for(lambda t=token: _said(dc, t), timeout=60)
    answers = [_said(dc, t) for t in presses]
    queued = [a for a in answers if a.startswith("Queued as job")]
    refused = [a for a in answers if a.startswith(CONCURRENT_REFUSAL)]
    assert (len(queued), len(refused)) == (1, 1), answers  # the limit of one held
    await dc.wait_for(lambda: len(_videos(dc)) == 1, timeout=120)
    # the refused one again, once the first has finished: now it goes through
    waiting = presses[answers.index(refused[0])]
    guild = next(g for g, t in zip(PLACES, presses, strict=True) if t == waiting)
    again = await _press(dc, guild, ready[presses.index(waiting)], "render")
    await dc.wait_for(lambda: _said(dc, again).startswith("Queued as job"), timeout=60)
    await dc.wait_for(lambda: len(_videos(dc)) == 2, timeout=120)
    await asyncio.sleep(2.0)  # reconcile passes in both processes: nothing is sent again
    videos = _videos(dc)
    assert len(videos) == 2 and len({v.json["nonce"] for v in videos}) == 2
    assert {p.path.split("/")[2] for p in videos} == set(PLACES.values())  # one per server
