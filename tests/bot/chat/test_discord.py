"""Discord: the real discord.py (gateway websocket, command tree, dynamic buttons, webhooks)
started by ``run_discord`` against a stand-in REST API and gateway on 127.0.0.1, with a real
redis-server and real arq workers delivering to the channel. Slash commands and button presses
arrive as ``INTERACTION_CREATE`` over the gateway, as from Discord."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.chat.adapters.discord import gateway_url
from bot.contract import texts
from bot.settings import BotSettings
from bot.worker.delivery.discord import DiscordDelivery
from engine import Engine, EngineSettings, InvalidInput, RenderRequest
from engine.media.video import probe
from tests.auxil.discord_server import APP_ID, DiscordStandIn, Req, user
from tests.auxil.redis_server import redis_server
from tests.auxil.system import chat_service, discord_front_end, engine_workers, ready_draft

CHANNEL, REQUESTER, OTHER = "900", "42", "43"
_ids = itertools.count(1000)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(EngineSettings())


def _interaction(kind: int, data: dict[str, Any], who: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(next(_ids)),
        "application_id": APP_ID,
        "type": kind,
        "token": f"tok{next(_ids)}",
        "version": 1,
        "channel_id": CHANNEL,
        "channel": {"id": CHANNEL, "type": 1},
        "user": user(who),
        "attachment_size_limit": 10 * 1024 * 1024,
        "locale": "en-US",
        "data": data,
        **extra,
    }


def _attachment(dc: DiscordStandIn, aid: str, name: str, data: bytes, ctype: str) -> dict[str, Any]:
    dc.attachments[name] = data
    url = f"{dc.url}/att/{name}"
    return {
        "id": aid,
        "filename": name,
        "size": len(data),
        "url": url,
        "proxy_url": url,
        "content_type": ctype,
    }


@asynccontextmanager
async def system(tmp: Path, engine: Engine) -> AsyncIterator[DiscordStandIn]:
    dc = DiscordStandIn()
    await dc.start()
    with redis_server(tmp) as url:
        settings = BotSettings(
            discord_bot_token="TEST",
            discord_api_base_url=dc.api,  # the gateway comes from its /gateway/bot
            redis_url=url,
            data_dir=tmp / "data",
            status_edit_seconds=0.3,
        )
        try:
            async with (
                engine_workers(settings, engine),
                chat_service(settings) as (service, _, _),
                discord_front_end(dc, settings, service.handle),
            ):
                yield dc
        finally:
            await dc.stop()


async def _press(dc: DiscordStandIn, custom_id: str, who: str) -> None:
    data = {"custom_id": custom_id, "component_type": 2}
    message = dc.component_message(custom_id)
    await dc.dispatch("INTERACTION_CREATE", _interaction(3, data, who, message=message))


def test_talk_command_to_video_in_channel(
    tmp_path: Path, engine: Engine, sample_voice: Path, sample_photo: Path
) -> None:
    async def go() -> None:
        async with system(tmp_path, engine) as dc:
            assert any(r.path == "/gateway/bot" for r in dc.requests)  # where to connect
            identify = next(op["d"] for op in dc.gateway_ops if op["op"] == 2)
            assert identify["token"] == "TEST"
            assert dc.compress in ("zlib-stream", "zstd-stream")  # compressed, as Discord's
            sync = next(r for r in dc.requests if r.path.endswith(f"{APP_ID}/commands"))
            assert "talk" in {c["name"] for c in sync.json}
            resolved = {
                "attachments": {
                    "101": _attachment(
                        dc, "101", "voice.ogg", sample_voice.read_bytes(), "audio/ogg"
                    ),
                    "102": _attachment(
                        dc, "102", "me.jpg", sample_photo.read_bytes(), "image/jpeg"
                    ),
                }
            }
            data = {
                "id": "77",
                "name": "talk",
                "type": 1,
                "resolved": resolved,
                "options": [
                    {"name": "script", "type": 3, "value": "Hello from Discord, this is a test."},
                    {"name": "voice", "type": 11, "value": "101"},
                    {"name": "photo", "type": 11, "value": "102"},
                ],
            }
            await dc.dispatch("INTERACTION_CREATE", _interaction(2, data, REQUESTER))
            await dc.wait_for(lambda: len(dc.callbacks()) >= 1)
            assert dc.callbacks()[0].json["type"] == 5  # deferred at once, before downloads
            consent = f"mp:{REQUESTER}:consent:"
            await dc.wait_for(lambda: consent in dc.custom_ids(), timeout=60)

            await _press(dc, consent, OTHER)  # somebody else's press is refused
            await dc.wait_for(lambda: any((c.json or {}).get("type") == 4 for c in dc.callbacks()))
            refusal = next(c.json for c in dc.callbacks() if c.json.get("type") == 4)
            assert refusal["data"]["flags"] & 64 and "Only the person" in refusal["data"]["content"]

            await _press(dc, consent, REQUESTER)
            render = f"mp:{REQUESTER}:render:"
            await dc.wait_for(lambda: render in dc.custom_ids())
            await _press(dc, render, REQUESTER)

            def videos() -> list[Req]:
                return [p for p in dc.channel_posts(CHANNEL) if p.files]

            await dc.wait_for(lambda: len(videos()) >= 1, timeout=120)
            post = videos()[0]
            out = tmp_path / "got.mp4"
            out.write_bytes(post.files["files[0]"])
            assert probe(out).video_codec == "h264" and out.stat().st_size <= 10 * 1024 * 1024
            assert post.json["enforce_nonce"] is True and len(post.json["nonce"]) <= 25
            # the live status message: posted by the worker with a Cancel button for the
            # requester, then edited to its final state without buttons
            status = dc.channel_posts(CHANNEL)[0]
            cancel = status.json["components"][0]["components"][0]["custom_id"]
            assert cancel.startswith(f"mp:{REQUESTER}:cancel_job:")
            edits = lambda: [r for r in dc.requests if r.method == "PATCH"]  # noqa: E731
            await dc.wait_for(
                lambda: any("done" in (r.json or {}).get("content", "") for r in edits())
            )
            assert edits()[-1].json["components"] == []
            assert len(videos()) == 1
            assert dc.heartbeats >= 2  # heartbeats were acknowledged all along

    asyncio.run(go())


def test_gateway_url_setting_is_used_as_is(tmp_path: Path) -> None:
    """DISCORD_GATEWAY_URL wins: with the shard count given too (nothing else to ask), no
    /gateway/bot lookup, the websocket opens there."""

    async def handle(event: Any) -> list[Any]:
        return []

    async def go() -> None:
        dc = DiscordStandIn()
        await dc.start()
        settings = BotSettings(
            discord_bot_token="TEST",
            discord_api_base_url=dc.api,
            discord_gateway_url=dc.gateway_url,
            discord_shard_count=1,
            data_dir=tmp_path,
        )
        try:
            async with discord_front_end(dc, settings, handle):
                assert not any(r.path == "/gateway/bot" for r in dc.requests)
                assert dc.gateway_ops[0]["op"] in (1, 2)  # a heartbeat or IDENTIFY, over ws
        finally:
            await dc.stop()

    asyncio.run(go())


def test_gateway_default_is_discords_own() -> None:
    """With Discord's own API nothing is looked up: discord.py's default gateway stays."""
    settings = BotSettings(discord_bot_token="TEST")
    assert not settings.discord_custom_api
    assert asyncio.run(gateway_url(settings, None)) is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="DISCORD_GATEWAY_URL"):
        BotSettings(discord_gateway_url="https://gateway.example")


def test_delivery_retries_429_and_500_then_delivers_once(tmp_path: Path) -> None:
    async def go() -> None:
        dc = DiscordStandIn()
        await dc.start()
        dc.fail[f"/channels/{CHANNEL}/messages"] = [429, 500]
        video = tmp_path / "v.mp4"
        video.write_bytes(b"\0" * 1000)
        async with aiohttp.ClientSession() as session:
            await DiscordDelivery(session, dc.api, "TEST").send_video(CHANNEL, video, "hi")
        posts = dc.channel_posts(CHANNEL)
        assert len(posts) == 3 and len(posts[-1].files["files[0]"]) == 1000
        assert all(r.files for r in posts)
        await dc.stop()

    asyncio.run(go())


def test_a_lost_answer_is_retried_with_the_same_nonce_and_posts_once(tmp_path: Path) -> None:
    """Discord took the video but the answer never came back (connection closed): the retry
    carries the same nonce with enforce_nonce, so Discord answers with the first message."""

    async def go() -> None:
        dc = DiscordStandIn()
        await dc.start()
        route = f"POST /channels/{CHANNEL}/messages"
        video = tmp_path / "v.mp4"
        video.write_bytes(b"\0" * 1000)
        async with aiohttp.ClientSession() as session:
            delivery = DiscordDelivery(session, dc.api, "TEST")
            dc.drop[route] = 1
            answer = await delivery.send_video(CHANNEL, video, "hi", key="job-1")
            posts = dc.channel_posts(CHANNEL)
            assert len(posts) == 2 and posts[0].json["nonce"] == posts[1].json["nonce"]
            assert posts[0].json["enforce_nonce"] is True
            assert len(dc.created) == 1 and answer["id"] == dc.created[0]["id"]
            # Without the key there is no nonce, and the same lost answer makes two messages.
            dc.drop[route] = 1
            await delivery.send_video(CHANNEL, video, "hi")
            assert len(dc.channel_posts(CHANNEL)) == 4 and len(dc.created) == 3
        await dc.stop()

    asyncio.run(go())


LONG_SCRIPT = "\n".join(
    [
        "Good evening, and welcome to the long version of this message.",
        "A slash command option is one line; this form takes paragraphs, so the script can",
        "breathe: several sentences, line breaks kept, far more than fits in a quick reply.",
    ]
    * 3
)


def _talk(
    dc: DiscordStandIn, voice: Path, photo: Path, script: str | None = None
) -> dict[str, Any]:
    """The data of a /talk command with both files attached (and the script, if given)."""
    files = {
        "201": _attachment(dc, "201", "voice.ogg", voice.read_bytes(), "audio/ogg"),
        "202": _attachment(dc, "202", "me.jpg", photo.read_bytes(), "image/jpeg"),
    }
    options = [{"name": "script", "type": 3, "value": script}] if script is not None else []
    options += [
        {"name": "voice", "type": 11, "value": "201"},
        {"name": "photo", "type": 11, "value": "202"},
    ]
    return {
        "id": "77",
        "name": "talk",
        "type": 1,
        "resolved": {"attachments": files},
        "options": options,
    }


def _modal_inputs(callback: dict[str, Any]) -> tuple[str, list[str]]:
    """The modal's custom id and its text inputs' ids, from a type-9 callback."""
    data = callback["data"]
    ids: list[str] = []
    for row in data["components"]:
        for c in row.get("components", []) or [row.get("component", {})]:
            if c.get("type") == 4:
                ids.append(c["custom_id"])
    return data["custom_id"], ids


def test_talk_without_a_script_opens_a_form_for_a_long_one(
    tmp_path: Path, engine: Engine, sample_voice: Path, sample_photo: Path
) -> None:
    """`/talk` with the files but no script: a modal (the long-script form); what is typed in
    it joins the files as the draft's script, line breaks and all."""

    async def go() -> None:
        async with system(tmp_path, engine) as dc:
            data = _talk(dc, sample_voice, sample_photo)
            await dc.dispatch("INTERACTION_CREATE", _interaction(2, data, REQUESTER))
            await dc.wait_for(lambda: any(c.json.get("type") == 9 for c in dc.callbacks()))
            modal = next(c.json for c in dc.callbacks() if c.json.get("type") == 9)
            assert modal["data"]["title"] == "Your script"
            modal_id, (input_id,) = _modal_inputs(modal)
            submit = {
                "custom_id": modal_id,
                "components": [
                    {
                        "type": 1,
                        "components": [{"type": 4, "custom_id": input_id, "value": LONG_SCRIPT}],
                    }
                ],
            }
            await dc.dispatch("INTERACTION_CREATE", _interaction(5, submit, REQUESTER))
            consent = f"mp:{REQUESTER}:consent:"
            await dc.wait_for(lambda: consent in dc.custom_ids(), timeout=60)
            said = "\n".join((r.json or {}).get("content", "") for r in dc.followups())
            assert f"Script received ({len(LONG_SCRIPT)} characters" in said
            assert "Voice note received" in said and "Photo received." in said

    asyncio.run(go())


def _dm(dc: DiscordStandIn, who: dict[str, Any], channel: str, **extra: Any) -> dict[str, Any]:
    """A MESSAGE_CREATE payload from ``who`` in a direct message (no guild)."""
    return {**dc.message(channel, {}), "author": who, **extra}


def test_direct_messages_feed_the_draft(
    tmp_path: Path, engine: Engine, sample_voice: Path, sample_photo: Path
) -> None:
    """In a DM, plain messages go through on_message: text before /talk gets the hint, and
    after /talk the voice note and photo sent as messages complete the draft; the replies go
    back to that DM, with their buttons. Messages from bots are ignored."""
    dm = "5000"

    async def go() -> None:
        async with system(tmp_path, engine) as dc:

            def said() -> list[str]:
                return [(r.json or {}).get("content", "") for r in dc.channel_posts(dm)]

            ada, bot = user(REQUESTER), {**user("77", "otherbot"), "bot": True}
            await dc.dispatch("MESSAGE_CREATE", _dm(dc, bot, dm, content="hello"))
            await dc.dispatch("MESSAGE_CREATE", _dm(dc, ada, dm, content="hello"))
            await dc.wait_for(lambda: len(said()) >= 1)
            assert said() == [texts.IDLE_TEXT]  # one answer: the bot's message got none
            talk = {
                "id": "77",
                "name": "talk",
                "type": 1,
                "options": [{"name": "script", "type": 3, "value": "Hello from a direct message."}],
            }
            opened = _interaction(2, talk, REQUESTER, channel_id=dm, channel={"id": dm, "type": 1})
            await dc.dispatch("INTERACTION_CREATE", opened)
            await dc.wait_for(
                lambda: any(
                    "Script received" in (r.json or {}).get("content", "") for r in dc.followups()
                )
            )
            voice = _attachment(dc, "301", "voice.ogg", sample_voice.read_bytes(), "audio/ogg")
            await dc.dispatch("MESSAGE_CREATE", _dm(dc, ada, dm, attachments=[voice]))
            await dc.wait_for(lambda: any("Voice note received" in t for t in said()), timeout=60)
            photo = _attachment(dc, "302", "me.jpg", sample_photo.read_bytes(), "image/jpeg")
            await dc.dispatch("MESSAGE_CREATE", _dm(dc, ada, dm, attachments=[photo]))
            await dc.wait_for(lambda: any("Photo received." in t for t in said()), timeout=60)

            def buttons() -> list[str]:
                return [
                    c["custom_id"]
                    for p in dc.channel_posts(dm)
                    for row in (p.json or {}).get("components", [])
                    for c in row["components"]
                ]

            # the photo's answer is two messages ("Photo received.", then the consent question)
            await dc.wait_for(lambda: len(said()) >= 5, timeout=30)
            assert f"mp:{REQUESTER}:consent:" in buttons()  # the draft is complete: consent next

    asyncio.run(go())


def test_talk_language_option_reaches_the_workers_render_request(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/talk's language option (and /lang's) offers auto and each language by its own name;
    the one picked is the draft's and the job's: the worker's engine is asked for it. (The
    voice note and photo are put in the draft directly; the render stops at the engine.)"""
    asked: list[RenderRequest] = []

    def render(request: RenderRequest, **kw: Any) -> Any:
        asked.append(request)
        raise InvalidInput("Stopped by the test.")

    monkeypatch.setattr(engine, "render", render)

    async def go() -> None:
        dc = DiscordStandIn()
        await dc.start()
        with redis_server(tmp_path) as url:
            settings = BotSettings(
                discord_bot_token="TEST",
                discord_api_base_url=dc.api,
                redis_url=url,
                data_dir=tmp_path / "data",
            )
            try:
                async with (
                    engine_workers(settings, engine),
                    chat_service(settings) as (service, store, _),
                    discord_front_end(dc, settings, service.handle),
                ):
                    sync = next(r for r in dc.requests if r.path.endswith(f"{APP_ID}/commands"))
                    commands = {c["name"]: c for c in sync.json}
                    for name in ("talk", "lang"):
                        option = next(
                            o for o in commands[name]["options"] if o["name"] == "language"
                        )
                        choices = [(c["name"], c["value"]) for c in option["choices"]]
                        assert choices[0] == (texts.LANG_AUTO_CHOICE, "auto")
                        assert ("Français", "fr") in choices and len(choices) == 8
                    data = {
                        "id": "77",
                        "name": "talk",
                        "type": 1,
                        "options": [
                            {"name": "script", "type": 3, "value": "Bonjour à tous."},
                            {"name": "language", "type": 3, "value": "fr"},
                        ],
                    }
                    await dc.dispatch("INTERACTION_CREATE", _interaction(2, data, REQUESTER))
                    said = lambda: "\n".join(  # noqa: E731
                        (r.json or {}).get("content", "") for r in dc.followups()
                    )
                    await dc.wait_for(lambda: "Script received" in said())
                    assert texts.LANG_SET.format(name="French") in said()
                    assert ", in French)" in said()
                    who = ("discord", REQUESTER, CHANNEL)
                    draft = await store.drafts.get(*who)
                    assert draft is not None and draft.language == "fr"
                    for digest in ("v" * 64, "p" * 64):  # the bot's copies of two uploads
                        path = tmp_path / f"{digest[0]}.bin"
                        path.write_bytes(b"media")
                        await store.media.put(digest, "audio", 5, "", path)
                    ready = ready_draft(draft.id, script=draft.script or "")
                    gathered = replace(ready, state="collect", consent=False, transcript_asked=True)
                    await store.drafts.put(*who, gathered)  # all there, French not kept
                    lang = {"id": "78", "name": "lang", "type": 1}
                    lang["options"] = [{"name": "language", "type": 3, "value": "fr"}]
                    await dc.dispatch("INTERACTION_CREATE", _interaction(2, lang, REQUESTER))
                    consent = f"mp:{REQUESTER}:consent:"
                    await dc.wait_for(lambda: consent in dc.custom_ids())
                    await _press(dc, consent, REQUESTER)
                    render = f"mp:{REQUESTER}:render:"
                    await dc.wait_for(lambda: render in dc.custom_ids())
                    await _press(dc, render, REQUESTER)
                    await dc.wait_for(lambda: bool(asked), timeout=60)
                    assert asked[0].language == "fr" and asked[0].script == "Bonjour à tous."
            finally:
                await dc.stop()

    asyncio.run(go())
