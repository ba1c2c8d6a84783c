"""/mod on both platforms through the real client libraries against the stand-in servers:
non-moderators are refused on every subcommand; Manage Server, the moderator role,
TELEGRAM_ADMIN_IDS and Telegram group admins are let in; a review decided by a moderator
reaches the requester's chat."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import discord

from bot.chat.adapters.discord import MouthpieceClient, use_api_base
from bot.chat.adapters.telegram import build_application
from bot.chat.app import build_service
from bot.chat.store import Store
from bot.contract import texts
from bot.conversation.flow import Draft
from bot.conversation.service import Service
from bot.safety.moderation import SUBCOMMANDS
from bot.settings import BotSettings
from tests.auxil.discord_server import APP_ID, DiscordStandIn, user
from tests.auxil.ptb import polling
from tests.auxil.redis_server import redis_server
from tests.auxil.telegram_server import TelegramStandIn

GUILD, CHANNEL, MEMBER, MODERATOR, ROLE_MOD = "300", "900", "42", "7", "8"
MOD_ROLE_ID = "777"
_ids = itertools.count(5000)

#: (subcommand, options) for every /mod subcommand, as Discord sends them
DISCORD_SUBCOMMANDS: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "limits",
        [{"name": "limit", "type": 3, "value": "day"}, {"name": "value", "type": 4, "value": 1}],
    ),
    ("consent", [{"name": "mode", "type": 3, "value": "review"}]),
    ("ban", [{"name": "user", "type": 6, "value": MEMBER}]),
    ("unban", [{"name": "user", "type": 6, "value": MEMBER}]),
    ("purge", [{"name": "user", "type": 6, "value": MEMBER}]),
    ("queue", []),
    ("reviews", []),
    ("audit", [{"name": "count", "type": 4, "value": 5}]),
    ("log", [{"name": "count", "type": 4, "value": 5}]),
    ("takedown", [{"name": "job", "type": 3, "value": "abcdef123456"}]),
    ("channels", [{"name": "action", "type": 3, "value": "add"}]),
    ("label", [{"name": "position", "type": 3, "value": "top-left"}]),
    (
        "block",
        [
            {"name": "action", "type": 3, "value": "add"},
            {"name": "phrase", "type": 3, "value": "x"},
        ],
    ),
]
#: the same on Telegram
TELEGRAM_SUBCOMMANDS = [
    "/mod limits set day 1",
    "/mod consent review",
    f"/mod ban {MEMBER}",
    f"/mod unban {MEMBER}",
    f"/mod purge {MEMBER}",
    "/mod queue",
    "/mod reviews",
    "/mod audit 5",
    "/mod log 5",
    "/mod takedown abcdef123456",
    "/mod channels add here",
    "/mod label top-left",
    "/mod block add x",
]


def _member(uid: str, permissions: int, roles: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "user": user(uid),
        "roles": list(roles),
        "permissions": str(permissions),
        "joined_at": "2026-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
    }


def _guild_interaction(
    kind: int, data: dict[str, Any], member: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "id": str(next(_ids)),
        "application_id": APP_ID,
        "type": kind,
        "token": f"tok{next(_ids)}",
        "version": 1,
        "guild_id": GUILD,
        "channel_id": CHANNEL,
        "channel": {"id": CHANNEL, "type": 0, "guild_id": GUILD, "name": "general", "position": 0},
        "member": member,
        "locale": "en-US",
        "guild_locale": "en-US",
        "data": data,
        "attachment_size_limit": 10 * 1024 * 1024,
        **extra,
    }


def _mod_command(sub: str, options: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "88",
        "name": "mod",
        "type": 1,
        "options": [{"name": sub, "type": 1, "options": options}],
    }
    users = [o["value"] for o in options if o["type"] == 6]
    if users:
        data["resolved"] = {
            "users": {u: user(u) for u in users},
            "members": {u: {k: v for k, v in _member(u, 0).items() if k != "user"} for u in users},
        }
    return data


@asynccontextmanager
async def discord_system(
    tmp: Path, **settings: Any
) -> AsyncIterator[tuple[DiscordStandIn, MouthpieceClient, Store, Service]]:
    dc = DiscordStandIn()
    await dc.start()
    with redis_server(tmp) as url:
        config = BotSettings(
            discord_bot_token="TEST",
            discord_api_base_url=dc.api,
            redis_url=url,
            data_dir=tmp / "data",
            discord_mod_role=MOD_ROLE_ID,
            **settings,
        )
        service, store, queue = await build_service(config)
        use_api_base(dc.api)
        client = MouthpieceClient(service.handle)
        await client.login("TEST")
        try:
            yield dc, client, store, service
        finally:
            await client.close()
            await queue.close()
            await store.close()
            await dc.stop()


def _with_button(dc: DiscordStandIn, custom_id: str) -> dict[str, Any]:
    """A channel message carrying one button (discord.py finds pressed items in it)."""
    row = {"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": custom_id}]}
    return dc.message(CHANNEL, {"components": [row]})


def _followup_texts(dc: DiscordStandIn) -> list[str]:
    return [(r.json or {}).get("content", "") for r in dc.followups()]


def test_discord_mod_refuses_non_moderators_on_every_subcommand(tmp_path: Path) -> None:
    async def go() -> None:
        async with discord_system(tmp_path) as (dc, client, store, _):
            tree_subs = {c.name for c in client.tree.get_command("mod").commands}  # type: ignore[union-attr]
            assert tree_subs == {s for s, _ in DISCORD_SUBCOMMANDS}  # none left untested
            plain = _member(MEMBER, discord.Permissions(send_messages=True).value)
            for n, (sub, options) in enumerate(DISCORD_SUBCOMMANDS, start=1):
                client._connection.parse_interaction_create(  # type: ignore[arg-type]
                    _guild_interaction(2, _mod_command(sub, options), plain)
                )
                await dc.wait_for(lambda n=n: len(dc.followups()) >= n)
                assert _followup_texts(dc)[-1] == texts.MOD_ONLY, sub
                assert dc.followups()[-1].json["flags"] & 64  # ephemeral
            assert await store.safety.guild_policy("discord", GUILD) == {}
            assert not await store.safety.is_banned("discord", GUILD, MEMBER)

    asyncio.run(go())


def test_discord_manage_server_or_the_role_may_moderate(tmp_path: Path) -> None:
    async def go() -> None:
        async with discord_system(tmp_path) as (dc, client, store, _):
            manager = _member(MODERATOR, discord.Permissions(manage_guild=True).value)
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                _guild_interaction(2, _mod_command("limits", DISCORD_SUBCOMMANDS[0][1]), manager)
            )
            await dc.wait_for(lambda: len(dc.followups()) >= 1)
            assert _followup_texts(dc)[-1].startswith("Limits here: 1 a day")

            # what GUILD_CREATE gives a connected bot: the server and its roles in the cache
            guild = client._connection._get_or_create_unavailable_guild(int(GUILD))
            client._connection._add_guild(guild)
            guild._add_role(
                discord.Role(
                    guild=guild,
                    state=client._connection,
                    data={
                        "id": MOD_ROLE_ID,
                        "name": "Mods",
                        "permissions": "0",
                        "position": 1,
                        "color": 0,
                        "hoist": False,
                        "managed": False,
                        "mentionable": False,
                    },
                )
            )
            with_role = _member(ROLE_MOD, 0, roles=(MOD_ROLE_ID,))
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                _guild_interaction(
                    2,
                    _mod_command("ban", [{"name": "user", "type": 6, "value": MEMBER}]),
                    with_role,
                )
            )
            await dc.wait_for(lambda: len(dc.followups()) >= 2)
            assert _followup_texts(dc)[-1] == texts.MOD_BANNED.format(user=MEMBER)
            assert await store.safety.is_banned("discord", GUILD, MEMBER)

    asyncio.run(go())


def test_discord_review_approved_by_a_moderator_reaches_the_requester(tmp_path: Path) -> None:
    async def go() -> None:
        async with discord_system(tmp_path, consent_mode="review") as (dc, client, store, _):
            draft = Draft(
                id="d1",
                state="confirm",
                script="Hi all.",
                voice_hash="v" * 64,
                photo_hash="p" * 64,
                consent=True,
            )
            await store.put_draft("discord", MEMBER, CHANNEL, draft)
            photo = tmp_path / "face.jpg"
            photo.write_bytes(b"JPEG face")
            await store.put_media("p" * 64, "image", 9, "image/jpeg", photo)
            voice = tmp_path / "voice.ogg"
            voice.write_bytes(b"OggS voice")
            await store.put_media("v" * 64, "audio", 10, "audio/ogg", voice)
            plain = _member(MEMBER, 0)
            press = {"custom_id": f"mp:{MEMBER}:render:", "component_type": 2}
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                _guild_interaction(3, press, plain, message=_with_button(dc, press["custom_id"]))
            )
            await dc.wait_for(
                lambda: any("moderator checks" in t for t in _followup_texts(dc)), timeout=8
            )

            manager = _member(MODERATOR, discord.Permissions(manage_guild=True).value)
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                _guild_interaction(2, _mod_command("reviews", []), manager)
            )
            approve = f"mp:{MODERATOR}:mod_approve:"
            await dc.wait_for(lambda: any(c.startswith(approve) for c in dc.custom_ids()))
            custom_id = next(c for c in dc.custom_ids() if c.startswith(approve))
            review = next(r for r in dc.followups() if r.files)
            # the voice note and the photo, to judge
            assert list(review.files.values()) == [b"OggS voice", b"JPEG face"]
            assert review.json["flags"] & 64  # only the moderator sees it

            # a plain member pressing a (forged) moderator button is refused by the core
            forged = custom_id.replace(f"mp:{MODERATOR}:", f"mp:{MEMBER}:")
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                _guild_interaction(
                    3,
                    {"custom_id": forged, "component_type": 2},
                    plain,
                    message=_with_button(dc, forged),
                )
            )
            await dc.wait_for(lambda: texts.MOD_BUTTON_ONLY in _followup_texts(dc))

            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                _guild_interaction(
                    3,
                    {"custom_id": custom_id, "component_type": 2},
                    manager,
                    message=dc.component_message(custom_id),
                )
            )
            await dc.wait_for(lambda: len(dc.channel_posts(CHANNEL)) >= 1)
            assert dc.channel_posts(CHANNEL)[0].json["content"].startswith("A moderator approved")
            assert any(t.startswith("Approved job") for t in _followup_texts(dc))

    asyncio.run(go())


@asynccontextmanager
async def telegram_system(
    tmp: Path, admins: str, **overrides: Any
) -> AsyncIterator[tuple[TelegramStandIn, Service, Store]]:
    tg = TelegramStandIn()
    await tg.start()
    with redis_server(tmp) as url:
        settings = BotSettings(
            telegram_bot_token="123:TEST",
            telegram_api_base_url=tg.url,
            redis_url=url,
            data_dir=tmp / "data",
            telegram_admin_ids=admins,
            **overrides,
        )
        service, store, queue = await build_service(settings)
        app = build_application(settings.telegram_bot_token, tg.url, service.handle)
        try:
            async with polling(app):
                yield tg, service, store
        finally:
            await queue.close()
            await store.close()
            await tg.stop()


def test_telegram_mod_refuses_non_admins_and_admits_admin_ids_and_group_admins(
    tmp_path: Path,
) -> None:
    member, admin, group, group_admin = 501, 502, -900, 503

    async def go() -> None:
        async with telegram_system(tmp_path, admins=f" {admin} ,999") as (tg, service, store):
            for n, line in enumerate(TELEGRAM_SUBCOMMANDS, start=1):
                tg.send_text(member, line)
                await tg.wait_for(lambda n=n: len(tg.texts(member)) >= n)
                assert tg.texts(member)[-1] == texts.MOD_ONLY, line
            # in a group, a plain member is refused too (the group's admins were asked)
            tg.chat_admins[group] = [group_admin]
            tg.send_text(group, "/mod consent review", user_id=member)
            await tg.wait_for(lambda: len(tg.texts(group)) >= 1)
            assert tg.texts(group)[-1] == texts.MOD_ONLY
            assert any(c.method == "getChatAdministrators" for c in tg.calls)
            assert await store.safety.guild_policy("telegram", "") == {}
            assert await store.safety.guild_policy("telegram", str(group)) == {}
            assert not await store.safety.is_banned("telegram", "", str(member))

            tg.send_text(admin, "/mod limits set day 1")
            await tg.wait_for(lambda: len(tg.texts(admin)) >= 1)
            assert tg.texts(admin)[-1].startswith("Limits here: 1 a day")
            tg.send_text(group, "/mod consent review", user_id=group_admin)
            await tg.wait_for(lambda: len(tg.texts(group)) >= 2)
            assert tg.texts(group)[-1].startswith("Consent mode here: review")
            assert await store.safety.guild_policy("telegram", str(group)) == {
                "consent_mode": "review"
            }
            # a group admin moderates their group only, not the bot's private chats
            assert await store.safety.guild_policy("telegram", "") == {
                "limits": {"user_per_day": 1}
            }

    asyncio.run(go())


def test_telegram_subcommands_cover_every_mod_subcommand() -> None:
    assert {line.split()[1] for line in TELEGRAM_SUBCOMMANDS} == set(SUBCOMMANDS)


def test_telegram_admin_approves_a_review_and_the_requester_hears_it(tmp_path: Path) -> None:
    member, admin = 601, 602

    async def go() -> None:
        async with telegram_system(tmp_path, admins=str(admin), consent_mode="review") as (
            tg,
            _,
            store,
        ):
            draft = Draft(
                id="d1",
                state="confirm",
                script="Hi.",
                voice_hash="v" * 64,
                photo_hash="p" * 64,
                consent=True,
            )
            await store.put_draft("telegram", str(member), str(member), draft)
            voice = tmp_path / "voice.ogg"
            voice.write_bytes(b"OggS voice")
            await store.put_media("v" * 64, "audio", 10, "audio/ogg", voice)
            photo = tmp_path / "face.jpg"
            photo.write_bytes(b"JPEG face")
            await store.put_media("p" * 64, "image", 9, "image/jpeg", photo)
            tg.press(member, "render|")
            await tg.wait_for(lambda: any("moderator checks" in t for t in tg.texts(member)))
            tg.send_text(admin, "/mod reviews")
            await tg.wait_for(lambda: any(b.startswith("mod_approve|") for b in tg.buttons(admin)))
            approve = next(b for b in tg.buttons(admin) if b.startswith("mod_approve|"))
            await tg.wait_for(lambda: len(tg.documents(admin)) >= 2)
            assert tg.documents(admin) == [b"OggS voice", b"JPEG face"]  # to listen to, to see
            tg.press(member, approve)  # the requester cannot approve their own video
            await tg.wait_for(lambda: texts.MOD_BUTTON_ONLY in tg.texts(member))
            tg.press(admin, approve)
            await tg.wait_for(
                lambda: any(t.startswith("A moderator approved") for t in tg.texts(member))
            )
            assert any(t.startswith("Approved job") for t in tg.texts(admin))
            (record,) = await store.safety.recent_renders("telegram", "")
            assert record.verified == f"moderator:{admin}"

    asyncio.run(go())
