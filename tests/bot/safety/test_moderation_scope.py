"""Two levels of authority, on both platforms, through the real client libraries against the
stand-in servers: a moderator of server A (anyone can make a server and be its admin) can
neither purge, ban, cancel, take down nor read the audit of a person's activity elsewhere;
the bot's operators can, everywhere, and their ban holds in DMs and every server."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import discord

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.jobs import RenderJob, job_id_for
from bot.conversation.flow import Draft
from tests.auxil.system import (
    GUILD,
    MEMBER,
    MODERATOR,
    discord_system,
    followup_texts,
    guild_interaction,
    member,
    mod_command,
    telegram_system,
    with_button,
)

OPERATOR = "11"
ELSEWHERE, ELSEWHERE_CHANNEL = "400", "901"
USER_OPT = {"name": "user", "type": 6, "value": MEMBER}
EVERYWHERE = {"name": "everywhere", "type": 5, "value": True}


async def activity(
    store: Store, queue: Queue, tmp: Path, platform: str, who: str, chat: str, guild: str | None
) -> RenderJob:
    """A person's trail where they made a video: uploads (file, row, Redis copy), a saved
    voice, a draft, and a queued job with its script."""
    digests = []
    for name, data in (("voice.ogg", b"OggS their voice"), ("face.jpg", b"JPEG their face")):
        path = tmp / "media" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        await store.media.put(digest, "audio", len(data), "", path)
        await queue.put_media(digest, data)
        digests.append(digest)
    voice, photo = digests
    await store.voices.save(platform, who, "mine", voice, 5.0, None)
    draft = Draft(id="next", script="draft words elsewhere", voice_hash=voice)
    await store.drafts.put(platform, who, chat, draft, guild_id=guild)
    job = RenderJob(
        job_id_for(f"{platform}-{who}-{chat}-d1"), platform, who, chat, "secret words", voice, photo
    )
    await store.jobs.add(job, guild)
    assert await queue.enqueue(job)
    return job


async def still_there(store: Store, queue: Queue, job: RenderJob, status: str = "queued") -> None:
    row = await store.database.one("SELECT payload FROM jobs WHERE job_id=?", job.job_id)
    assert row is not None and "secret words" in row[0]
    assert [v.name for v in await store.voices.list(job.platform, job.user_id)] == ["mine"]
    assert await store.drafts.get(job.platform, job.user_id, job.chat_id) is not None
    assert await _files(store, job) == 2
    live = await queue.record(job.job_id)
    assert live is not None and live.state == status


async def _files(store: Store, job: RenderJob) -> int:
    """How many of the job's uploads the bot still keeps."""
    return len(await store.safety.places.media_paths((job.voice_hash, job.photo_hash)))


async def gone(store: Store, job: RenderJob) -> None:
    row = await store.database.one("SELECT payload, status FROM jobs WHERE job_id=?", job.job_id)
    assert row is not None and "secret words" not in row[0] and row[1] == "cancelled"
    assert await store.voices.list(job.platform, job.user_id) == []
    assert await store.drafts.get(job.platform, job.user_id, job.chat_id) is None
    assert await _files(store, job) == 0


def test_discord_server_moderators_act_on_their_server_only_operators_everywhere(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        async with discord_system(tmp_path, discord_operator_ids=OPERATOR) as (
            dc,
            client,
            store,
            service,
        ):
            queue = service.gateway
            assert isinstance(queue, Queue)
            job = await activity(
                store, queue, tmp_path, "discord", MEMBER, ELSEWHERE_CHANNEL, ELSEWHERE
            )

            async def run(
                member: dict[str, Any], kind: int, data: dict[str, Any], **kw: Any
            ) -> str:
                before = len(dc.followups())
                interaction = guild_interaction(kind, data, member, **kw)
                client._connection.parse_interaction_create(interaction)  # type: ignore[arg-type]
                await dc.wait_for(lambda: len(dc.followups()) > before, timeout=20)
                return followup_texts(dc)[-1]

            async def mod(member: dict[str, Any], sub: str, *options: dict[str, Any]) -> str:
                return await run(member, 2, mod_command(sub, list(options)))

            async def press(member: dict[str, Any], action: str) -> str:
                custom_id = f"mp:{member['user']['id']}:{action}:{job.job_id}"
                data = {"custom_id": custom_id, "component_type": 2}
                return await run(member, 3, data, message=with_button(dc, custom_id))

            # 1. A's moderator (Manage Server in A) reaches nothing of what happened in B.
            manager = member(MODERATOR, discord.Permissions(manage_guild=True).value)
            for sub, options in (
                ("purge", (USER_OPT, EVERYWHERE)),
                ("ban", (USER_OPT, EVERYWHERE)),
                ("unban", (USER_OPT, EVERYWHERE)),
                ("audit", (EVERYWHERE,)),
                ("queue", (EVERYWHERE,)),
                ("reviews", (EVERYWHERE,)),
                ("log", (EVERYWHERE,)),
            ):
                assert await mod(manager, sub, *options) == texts.MOD_OPERATOR_ONLY, sub
            here = await mod(manager, "purge", USER_OPT)
            assert here == texts.MOD_PURGED_HERE.format(
                user=MEMBER, drafts=0, voices=0, media=0, outputs=0, jobs=0
            )
            assert await mod(manager, "ban", USER_OPT) == texts.MOD_BANNED.format(user=MEMBER)
            assert await store.safety.bans.is_banned("discord", GUILD, MEMBER)
            assert not await store.safety.bans.is_banned("discord", ELSEWHERE, MEMBER)
            assert not await store.safety.bans.is_banned("discord", "", MEMBER)
            assert await mod(manager, "audit") == texts.MOD_AUDIT_EMPTY
            assert await mod(manager, "queue") == texts.MOD_QUEUE_EMPTY
            short = job.job_id[:8]
            takedown = {"name": "job", "type": 3, "value": job.job_id}
            assert await mod(manager, "takedown", takedown) == texts.MOD_JOB_NOT_HERE.format(
                job=short
            )
            assert await press(manager, "mod_cancel") == texts.MOD_REVIEW_GONE.format(job=short)
            assert await press(manager, "cancel_job") == texts.JOB_NOT_YOURS
            await still_there(store, queue, job)
            log = await mod(manager, "log")
            assert f"{MODERATOR} · ban {MEMBER}" in log and "purge" in log  # A's own log

            # 2. An operator, in server A without any permission there, acts everywhere.
            operator = member(OPERATOR, 0)
            audit = await mod(operator, "audit", EVERYWHERE)
            assert f"job {short}" in audit and f"server {ELSEWHERE}" in audit
            assert f"server {GUILD}" in await mod(operator, "log", EVERYWHERE)
            assert await press(operator, "mod_cancel") == texts.MOD_CANCELLED.format(job=short)
            live = await queue.record(job.job_id)
            assert live is not None and live.state == "cancelled"
            banned = await mod(operator, "ban", USER_OPT, EVERYWHERE)
            assert banned == texts.MOD_BANNED_EVERYWHERE.format(user=MEMBER)
            assert await store.safety.bans.is_banned("discord", "", MEMBER)  # DMs too
            talk = {
                "id": "77",
                "name": "talk",
                "type": 1,
                "options": [{"name": "script", "type": 3, "value": "Hello."}],
            }
            channel = {
                "id": ELSEWHERE_CHANNEL,
                "type": 0,
                "guild_id": ELSEWHERE,
                "name": "b",
                "position": 1,
            }
            refused = await run(
                member(MEMBER, 0),
                2,
                talk,
                guild_id=ELSEWHERE,
                channel_id=ELSEWHERE_CHANNEL,
                channel=channel,
            )
            assert set(refused.split("\n")) == {texts.BANNED_EVERYWHERE}  # /talk and its script
            purged = await mod(operator, "purge", USER_OPT, EVERYWHERE)
            assert purged.startswith(
                f"Removed user {MEMBER}'s data everywhere: 1 draft(s), 1 saved"
            )
            await gone(store, job)

    asyncio.run(go())


def test_telegram_group_admins_act_on_their_group_only_operators_everywhere(
    tmp_path: Path,
) -> None:
    person, group_admin, operator, group = 501, 503, 502, -900

    async def go() -> None:
        async with telegram_system(tmp_path, admins=str(operator)) as (tg, service, store):
            queue = service.gateway
            assert isinstance(queue, Queue)
            # the person's activity: their private chat with the bot (no server)
            job = await activity(store, queue, tmp_path, "telegram", str(person), str(person), None)
            tg.chat_admins[group] = [group_admin]
            short = job.job_id[:8]

            async def say(chat: int, text: str, user: int | None = None) -> str:
                before = len(tg.texts(chat))
                tg.send_text(chat, text, user_id=user)
                await tg.wait_for(lambda: len(tg.texts(chat)) > before)
                return tg.texts(chat)[-1]

            async def press(chat: int, data: str, user: int) -> str:
                before = len(tg.texts(chat))
                tg.press(chat, data, user_id=user)
                await tg.wait_for(lambda: len(tg.texts(chat)) > before)
                return tg.texts(chat)[-1]

            # 1. The group's administrator, in the group: their group only.
            for line in (
                f"/mod purge {person} everywhere",
                f"/mod ban {person} everywhere",
                "/mod audit everywhere",
                "/mod queue everywhere",
                "/mod log everywhere",
            ):
                assert await say(group, line, group_admin) == texts.MOD_OPERATOR_ONLY, line
            assert await say(group, f"/mod purge {person}", group_admin) == (
                texts.MOD_PURGED_HERE.format(
                    user=person, drafts=0, voices=0, media=0, outputs=0, jobs=0
                )
            )
            banned = await say(group, f"/mod ban {person}", group_admin)
            assert banned == texts.MOD_BANNED.format(user=person)
            assert not await store.safety.bans.is_banned("telegram", "", str(person))
            # a view shows people's data: answered in the admin's private chat, not the group
            assert await say(group, "/mod audit", group_admin) == texts.MOD_SENT_PRIVATELY
            assert tg.texts(group_admin)[-1] == texts.MOD_AUDIT_EMPTY
            assert await say(group, f"/mod takedown {job.job_id}", group_admin) == (
                texts.MOD_JOB_NOT_HERE.format(job=short)
            )
            assert await press(group, f"mod_cancel|{job.job_id}", group_admin) == (
                texts.MOD_REVIEW_GONE.format(job=short)
            )
            # in a private chat the group's admin is nobody's moderator
            assert await say(group_admin, f"/cancel {job.job_id}") == texts.JOB_NOT_YOURS
            assert await say(group_admin, "/mod audit") == texts.MOD_ONLY
            await still_there(store, queue, job)

            # 2. The operator (TELEGRAM_ADMIN_IDS), from their private chat: everywhere.
            assert f"job {short}" in await say(operator, "/mod audit")  # the DMs' own audit
            assert f"job {short}" in await say(operator, "/mod audit everywhere")
            assert await say(operator, f"/cancel {short}") == texts.JOB_CANCELLED.format(job=short)
            assert await say(operator, f"/mod ban {person} everywhere") == (
                texts.MOD_BANNED_EVERYWHERE.format(user=person)
            )
            assert await say(person, "/talk") == texts.BANNED_EVERYWHERE
            assert await say(operator, f"/mod takedown {job.job_id} rights claim") == (
                texts.MOD_TAKEN_DOWN.format(job=short) + texts.MOD_UNPOSTED_NOTHING
            )
            assert tg.texts(person)[-1] == texts.TAKEDOWN_NOTICE.format(job=short)
            purged = await say(operator, f"/mod purge {person} everywhere")
            assert purged.startswith(f"Removed user {person}'s data everywhere: 1 draft(s)")
            await gone(store, job)
            (record,) = await store.safety.log.recent_renders("telegram", None)
            assert record.taken_down and record.user_id == str(person)  # the audit entry stays

    asyncio.run(go())
