"""Avatars on both platforms, through the real client libraries and the platforms' stand-ins.

Telegram (python-telegram-bot, the Bot API stand-in, redis-server, SQLite, arq workers with
the embedded CPU engine): a video, ``/avatar save``, then ``/say`` renders a second video in
one step; ``/avatars``, ``/avatar delete`` and ``/forget``. Discord (discord.py through the
REST stand-in, no worker): the slash commands ``/avatar_save``, ``/say`` with its avatar
autocomplete, ``/avatars`` and ``/avatar_delete``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.contract import texts
from bot.contract.events import Button, Who
from bot.contract.jobs import RenderJob
from bot.conversation.flow import Draft
from bot.settings import BotSettings
from engine import Engine, EngineSettings
from tests.auxil.redis_server import redis_server
from tests.auxil.system import (
    CHANNEL,
    GUILD,
    MEMBER,
    discord_system,
    engine_workers,
    followup_texts,
    guild_interaction,
    member,
    said,
    telegram_bot,
    with_settings,
)

ME = 5151


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine(EngineSettings(cache_dir=tmp_path_factory.mktemp("engine-cache")))


def test_telegram_avatar_save_say_delete_forget(
    tmp_path: Path, engine: Engine, sample_voice: Path, sample_photo: Path
) -> None:
    voice, photo = sample_voice.read_bytes(), sample_photo.read_bytes()

    async def go(url: str) -> None:
        settings = BotSettings(
            telegram_bot_token="123:TEST",
            redis_url=url,
            data_dir=tmp_path / "bot",
            status_edit_seconds=0.2,
            board_interval_seconds=0.2,
            bot_metrics_port=0,
        )
        async with telegram_bot(settings) as (tg, service):
            settings = with_settings(settings, telegram_api_base_url=tg.url)
            me = ME
            async with engine_workers(settings, engine):
                await said(tg, me, lambda: tg.send_text(me, "/avatar save me"), "Make a video")
                await said(tg, me, lambda: tg.send_text(me, "/talk"), "Let's make a video")
                await said(tg, me, lambda: tg.send_text(me, "Hello there."), "Script received")
                await said(tg, me, lambda: tg.send_voice(me, voice, duration=7), "What is said")
                await said(tg, me, lambda: tg.press(me, "skip_transcript|"), "Still needed")
                await said(tg, me, lambda: tg.send_photo(me, photo), "Before I render")
                await said(tg, me, lambda: tg.press(me, "consent|"), "Ready:")
                await said(tg, me, lambda: tg.press(me, "render|"), "Queued as job")
                await tg.wait_for(lambda: len(tg.videos(me)) == 1, timeout=120)
                await said(tg, me, lambda: tg.send_text(me, "/avatar save me"), "Saved the photo")
                await said(tg, me, lambda: tg.send_text(me, "/avatars"), "Your avatars: me.")
                asked = lambda: [b for b in tg.buttons(me) if not b.startswith("cancel_job")]  # noqa: E731
                questions = len(asked())
                await said(
                    tg,
                    me,
                    lambda: tg.send_text(me, "/say me A second video, in one step."),
                    "Queued as job",
                )
                await tg.wait_for(lambda: len(tg.videos(me)) == 2, timeout=120)
                assert len(asked()) == questions  # no question, no Render button: one step
            store = service.store
            cur = await store.database.conn.execute(  # type: ignore[attr-defined]
                "SELECT payload FROM jobs ORDER BY created"
            )
            first, second = [RenderJob.from_json(r[0]) for r in await cur.fetchall()]
            assert (second.photo_hash, second.voice_hash) == (first.photo_hash, first.voice_hash)
            assert second.script == "A second video, in one step."
            await said(tg, me, lambda: tg.send_text(me, "/avatar delete me"), "Deleted the avatar")
            await said(tg, me, lambda: tg.send_text(me, "/say me Again."), "You have no avatar")
            await said(tg, me, lambda: tg.send_text(me, "/avatar save me"), "Saved the photo")
            await said(tg, me, lambda: tg.send_text(me, "/forget"), "Done. Removed")
            assert "1 saved voice(s) and avatar(s)" in tg.texts(me)[-1]
            assert await store.avatars.list("telegram", str(me)) == []  # type: ignore[attr-defined]

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def _slash(name: str, options: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    person = member(MEMBER, discord.Permissions(send_messages=True).value)
    data = {"id": "91", "name": name, "type": 1, "options": options}
    return guild_interaction(extra.pop("kind", 2), data, person, **extra)


def test_discord_avatar_commands_and_say_autocomplete(tmp_path: Path) -> None:
    """A job made in this server (a Render press through the core, the queue taking it),
    then the slash commands as Discord sends them."""

    async def go() -> None:
        async with discord_system(tmp_path) as (dc, client, store, service):
            who = Who("discord", MEMBER, CHANNEL, guild_id=GUILD)
            for digest in ("v" * 64, "p" * 64):  # the uploads, as the bot keeps them
                path = tmp_path / "media" / digest
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"media")
                await store.media.put(digest, "audio", 5, "", path)
            ready = Draft(
                id="d1",
                state="confirm",
                script="Hello there.",
                voice_hash="v" * 64,
                photo_hash="p" * 64,
                transcript_asked=True,
                consent=True,
            )
            await store.drafts.put("discord", MEMBER, CHANNEL, ready, guild_id=GUILD)
            (queued,) = await service.handle(Button(who, "render"))
            assert queued.text.startswith("Queued as job")  # type: ignore[union-attr]

            async def slash(name: str, options: list[dict[str, Any]]) -> str:
                n = len(dc.followups())
                client._connection.parse_interaction_create(_slash(name, options))  # type: ignore[arg-type]
                await dc.wait_for(lambda: len(dc.followups()) > n)
                return followup_texts(dc)[-1]

            text = {"type": 3}
            names = {c.name for c in client.tree.get_commands()}
            assert {"say", "avatars", "avatar_save", "avatar_delete"} <= names
            assert await slash("avatar_save", [{**text, "name": "name", "value": "ann"}]) == (
                texts.AVATAR_SAVED.format(name="ann")
            )
            await slash("avatar_save", [{**text, "name": "name", "value": "bob"}])
            # the autocomplete: what the person typed so far -> their avatars' names
            n = len(dc.callbacks())
            focused = [
                {**text, "name": "avatar", "value": "a", "focused": True},
                {**text, "name": "script", "value": ""},
            ]
            client._connection.parse_interaction_create(_slash("say", focused, kind=4))  # type: ignore[arg-type]
            await dc.wait_for(lambda: len(dc.callbacks()) > n)
            answer = dc.callbacks()[-1].json
            assert answer["type"] == 8
            assert [c["value"] for c in answer["data"]["choices"]] == ["ann"]
            said_now = await slash(
                "say",
                [
                    {**text, "name": "avatar", "value": "ann"},
                    {**text, "name": "script", "value": "Hi from an avatar."},
                ],
            )
            assert said_now.startswith("Queued as job")
            assert await slash("avatars", []) == texts.AVATARS_LIST.format(names="ann, bob")
            assert await slash("avatar_delete", [{**text, "name": "name", "value": "bob"}]) == (
                texts.AVATAR_DELETED.format(name="bob")
            )
            cur = await store.database.conn.execute("SELECT payload FROM jobs ORDER BY created")
            jobs = [RenderJob.from_json(r[0]) for r in await cur.fetchall()]
            assert [j.script for j in jobs] == ["Hello there.", "Hi from an avatar."]
            forgot = await slash("forget", [])
            assert forgot.startswith("Done. Removed") and "1 saved voice(s) and avatar(s)" in forgot
            assert await store.avatars.list("discord", MEMBER) == []
            assert await slash("avatars", []) == texts.AVATARS_NONE

    asyncio.run(go())
