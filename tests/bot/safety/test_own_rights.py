"""The person's own rights (bot.safety.rights), through the real client libraries against the
stand-ins: media forwarded from someone else's message are not the sender's (refused in
attest mode; a forwarded voice note is taken only under the spoken-phrase check), and a
Discord member who may not post files in a channel cannot have the bot post a video there."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import discord
from telegram import Message

from bot.chat.adapters.telegram import _forwarded
from bot.contract import texts
from bot.contract.events import Button, Who
from bot.safety.rights import forwarded_refusal, posting_refusal
from tests.auxil.discord_server import DiscordStandIn, user
from tests.auxil.system import (
    CAN_POST,
    CHANNEL,
    GUILD,
    MEMBER,
    discord_system,
    followup_texts,
    guild_interaction,
    member,
    ready_draft,
    telegram_system,
    with_button,
)
from tests.auxil.telegram_server import TelegramStandIn

CHAT = 611  # a private chat with the person of the same id
STRANGER = {"type": "user", "date": 1, "sender_user": {"id": 9, "is_bot": False, "first_name": "B"}}
HIDDEN = {"type": "hidden_user", "date": 1, "sender_user_name": "Somebody"}
CHANNEL_POST = {
    "type": "channel",
    "date": 1,
    "chat": {"id": -100, "type": "channel", "title": "News"},
    "message_id": 5,
}


def _downloads(tg: TelegramStandIn) -> list[str]:
    return [c.params.get("file_id", "") for c in tg.calls if c.method == "getFile"]


def test_telegram_forwards_are_refused_in_attest_mode(
    tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    """Attest mode (the default): a forwarded voice note and a forwarded photo are refused
    with the reason, before anything is downloaded; the draft gets neither."""

    async def go() -> None:
        async with telegram_system(tmp_path) as (tg, _, store):
            tg.send_text(CHAT, "/talk")
            await tg.wait_for(lambda: tg.texts(CHAT) == [texts.START])
            voice = sample_voice.read_bytes()
            for n, origin in enumerate((STRANGER, HIDDEN, CHANNEL_POST), start=2):
                tg.send_voice(CHAT, voice, duration=5, forward_origin=origin)
                await tg.wait_for(lambda n=n: len(tg.texts(CHAT)) >= n)
                assert tg.texts(CHAT)[-1] == texts.FORWARDED_VOICE, origin
            # a Bot API server before 7.0 says it with forward_from / forward_date
            tg.send_voice(CHAT, voice, duration=5, forward_from=STRANGER["sender_user"])
            await tg.wait_for(lambda: len(tg.texts(CHAT)) >= 5)
            assert tg.texts(CHAT)[-1] == texts.FORWARDED_VOICE
            tg.send_photo(CHAT, sample_photo.read_bytes(), forward_origin=HIDDEN)
            await tg.wait_for(lambda: len(tg.texts(CHAT)) >= 6)
            assert tg.texts(CHAT)[-1] == texts.FORWARDED_PHOTO
            assert _downloads(tg) == []  # refused on what Telegram said: nothing fetched
            draft = await store.drafts.get("telegram", str(CHAT), str(CHAT))
            assert draft is not None and draft.voice_hash is None and draft.photo_hash is None

    asyncio.run(go())


def test_telegram_forwarded_voice_in_phrase_mode_goes_through_the_phrase_check(
    tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    """Phrase mode: a forwarded voice note is taken, said to count only with the draft's
    phrase in it, never kept as the person's voice (/voice save refuses it), and at Render it
    goes to the phrase check (no speech recognition here: a moderator's review with the
    phrase). A forwarded photo is refused here too: no phrase speaks for a face."""

    async def go() -> None:
        async with telegram_system(
            tmp_path, admins=str(CHAT), consent_mode="phrase", intake_timeout_seconds=0.3
        ) as (tg, _, store):
            tg.send_text(CHAT, "/talk")
            await tg.wait_for(lambda: any(t.startswith("This server asks") for t in tg.texts(CHAT)))
            tg.send_text(CHAT, "Hello from a forwarded voice.")
            await tg.wait_for(lambda: any(t.startswith("Script received") for t in tg.texts(CHAT)))
            tg.send_voice(CHAT, sample_voice.read_bytes(), duration=5, forward_origin=STRANGER)
            await tg.wait_for(lambda: any("Voice note received" in t for t in tg.texts(CHAT)))
            got = next(t for t in tg.texts(CHAT) if "Voice note received" in t)
            assert got.endswith(texts.FORWARDED_VOICE_PHRASE)
            draft = await store.drafts.get("telegram", str(CHAT), str(CHAT))
            assert draft is not None and draft.voice_hash and draft.voice_forwarded
            last = await store.media.last("telegram", str(CHAT))
            assert last is None or last.voice_hash is None  # not kept as "my last voice"
            tg.send_text(CHAT, "/voice save theirs")
            await tg.wait_for(lambda: texts.VOICE_SAVE_FORWARDED in tg.texts(CHAT))
            tg.send_photo(CHAT, sample_photo.read_bytes(), forward_origin=STRANGER)
            await tg.wait_for(lambda: texts.FORWARDED_PHOTO in tg.texts(CHAT))
            tg.send_photo(CHAT, sample_photo.read_bytes())
            await tg.wait_for(lambda: any(t.startswith("Photo received") for t in tg.texts(CHAT)))
            tg.press(CHAT, "skip_transcript|")
            await tg.wait_for(lambda: "consent|" in tg.buttons(CHAT))
            tg.press(CHAT, "consent|")
            await tg.wait_for(lambda: "render|" in tg.buttons(CHAT))
            # raised to review meanwhile (by an operator, here): the forwarded voice is refused
            tg.send_text(CHAT, "/mod consent review")
            await tg.wait_for(lambda: tg.texts(CHAT)[-1].startswith("Consent mode here: review"))
            tg.press(CHAT, "render|")
            await tg.wait_for(lambda: tg.texts(CHAT)[-1] == texts.FORWARDED_VOICE)
            tg.send_text(CHAT, "/mod consent phrase")
            await tg.wait_for(lambda: tg.texts(CHAT)[-1].startswith("Consent mode here: phrase"))
            tg.press(CHAT, "render|")  # the draft was kept
            await tg.wait_for(
                lambda: any(t.startswith("A moderator checks") for t in tg.texts(CHAT))
            )
            (pending,) = await store.safety.reviews.pending_reviews("telegram", "")
            phrase = await store.safety.consent.phrase_for(
                "telegram", str(CHAT), str(CHAT), draft.id
            )
            assert phrase and pending.phrase == phrase  # the moderator listens for the phrase

    asyncio.run(go())


def test_a_forward_of_ones_own_message_is_ones_own() -> None:
    """Telegram names who first sent a forwarded message; the sender's own is theirs. Every
    other origin (someone else, a hidden name, a channel), the old fields, an automatic
    forward and a file from an inline bot are not."""

    def message(**extra: Any) -> Message:
        data = {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": CHAT, "type": "private"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "Ada"},
            **extra,
        }
        return Message.de_json(data, None)

    me = {"id": CHAT, "is_bot": False, "first_name": "Ada"}
    assert not _forwarded(message())
    assert not _forwarded(message(forward_origin={"type": "user", "date": 1, "sender_user": me}))
    assert not _forwarded(message(forward_from=me, forward_date=1))
    for origin in (STRANGER, HIDDEN, CHANNEL_POST):
        assert _forwarded(message(forward_origin=origin))
    assert _forwarded(message(forward_date=1, forward_sender_name="Somebody"))
    assert _forwarded(message(is_automatic_forward=True))
    assert _forwarded(message(via_bot={"id": 77, "is_bot": True, "first_name": "inline"}))


def test_the_rules_are_the_same_for_every_platform() -> None:
    """The pure decisions: which forwarded kinds under which mode, and which events need the
    right to post (DMs exempt; cancelling always allowed)."""
    assert forwarded_refusal("image", "phrase") == texts.FORWARDED_PHOTO
    assert forwarded_refusal("audio", "attest") == texts.FORWARDED_VOICE
    assert forwarded_refusal("audio", "review") == texts.FORWARDED_VOICE
    assert forwarded_refusal("audio", "phrase") is None
    assert forwarded_refusal("text", "attest") is None
    mute = Who("discord", "1", "c", "g", can_post=False)
    assert posting_refusal(mute, Button(mute, "render")) == texts.CANNOT_POST_HERE
    assert posting_refusal(mute, Button(mute, "cancel_job", "j")) is None
    dm = Who("discord", "1", "c", None, can_post=False)
    assert posting_refusal(dm, Button(dm, "render")) is None


# ---- Discord ---------------------------------------------------------------------------------
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


def _talk(dc: DiscordStandIn, voice: bytes, photo: bytes) -> dict[str, Any]:
    files = {
        "201": _attachment(dc, "201", "voice.ogg", voice, "audio/ogg"),
        "202": _attachment(dc, "202", "me.jpg", photo, "image/jpeg"),
    }
    return {
        "id": "77",
        "name": "talk",
        "type": 1,
        "resolved": {"attachments": files},
        "options": [
            {"name": "script", "type": 3, "value": "Hello from a muted member."},
            {"name": "voice", "type": 11, "value": "201"},
            {"name": "photo", "type": 11, "value": "202"},
        ],
    }


def _downloaded(dc: DiscordStandIn) -> list[str]:
    return [r.path for r in dc.requests if r.path.startswith("/att/")]


def test_discord_member_who_cannot_post_there_gets_no_video_there(
    tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    """A member without Send Messages (or View Channel, or Attach Files) in the channel: /talk
    is answered with one ephemeral line, nothing is downloaded, no draft is made; Render on a
    finished draft is refused the same way and no job is queued. With the rights, the same
    Render queues the job."""

    async def go() -> None:
        async with discord_system(tmp_path) as (dc, client, store, _):

            async def run(
                who: dict[str, Any], kind: int, data: dict[str, Any], **extra: Any
            ) -> Any:
                before = len(dc.followups())
                payload: Any = guild_interaction(kind, data, who, **extra)
                client._connection.parse_interaction_create(payload)
                await dc.wait_for(lambda: len(dc.followups()) > before, timeout=20)
                return dc.followups()[-1]

            everything = discord.Permissions(
                view_channel=True, send_messages=True, attach_files=True
            )
            assert everything.value == CAN_POST
            for missing in ("send_messages", "view_channel", "attach_files"):
                rights = discord.Permissions(CAN_POST)
                setattr(rights, missing, False)
                data = _talk(dc, sample_voice.read_bytes(), sample_photo.read_bytes())
                answer = await run(member(MEMBER, rights.value), 2, data)
                assert answer.json["content"] == texts.CANNOT_POST_HERE, missing  # said once
                assert answer.json["flags"] & 64, missing  # only they see it
                assert dc.callbacks()[-1].json == {"type": 5, "data": {"flags": 64}}
            assert _downloaded(dc) == []
            assert await store.drafts.get("discord", MEMBER, CHANNEL) is None

            # a draft made while they could post; the rights are gone at Render
            for digest, kind in (("v" * 64, "audio"), ("p" * 64, "image")):
                path = tmp_path / f"{digest[0]}.bin"
                path.write_bytes(b"media " + digest.encode())
                await store.media.put(digest, kind, path.stat().st_size, "", path)
            await store.drafts.put("discord", MEMBER, CHANNEL, ready_draft("d1"), guild_id=GUILD)
            render = f"mp:{MEMBER}:render:"
            press: dict[str, Any] = {"custom_id": render, "component_type": 2}
            button = with_button(dc, render)
            no_send = discord.Permissions(view_channel=True, attach_files=True).value
            answer = await run(member(MEMBER, no_send), 3, press, message=button)
            assert answer.json["content"] == texts.CANNOT_POST_HERE
            assert answer.json["flags"] & 64
            assert await store.jobs.recent("discord", MEMBER) == []  # no job
            assert await store.drafts.get("discord", MEMBER, CHANNEL) is not None  # kept
            assert dc.channel_posts(CHANNEL) == []  # nothing posted in the channel

            answer = await run(member(MEMBER, CAN_POST), 3, press, message=button)
            assert answer.json["content"].startswith(texts.QUEUED.split("{")[0])
            assert not answer.json.get("flags", 0) & 64
            assert len(await store.jobs.recent("discord", MEMBER)) == 1

    asyncio.run(go())


def test_discord_direct_messages_need_no_channel_rights(tmp_path: Path) -> None:
    """In a DM Discord resolves no member permissions: nothing is posted for anyone else to
    see, so /talk works there."""

    async def go() -> None:
        async with discord_system(tmp_path) as (dc, client, _, _):
            talk = {
                "id": "77",
                "name": "talk",
                "type": 1,
                "options": [{"name": "script", "type": 3, "value": "Hello from a DM."}],
            }
            dm = {
                **guild_interaction(2, talk, member(MEMBER, 0)),
                "channel_id": "5000",
                "channel": {"id": "5000", "type": 1},
                "user": user(MEMBER),
            }
            for key in ("guild_id", "member", "guild_locale"):
                dm.pop(key)
            client._connection.parse_interaction_create(dm)  # type: ignore[arg-type]
            await dc.wait_for(lambda: len(dc.followups()) >= 1, timeout=20)
            assert followup_texts(dc)[-1].startswith(texts.START)
            assert not dc.followups()[-1].json.get("flags", 0) & 64

    asyncio.run(go())


def test_discord_forwarded_attachments_in_a_dm_are_refused(
    tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    """A forwarded message in a DM: its files (the message snapshot) are someone else's,
    refused with the reason in attest mode, nothing downloaded."""

    async def go() -> None:
        async with discord_system(tmp_path) as (dc, client, _, _):
            dm = "5000"
            voice = _attachment(dc, "301", "voice.ogg", sample_voice.read_bytes(), "audio/ogg")
            photo = _attachment(dc, "302", "me.jpg", sample_photo.read_bytes(), "image/jpeg")
            snapshot = {
                k: v
                for k, v in dc.message("1", {}).items()
                if k in ("type", "content", "embeds", "timestamp", "edited_timestamp", "flags")
            }
            forward = {
                **dc.message(dm, {}),
                "author": user(MEMBER),
                "flags": 16384,
                "message_reference": {"type": 1, "channel_id": "1", "message_id": "2"},
                "message_snapshots": [{"message": {**snapshot, "attachments": [voice, photo]}}],
            }
            client._connection.parse_message_create(forward)  # type: ignore[arg-type]

            def said() -> list[str]:
                return [(r.json or {}).get("content", "") for r in dc.channel_posts(dm)]

            await dc.wait_for(lambda: len(said()) >= 2, timeout=20)
            assert said() == [texts.FORWARDED_VOICE, texts.FORWARDED_PHOTO]
            assert _downloaded(dc) == []

    asyncio.run(go())
