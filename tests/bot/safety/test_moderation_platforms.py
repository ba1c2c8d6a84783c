"""/mod on both platforms through the real client libraries against the stand-in servers:
non-moderators are refused on every subcommand; Manage Server, the moderator role,
TELEGRAM_ADMIN_IDS and Telegram group admins are let in; a review decided by a moderator
reaches the requester's chat."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.contract import texts
from bot.conversation.flow import Draft
from bot.safety.moderation import SUBCOMMANDS
from tests.auxil.system import (
    CAN_POST,
    CHANNEL,
    GUILD,
    MEMBER,
    MOD_ROLE_ID,
    MODERATOR,
    ROLE_MOD,
    discord_system,
    followup_texts,
    guild_interaction,
    member,
    mod_command,
    telegram_system,
    with_button,
)

pytestmark = pytest.mark.slow  # tens of seconds

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
    ("reviews-channel", [{"name": "action", "type": 3, "value": "set"}]),
    ("verify", []),
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
    "/mod reviews-channel here",
    "/mod verify",
]


def test_discord_mod_refuses_non_moderators_on_every_subcommand(tmp_path: Path) -> None:
    async def go() -> None:
        async with discord_system(tmp_path) as (dc, client, store, _):
            tree_subs = {c.name for c in client.tree.get_command("mod").commands}  # type: ignore[union-attr]
            assert tree_subs == {s for s, _ in DISCORD_SUBCOMMANDS}  # none left untested
            plain = member(MEMBER, discord.Permissions(send_messages=True).value)
            for n, (sub, options) in enumerate(DISCORD_SUBCOMMANDS, start=1):
                client._connection.parse_interaction_create(  # type: ignore[arg-type]
                    guild_interaction(2, mod_command(sub, options), plain)
                )
                await dc.wait_for(lambda n=n: len(dc.followups()) >= n)
                assert followup_texts(dc)[-1] == texts.MOD_ONLY, sub
                assert dc.followups()[-1].json["flags"] & 64  # ephemeral
            assert await store.safety.policy.guild_policy("discord", GUILD) == {}
            assert not await store.safety.bans.is_banned("discord", GUILD, MEMBER)

    asyncio.run(go())


def test_discord_audit_searches_with_its_find_option(tmp_path: Path) -> None:
    """/mod audit's find option reaches the core's search (nothing rendered: no match)."""

    async def go() -> None:
        async with discord_system(tmp_path) as (dc, client, _, _):
            manager = member(MODERATOR, discord.Permissions(manage_guild=True).value)
            options = [{"name": "find", "type": 3, "value": "  abcdef12 "}]
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(2, mod_command("audit", options), manager)
            )
            await dc.wait_for(lambda: len(dc.followups()) >= 1)
            assert followup_texts(dc)[-1] == texts.MOD_AUDIT_NO_MATCH.format(term="abcdef12")

    asyncio.run(go())


def test_discord_manage_server_or_the_role_may_moderate(tmp_path: Path) -> None:
    async def go() -> None:
        async with discord_system(tmp_path) as (dc, client, store, _):
            manager = member(MODERATOR, discord.Permissions(manage_guild=True).value)
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(2, mod_command("limits", DISCORD_SUBCOMMANDS[0][1]), manager)
            )
            await dc.wait_for(lambda: len(dc.followups()) >= 1)
            assert followup_texts(dc)[-1].startswith("Limits here: 1 a day")

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
            with_role = member(ROLE_MOD, 0, roles=(MOD_ROLE_ID,))
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(
                    2,
                    mod_command("ban", [{"name": "user", "type": 6, "value": MEMBER}]),
                    with_role,
                )
            )
            await dc.wait_for(lambda: len(dc.followups()) >= 2)
            assert followup_texts(dc)[-1] == texts.MOD_BANNED.format(user=MEMBER)
            assert await store.safety.bans.is_banned("discord", GUILD, MEMBER)

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
            await store.drafts.put("discord", MEMBER, CHANNEL, draft)
            photo = tmp_path / "face.jpg"
            photo.write_bytes(b"JPEG face")
            await store.media.put("p" * 64, "image", 9, "image/jpeg", photo)
            voice = tmp_path / "voice.ogg"
            voice.write_bytes(b"OggS voice")
            await store.media.put("v" * 64, "audio", 10, "audio/ogg", voice)
            plain = member(MEMBER, CAN_POST)  # may post in the channel: may render there
            press = {"custom_id": f"mp:{MEMBER}:render:", "component_type": 2}
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(3, press, plain, message=with_button(dc, press["custom_id"]))
            )
            await dc.wait_for(
                lambda: any("moderator checks" in t for t in followup_texts(dc)), timeout=8
            )

            manager = member(MODERATOR, discord.Permissions(manage_guild=True).value)
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(2, mod_command("reviews", []), manager)
            )
            approve = f"mp:{MODERATOR}:mod_approve:"
            await dc.wait_for(lambda: any(c.startswith(approve) for c in dc.custom_ids()))
            custom_id = next(c for c in dc.custom_ids() if c.startswith(approve))
            review = next(r for r in dc.followups() if custom_id in str(r.json))
            # previews of the voice note and photo come from a worker (none runs here; see
            # test_moderation_in_chat.py): the uploads themselves are never attached
            assert not review.files
            assert texts.MOD_REVIEW_NO_PREVIEW.format(what="photo") in review.json["content"]
            assert review.json["flags"] & 64  # only the moderator sees it

            # a plain member pressing a (forged) moderator button is refused by the core
            forged = custom_id.replace(f"mp:{MODERATOR}:", f"mp:{MEMBER}:")
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(
                    3,
                    {"custom_id": forged, "component_type": 2},
                    plain,
                    message=with_button(dc, forged),
                )
            )
            await dc.wait_for(lambda: texts.MOD_BUTTON_ONLY in followup_texts(dc))

            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(
                    3,
                    {"custom_id": custom_id, "component_type": 2},
                    manager,
                    message=dc.component_message(custom_id),
                )
            )
            await dc.wait_for(lambda: len(dc.channel_posts(CHANNEL)) >= 1)
            assert dc.channel_posts(CHANNEL)[0].json["content"].startswith("A moderator approved")
            assert any(t.startswith("Approved job") for t in followup_texts(dc))

    asyncio.run(go())


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
            assert await store.safety.policy.guild_policy("telegram", "") == {}
            assert await store.safety.policy.guild_policy("telegram", str(group)) == {}
            assert not await store.safety.bans.is_banned("telegram", "", str(member))

            tg.send_text(admin, "/mod limits set day 1")
            await tg.wait_for(lambda: len(tg.texts(admin)) >= 1)
            assert tg.texts(admin)[-1].startswith("Limits here: 1 a day")
            tg.send_text(group, "/mod consent review", user_id=group_admin)
            await tg.wait_for(lambda: len(tg.texts(group)) >= 2)
            assert tg.texts(group)[-1].startswith("Consent mode here: review")
            assert await store.safety.policy.guild_policy("telegram", str(group)) == {
                "consent_mode": "review"
            }
            # a group admin moderates their group only, not the bot's private chats
            assert await store.safety.policy.guild_policy("telegram", "") == {
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
            await store.drafts.put("telegram", str(member), str(member), draft)
            voice = tmp_path / "voice.ogg"
            voice.write_bytes(b"OggS voice")
            await store.media.put("v" * 64, "audio", 10, "audio/ogg", voice)
            photo = tmp_path / "face.jpg"
            photo.write_bytes(b"JPEG face")
            await store.media.put("p" * 64, "image", 9, "image/jpeg", photo)
            tg.press(member, "render|")
            await tg.wait_for(lambda: any("moderator checks" in t for t in tg.texts(member)))
            tg.send_text(admin, "/mod reviews")
            await tg.wait_for(lambda: any(b.startswith("mod_approve|") for b in tg.buttons(admin)))
            approve = next(b for b in tg.buttons(admin) if b.startswith("mod_approve|"))
            # previews come from a worker (none runs here; see test_moderation_in_chat.py):
            # no upload is sent in their place
            no_photo = texts.MOD_REVIEW_NO_PREVIEW.format(what="photo")
            assert any(no_photo in t for t in tg.texts(admin)) and tg.documents(admin) == []
            tg.press(member, approve)  # the requester cannot approve their own video
            await tg.wait_for(lambda: texts.MOD_BUTTON_ONLY in tg.texts(member))
            tg.press(admin, approve)
            await tg.wait_for(
                lambda: any(t.startswith("A moderator approved") for t in tg.texts(member))
            )
            assert any(t.startswith("Approved job") for t in tg.texts(admin))
            (record,) = await store.safety.log.recent_renders("telegram", "")
            assert (record.method, record.valid_in, record.by) == ("operator", "*", str(admin))

    asyncio.run(go())
