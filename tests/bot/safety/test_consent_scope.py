"""Consent bound to where it was given, over real SQLite and a real redis-server.

Anyone can create a Discord server, set it to review mode and approve their own renders
there (or have a friend do it). Such an approval counts in that server only: in a victim's
community server that asks for the spoken phrase, the same voice gets the phrase check. An
operator's approval and a phrase heard in the voice note count everywhere. Nobody approves
their own request; the audit says how consent was verified and where; a saved voice keeps
its consents per scope; databases of the previous version are upgraded to the same rules.
Review requests reach the moderators' channel (Discord) and, for direct messages, the
operators' private chats (Telegram) or DMs (Discord) with Approve and Deny that any
moderator of the scope may press.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import discord
from arq import func

from bot.chat.queue import Queue
from bot.chat.store import MIGRATIONS, Store
from bot.contract import texts
from bot.contract.events import Button, Command, Notify, Reply, Who
from bot.contract.jobs import JobState
from bot.conversation.service import Limits, Service
from bot.db import Database
from bot.safety import Staff
from bot.safety.policy import RateLimits, Safety, ServerPolicy
from bot.settings import BotSettings
from bot.worker import WorkerContext, notify, notify_staff
from bot.worker.delivery.discord import DiscordDelivery
from bot.worker.delivery.telegram import TelegramDelivery
from tests.auxil.discord_server import DiscordStandIn, user
from tests.auxil.redis_server import redis_server
from tests.auxil.system import (
    CAN_POST,
    CHANNEL,
    MEMBER,
    MODERATOR,
    discord_system,
    followup_texts,
    guild_interaction,
    intake_worker,
    member,
    mod_command,
    ready_draft,
    redis_url_of,
    telegram_system,
    with_button,
)

A, B = "gA", "gB"  # the attacker's own server; the victim's community server
VOICE = "v" * 64
#: the attacker: administrator of their own server A, a plain member of B
ATTACKER_IN_A = Who("discord", "42", "chanA", A, "Att", server_admin=True)
ATTACKER_IN_B = Who("discord", "42", "chanB", B, "Att")
ACCOMPLICE = Who("discord", "43", "chanA2", A, "Acc", server_admin=True)  # another admin of A
MOD_B = Who("discord", "7", "modB", B, "Mo", server_admin=True)
OPERATOR_IN_A = Who("discord", "1", "chanA3", A, "Op")  # an operator, by DISCORD_OPERATOR_IDS
QUEUED = texts.QUEUED.split("{")[0]


def _texts(actions: list[Any]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Reply) and not isinstance(a, Notify)]


@asynccontextmanager
async def service(tmp: Path) -> AsyncIterator[tuple[Service, Store, Queue]]:
    """The service with attest as the operator's floor, no speech recognition (a phrase goes
    to a moderator), operator "1" on Discord and "1" on Telegram, the uploads in place."""
    with redis_server(tmp) as url:
        store = await Store.open(tmp / "db.sqlite3")
        queue = await Queue.connect(url, intake_timeout=2.0)
        ops = frozenset({"1"})
        safety = Safety(
            defaults=ServerPolicy(limits=RateLimits(-1, -1, -1, -1, -1, -1)),
            out_dir=tmp / "out",
            staff=Staff(operators={"discord": ops, "telegram": ops}),
        )
        for digest in (VOICE, "p" * 64):
            path = tmp / "media" / f"{digest}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"media " + digest.encode())
            await store.media.put(digest, "audio", path.stat().st_size, "", path)
        try:
            yield Service(store, queue, tmp / "media", Limits(), safety=safety), store, queue
        finally:
            await queue.close()
            await store.close()


async def _render(svc: Service, store: Store, who: Who, draft_id: str) -> str:
    await store.drafts.put(who.platform, who.user_id, who.chat_id, ready_draft(draft_id, VOICE))
    return _texts(await svc.handle(Button(who, "render")))[0]


async def _mod(svc: Service, who: Who, args: str) -> str:
    return _texts(await svc.handle(Command(who, "mod", args)))[0]


def test_an_approval_in_one_server_does_not_satisfy_another_servers_phrase_mode(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            await _mod(svc, ATTACKER_IN_A, "consent review")
            await _mod(svc, MOD_B, "consent phrase")
            await store.voices.save("discord", "42", "mine", VOICE, 5.0, None)
            # the attacker's own server: a friend approves the victim's voice there
            assert (await _render(svc, store, ATTACKER_IN_A, "a1")).startswith("A moderator")
            (review,) = await store.safety.reviews.pending_reviews("discord", A)
            approved = await svc.handle(Button(ACCOMPLICE, "mod_approve", review.job.job_id))
            assert _texts(approved) == [texts.MOD_APPROVED.format(job=review.job.job_id[:8])]
            assert list(
                await store.safety.consent.saved_voice_consents("discord", "42", "mine")
            ) == [A]

            # the victim's server asks for the phrase: the same voice is not queued at once
            asked = await _render(svc, store, ATTACKER_IN_B, "b1")
            phrase = await store.safety.consent.phrase_for("discord", "42", "chanB", "b1")
            assert phrase and asked == texts.PHRASE_NEEDED.format(phrase=phrase)
            assert await store.safety.places.open_in_scope("discord", B) == []
            # /talk there shows the phrase, and Render then checks for it (no speech
            # recognition here: a moderator of B listens for it)
            start = _texts(await svc.handle(Command(ATTACKER_IN_B, "talk")))
            draft = await store.drafts.get("discord", "42", "chanB")
            assert draft is not None
            phrase = await store.safety.consent.phrase_for("discord", "42", "chanB", draft.id)
            assert start[-1] == texts.PHRASE_INTRO.format(phrase=phrase)
            held = await _render(svc, store, ATTACKER_IN_B, draft.id)
            assert held.startswith(texts.AWAITING_REVIEW.split("(")[0])
            (in_b,) = await store.safety.reviews.pending_reviews("discord", B)
            assert in_b.phrase == phrase
            assert await queue.record(in_b.job.job_id) is None
            # B's audit does not claim a phrase, nor an approval it never gave
            audit_b = await _mod(svc, MOD_B, "audit")
            assert "· review · consent phrase ·" in audit_b and "approval" not in audit_b

            # in the server where it was given, the approval counts
            await _mod(svc, ATTACKER_IN_A, "consent phrase")
            assert (await _render(svc, store, ATTACKER_IN_A, "a2")).startswith(QUEUED)
            audit_a = await _mod(svc, ATTACKER_IN_A, "audit 1")
            assert (
                f"consent moderator approval in server {A} by 43, carried by the same voice "
                "(phrase mode)"
            ) in audit_a

    asyncio.run(go())


def test_nobody_approves_their_own_request(tmp_path: Path) -> None:
    mod_a = Who("discord", "44", "chanA4", A, "Mod", server_admin=True)
    operator_dm = Who("telegram", "1", "1", None, "Op")

    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            await _mod(svc, ATTACKER_IN_A, "consent review")
            await _render(svc, store, ATTACKER_IN_A, "a1")
            (review,) = await store.safety.reviews.pending_reviews("discord", A)
            job_id, short = review.job.job_id, review.job.job_id[:8]
            refused = await svc.handle(Button(ATTACKER_IN_A, "mod_approve", job_id))
            assert _texts(refused) == [texts.MOD_SELF_APPROVAL.format(job=short)]
            assert not [a for a in refused if isinstance(a, Notify)]  # nobody was told
            assert len(texts.MOD_SELF_APPROVAL.format(job=short).splitlines()) == 1
            # the review stays open, for another moderator
            assert [
                r.job.job_id for r in await store.safety.reviews.pending_reviews("discord", A)
            ] == [job_id]
            assert await queue.record(job_id) is None
            assert await store.safety.reviews.decide_review(job_id, True, "42") is None
            approved = await svc.handle(Button(mod_a, "mod_approve", job_id))
            assert _texts(approved) == [texts.MOD_APPROVED.format(job=short)]

            # an operator's own request (in the DMs, where only operators review) too
            await _mod(svc, operator_dm, "consent review")
            await store.drafts.put("telegram", "1", "1", ready_draft("t1", VOICE))
            await svc.handle(Button(operator_dm, "render"))
            (own,) = await store.safety.reviews.pending_reviews("telegram", "")
            got = await svc.handle(Button(operator_dm, "mod_approve", own.job.job_id))
            assert _texts(got) == [texts.MOD_SELF_APPROVAL.format(job=own.job.job_id[:8])]
            place = await store.safety.places.job_place(own.job.job_id)
            assert place is not None and place.status == JobState.REVIEW

    asyncio.run(go())


def test_the_audit_says_how_consent_was_verified_and_where(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            await _mod(svc, MOD_B, "consent phrase")
            await store.drafts.put("discord", "42", "chanB", ready_draft("b1", VOICE))
            await svc.handle(Button(ATTACKER_IN_B, "render"))  # asks for the phrase
            await _render(svc, store, ATTACKER_IN_B, "b1")  # no speech recognition: a review
            (review,) = await store.safety.reviews.pending_reviews("discord", B)
            await svc.handle(Button(MOD_B, "mod_approve", review.job.job_id))
            audit = await _mod(svc, MOD_B, "audit 1")
            assert f"consent moderator approval in server {B} by 7 (phrase mode)" in audit
            assert "phrase heard" not in audit  # a moderator listened; no phrase was checked
            (record,) = await store.safety.log.recent_renders("discord", B)
            assert (record.method, record.valid_in, record.by) == ("approval", B, "7")

    asyncio.run(go())


def test_an_operators_approval_counts_everywhere(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            await _mod(svc, ATTACKER_IN_A, "consent review")
            await _mod(svc, MOD_B, "consent phrase")
            await _render(svc, store, ATTACKER_IN_A, "a1")
            (review,) = await store.safety.reviews.pending_reviews("discord", A)
            await svc.handle(Button(OPERATOR_IN_A, "mod_approve", review.job.job_id))
            audit_a = await _mod(svc, OPERATOR_IN_A, "audit 1")
            assert f"consent operator approval in server {A} by 1, valid everywhere" in audit_a

            assert (await _render(svc, store, ATTACKER_IN_B, "b1")).startswith(QUEUED)
            audit_b = await _mod(svc, MOD_B, "audit 1")
            assert (
                f"consent operator approval in server {A} by 1, valid everywhere, carried by the "
                "same voice (phrase mode)"
            ) in audit_b
            # and a voice saved afterwards carries it, for every scope
            await store.voices.save("discord", "42", "mine", VOICE, 5.0, None)
            await store.safety.consent.link_voice_consent("discord", "42", "mine")
            saved = await store.safety.consent.saved_voice_consents("discord", "42", "mine")
            assert list(saved) == ["*"] and saved["*"].method == "operator"

    asyncio.run(go())


def test_records_of_the_previous_version_are_bound_where_they_were_given(tmp_path: Path) -> None:
    """Upgrading keeps a heard phrase valid everywhere and an approval in its server only;
    a self-approval and a carried record (``voice:...``) verify nothing."""
    path = tmp_path / "old.sqlite3"

    async def go() -> None:
        old = await Database.open(path, MIGRATIONS[:4])
        rows = [
            ("v1", A, "moderator:43"),  # a friend's approval in the attacker's server
            ("v1", B, "voice:moderator:43"),  # ...carried into the victim's server
            ("v2", A, "moderator:42"),  # the requester approved their own
            ("v3", B, "asr"),  # a phrase heard
        ]
        async with old.writing() as db:
            await db.execute(
                "INSERT INTO users (platform, user_id, created) VALUES ('discord', '42', 0)"
            )
            for n, (voice, guild, verified) in enumerate(rows):
                await db.execute(
                    "INSERT INTO consents (platform, user_id, job_id, voice_digest, photo_digest, "
                    "script_digest, mode, at, guild_id, verified) "
                    "VALUES ('discord', '42', ?, ?, 'p', 's', 'phrase', ?, ?, ?)",
                    (f"j{n}", voice, n, guild, verified),
                )
        await old.close()
        store = await Store.open(path)
        try:
            consent = store.safety.consent
            got = await consent.voice_consent("discord", "42", "v1", A)
            assert got is not None and (got.method, got.by) == ("approval", "43")
            assert await consent.voice_consent("discord", "42", "v1", B) is None
            assert await consent.voice_consent("discord", "42", "v2", A) is None
            heard = await consent.voice_consent("discord", "42", "v3", "elsewhere")
            assert heard is not None and heard.method == "phrase"
        finally:
            await store.close()

    asyncio.run(go())


# ---- review requests reach the moderators where they work -----------------------------------
def staff_worker(url: str, messengers: dict[str, Any], tmp: Path) -> Any:
    """A worker's intake queue sending the bot's notices (the staff's among them)."""
    house = WorkerContext(BotSettings(), tmp, tmp, messengers=messengers)
    functions = [func(notify, keep_result=0), func(notify_staff, keep_result=0)]
    return intake_worker(url, functions, house)


async def _media(store: Store, tmp: Path) -> None:
    for digest, data in ((VOICE, b"OggS voice"), ("p" * 64, b"JPEG face")):
        path = tmp / f"{digest[:4]}.bin"
        path.write_bytes(data)
        await store.media.put(digest, "audio", len(data), "", path)


def test_a_review_request_reaches_the_discord_moderators_channel(tmp_path: Path) -> None:
    other_mod = "12"

    async def go() -> None:
        async with (
            discord_system(tmp_path, consent_mode="review") as (dc, client, store, service),
            aiohttp.ClientSession() as session,
            staff_worker(
                redis_url_of(service.gateway),
                {"discord": DiscordDelivery(session, dc.api, "TEST")},
                tmp_path,
            ),
        ):
            manager = member(MODERATOR, discord.Permissions(manage_guild=True).value)
            set_here = [{"name": "action", "type": 3, "value": "set"}]
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(2, mod_command("reviews-channel", set_here), manager)
            )
            await dc.wait_for(lambda: len(dc.followups()) >= 1)
            assert followup_texts(dc)[-1] == texts.MOD_REVIEWS_CHANNEL.format(channel=CHANNEL)

            await _media(store, tmp_path)
            await store.drafts.put("discord", MEMBER, CHANNEL, ready_draft("d1", VOICE, "Hi."))
            press = {"custom_id": f"mp:{MEMBER}:render:", "component_type": 2}
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(
                    3, press, member(MEMBER, CAN_POST), message=with_button(dc, press["custom_id"])
                )
            )

            def request() -> Any:
                for post in dc.channel_posts(CHANNEL):
                    if "waits for a consent review" in (post.json or {}).get("content", ""):
                        return post
                return None

            await dc.wait_for(lambda: request() is not None, timeout=20)
            post = request()
            (job,) = await store.safety.places.open_in_scope("discord", "300")
            ids = [c["custom_id"] for row in post.json["components"] for c in row["components"]]
            assert ids == [f"mp:0:mod_approve:{job.job_id}", f"mp:0:mod_deny:{job.job_id}"]
            assert "Hi." not in post.json["content"]  # the script stays in /mod reviews

            # a plain member may press it, and is refused by the bot (not their button to use)
            approve = ids[0]
            posted = dc.message(CHANNEL, post.json)
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(
                    3,
                    {"custom_id": approve, "component_type": 2},
                    member("13", CAN_POST),
                    message=posted,
                )
            )
            await dc.wait_for(lambda: texts.MOD_BUTTON_ONLY in followup_texts(dc))
            # any moderator of the server decides it from there
            other = member(other_mod, discord.Permissions(manage_guild=True).value)
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(
                    3, {"custom_id": approve, "component_type": 2}, other, message=posted
                )
            )
            await _approval_told(dc, job.job_id, CHANNEL)
            (record,) = await store.safety.log.recent_renders("discord", "300")
            assert (record.method, record.by) == ("approval", other_mod)

    asyncio.run(go())


def test_a_review_request_reaches_the_telegram_operators_private_chats(tmp_path: Path) -> None:
    requester, admin, other_admin = 601, 602, 603

    async def go() -> None:
        async with (
            telegram_system(tmp_path, admins=f"{admin},{other_admin}", consent_mode="review") as (
                tg,
                service,
                store,
            ),
            aiohttp.ClientSession() as session,
            staff_worker(
                redis_url_of(service.gateway),
                {"telegram": TelegramDelivery(session, tg.url, "123:TEST")},
                tmp_path,
            ),
        ):
            await _media(store, tmp_path)
            draft = ready_draft("d1", VOICE, script="Hi.")
            await store.drafts.put("telegram", str(requester), str(requester), draft)
            tg.press(requester, "render|")
            for chat in (admin, other_admin):
                await tg.wait_for(
                    lambda chat=chat: any(b.startswith("mod_approve|") for b in tg.buttons(chat)),
                    timeout=20,
                )
            (job,) = await store.safety.places.open_in_scope("telegram", "")
            assert tg.buttons(admin) == [f"mod_approve|{job.job_id}", f"mod_deny|{job.job_id}"]
            assert any("waits for a consent review" in t for t in tg.texts(admin))
            assert not any(b.startswith("mod_") for b in tg.buttons(requester))
            tg.press(other_admin, f"mod_approve|{job.job_id}")
            await tg.wait_for(
                lambda: any(t.startswith("A moderator approved") for t in tg.texts(requester))
            )
            (record,) = await store.safety.log.recent_renders("telegram", "")
            assert (record.method, record.valid_in, record.by) == (
                "operator",
                "*",
                str(other_admin),
            )

    asyncio.run(go())


def _dm_interaction(data: dict[str, Any], who: str, channel: str, **extra: Any) -> dict[str, Any]:
    """A button press by ``who`` in their direct messages with the bot (no server)."""
    payload = {
        **guild_interaction(3, data, member(who, 0)),
        "channel_id": channel,
        "channel": {"id": channel, "type": 1},
        "user": user(who),
        **extra,
    }
    for key in ("guild_id", "member", "guild_locale"):
        payload.pop(key)
    return payload


def _review_requests(dc: DiscordStandIn) -> dict[str, Any]:
    """The review request each person got in their DMs, by their user id."""
    return {
        person: post
        for person, channel in dc.dms.items()
        for post in dc.channel_posts(channel)
        if "waits for a consent review" in (post.json or {}).get("content", "")
    }


def test_a_review_request_reaches_the_discord_operators_direct_messages(tmp_path: Path) -> None:
    """Discord's DMs belong to no server: their reviews go to each operator's DMs (opened
    by the worker), never the requester's own, though they are an operator too."""
    requester_dm, operator, other_operator = "5000", "11", "12"

    async def go() -> None:
        async with (
            discord_system(
                tmp_path,
                consent_mode="review",
                discord_operator_ids=f"{operator},{other_operator},{MEMBER}",
            ) as (dc, client, store, service),
            aiohttp.ClientSession() as session,
            staff_worker(
                redis_url_of(service.gateway),
                {"discord": DiscordDelivery(session, dc.api, "TEST")},
                tmp_path,
            ),
        ):
            await _media(store, tmp_path)
            draft = ready_draft("d1", VOICE, "Hi.")
            await store.drafts.put("discord", MEMBER, requester_dm, draft)
            render = f"mp:{MEMBER}:render:"
            row = {
                "type": 1,
                "components": [{"type": 2, "style": 1, "label": "b", "custom_id": render}],
            }
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                _dm_interaction(
                    {"custom_id": render, "component_type": 2},
                    MEMBER,
                    requester_dm,
                    message=dc.message(requester_dm, {"components": [row]}),
                )
            )
            await dc.wait_for(
                lambda: {operator, other_operator} <= set(_review_requests(dc)), timeout=20
            )
            (job,) = await store.safety.places.open_in_scope("discord", "")
            post = _review_requests(dc)[other_operator]
            ids = [c["custom_id"] for row in post.json["components"] for c in row["components"]]
            assert ids == [f"mp:0:mod_approve:{job.job_id}", f"mp:0:mod_deny:{job.job_id}"]
            assert "Hi." not in post.json["content"]  # the script stays in /mod reviews

            # the other operator decides it from their own DMs
            channel = dc.dms[other_operator]
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                _dm_interaction(
                    {"custom_id": ids[0], "component_type": 2},
                    other_operator,
                    channel,
                    message=dc.message(channel, post.json),
                )
            )
            await _approval_told(dc, job.job_id, requester_dm)
            (record,) = await store.safety.log.recent_renders("discord", "")
            assert (record.method, record.valid_in, record.by) == (
                "operator",
                "*",
                other_operator,
            )
            # the requester, an operator too, was not asked to review their own request
            assert MEMBER not in dc.dms and MEMBER not in _review_requests(dc)
            assert not any(
                c["custom_id"].split(":")[2].startswith("mod_")
                for p in dc.channel_posts(requester_dm)
                for row in (p.json or {}).get("components", [])
                for c in row["components"]
            )

    asyncio.run(go())


async def _approval_told(dc: DiscordStandIn, job_id: str, channel: str) -> None:
    """Wait for the approving moderator's answer and for the requester to be told, in
    ``channel``."""
    await dc.wait_for(lambda: texts.MOD_APPROVED.format(job=job_id[:8]) in followup_texts(dc))
    await dc.wait_for(
        lambda: any(
            (p.json or {}).get("content", "").startswith("A moderator approved")
            for p in dc.channel_posts(channel)
        )
    )


def test_a_server_sets_and_clears_its_reviews_channel(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            assert await _mod(svc, MOD_B, "reviews-channel") == texts.MOD_REVIEWS_CHANNEL_NONE
            assert await _mod(svc, MOD_B, "reviews-channel <#555>") == (
                texts.MOD_REVIEWS_CHANNEL.format(channel="555")
            )
            assert await _mod(svc, MOD_B, "reviews-channel here") == (
                texts.MOD_REVIEWS_CHANNEL.format(channel=MOD_B.chat_id)
            )
            assert await _mod(svc, ATTACKER_IN_B, "reviews-channel off") == texts.MOD_ONLY
            assert await _mod(svc, MOD_B, "reviews-channel off") == texts.MOD_REVIEWS_CHANNEL_NONE
            bad = await _mod(svc, MOD_B, "reviews-channel two words")
            assert bad == texts.MOD_BAD.format(usage=texts.MOD_USAGE["reviews-channel"])
            assert await store.safety.policy.guild_policy("discord", B) == {}

    asyncio.run(go())
