"""What moderation does in the chats themselves, through the real client libraries against the
stand-ins, with a worker on the test's loop (no engine: a job's video is already rendered, so
the worker only delivers; previews and deletes are its intake work):

- moderators' views (other people's scripts, ids, voice notes, photos) never appear in a
  Telegram group: they go to the asker's private chat, or the group reads one line asking
  them to start one;
- a review shows previews made by a worker from the decoded uploads (the photo downscaled,
  the voice note's first seconds), far within the platform's limit, not the uploads;
- a takedown deletes the video and the status message the bot posted (Telegram and Discord),
  from the job history after the live record is gone, and records what could not be deleted
  and why; taking it down again retries what is left.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import discord
import numpy as np
from PIL import Image

from bot.chat.adapters.discord import MouthpieceClient, _within, use_api_base
from bot.chat.adapters.telegram import build_application
from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Attachment
from bot.contract.jobs import Keys, job_id_for
from bot.conversation.service import Service
from bot.settings import BotSettings
from bot.worker.intake import PREVIEW_SECONDS, PREVIEW_SIDE
from tests.auxil.discord_server import DiscordStandIn
from tests.auxil.media_fixtures import tone_speech, write_wav
from tests.auxil.ptb import polling
from tests.auxil.redis_server import redis_server
from tests.auxil.system import (
    CAN_POST,
    CHANNEL,
    MEMBER,
    MODERATOR,
    chat_service,
    engine_workers,
    followup_texts,
    guild_interaction,
    member,
    mod_command,
    ready_draft,
    with_button,
)
from tests.auxil.telegram_server import TelegramStandIn

SECRET = "Tell them the launch code is nine nine one."
GROUP = -900


def _settings(tmp: Path, url: str, **overrides: Any) -> BotSettings:
    return BotSettings(
        redis_url=url,
        data_dir=tmp / "data",
        status_edit_seconds=0.2,
        board_interval_seconds=0.2,
        **overrides,
    )


@asynccontextmanager
async def telegram(
    tmp: Path, **overrides: Any
) -> AsyncIterator[tuple[TelegramStandIn, Service, Store, Queue]]:
    """The chat process on Telegram and a worker (render and intake queues, no engine)."""
    tg = TelegramStandIn()
    await tg.start()
    with redis_server(tmp) as url:
        settings = _settings(
            tmp, url, telegram_bot_token="123:TEST", telegram_api_base_url=tg.url, **overrides
        )
        try:
            async with chat_service(settings) as (service, store, queue):
                app = build_application(settings.telegram_bot_token, tg.url, service.handle)
                async with polling(app), engine_workers(settings, None):  # type: ignore[arg-type]
                    yield tg, service, store, queue
        finally:
            await tg.stop()


async def _uploads(store: Store, tmp: Path) -> tuple[int, int]:
    """The requester's voice note (25 s) and photo (1600 x 1200), as the service stored
    them: the sizes of the two files."""
    voice = write_wav(tmp / "voice.wav", tone_speech(25.0), 16_000)
    photo = tmp / "photo.jpg"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (1200, 1600, 3), dtype=np.uint8)).save(photo, quality=95)
    await store.media.put("v" * 64, "audio", voice.stat().st_size, "audio/wav", voice)
    await store.media.put("p" * 64, "image", photo.stat().st_size, "image/jpeg", photo)
    return voice.stat().st_size, photo.stat().st_size


def _seconds(data: bytes, tmp: Path) -> float:
    path = tmp / "preview.ogg"
    path.write_bytes(data)
    probe = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]
    return float(subprocess.run([*probe, str(path)], capture_output=True, text=True).stdout)


# ---- Telegram: moderators' views stay out of groups; reviews carry previews ----------------
def test_an_operators_views_in_a_telegram_group_reach_only_their_private_chat(
    tmp_path: Path,
) -> None:
    requester, operator = 701, 702

    async def go() -> None:
        async with telegram(tmp_path, telegram_admin_ids=str(operator), consent_mode="review") as (
            tg,
            _,
            store,
            _,
        ):
            voice_bytes, photo_bytes = await _uploads(store, tmp_path)
            draft = ready_draft("d1", script=SECRET)
            await store.drafts.put("telegram", str(requester), str(requester), draft)
            tg.press(requester, "render|")
            await tg.wait_for(lambda: any("moderator checks" in t for t in tg.texts(requester)))

            tg.send_text(GROUP, "/mod reviews everywhere", user_id=operator)
            await tg.wait_for(lambda: len(tg.documents(operator)) >= 2, timeout=90)
            await tg.wait_for(lambda: len(tg.texts(GROUP)) >= 1)
            # the group reads one line; the review, its buttons and previews went to the
            # operator's private chat
            assert tg.texts(GROUP) == [texts.MOD_SENT_PRIVATELY]
            assert any(SECRET[:40] in t for t in tg.texts(operator))
            assert any(b.startswith("mod_approve|") for b in tg.buttons(operator))

            # previews, not the uploads: the photo downscaled, the first seconds of the voice
            voice, photo = tg.documents(operator)
            assert voice[:4] == b"OggS" and len(voice) < min(100_000, voice_bytes / 5)
            assert _seconds(voice, tmp_path) <= PREVIEW_SECONDS + 0.1
            assert photo[:2] == b"\xff\xd8" and len(photo) < photo_bytes / 5
            assert max(Image.open(io.BytesIO(photo)).size) <= PREVIEW_SIDE

            for view in ("/mod audit everywhere", "/mod queue everywhere", "/mod log everywhere"):
                n = len(tg.texts(GROUP))
                tg.send_text(GROUP, view, user_id=operator)
                await tg.wait_for(lambda n=n: len(tg.texts(GROUP)) > n)
                assert tg.texts(GROUP)[-1] == texts.MOD_SENT_PRIVATELY, view

            # an operator who never opened a private chat with the bot: one line, nothing more
            tg.unreachable.add(operator)
            tg.send_text(GROUP, "/mod reviews everywhere", user_id=operator)
            await tg.wait_for(lambda: texts.MOD_ASK_PRIVATELY in tg.texts(GROUP))

            to_group = [c for c in tg.calls if str(c.params.get("chat_id")) == str(GROUP)]
            assert {c.method for c in to_group} <= {"sendMessage", "getChatAdministrators"}
            said = " ".join(tg.texts(GROUP))
            assert SECRET[:20] not in said and str(requester) not in said

    asyncio.run(go())


# ---- Telegram: a takedown reaches the chat ---------------------------------------------
async def _delivered(
    tg: TelegramStandIn, service: Service, store: Store, tmp: Path, chat: int, draft_id: str
) -> str:
    """A job of ``chat``'s whose video the worker delivered (it was rendered already), closed
    in the job history. Its id."""
    await _uploads(store, tmp)
    job_id = job_id_for(draft_id)
    out = tmp / "data" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{job_id}.mp4").write_bytes(b"\0\0\0\x18ftypmp42 a rendered video")
    await store.drafts.put("telegram", str(chat), str(chat), ready_draft(draft_id))
    tg.press(chat, "render|")
    await tg.wait_for(lambda: len(tg.videos(chat)) == 1, timeout=90)
    for _ in range(200):  # the job closes; the bot's history follows the worker's reports
        await service.jobs.catch_up()
        if await store.jobs.state(job_id) == "done":
            break
        await asyncio.sleep(0.05)
    assert await store.jobs.state(job_id) == "done"
    return job_id


def _sent(tg: TelegramStandIn, method: str, chat: int) -> list[int]:
    return [m for (how, to, m) in tg.posted if how == method and to == str(chat)]


def test_a_telegram_takedown_deletes_the_posted_video_and_status_message(tmp_path: Path) -> None:
    requester, operator = 801, 802

    async def go() -> None:
        async with telegram(tmp_path, telegram_admin_ids=str(operator)) as (tg, svc, store, q):
            job_id = await _delivered(tg, svc, store, tmp_path, requester, "d1")
            (video,) = _sent(tg, "sendVideo", requester)
            record = await q.record(job_id)
            assert record is not None and record.msg_id and record.video_msg_id == str(video)
            status = int(record.msg_id)
            assert status in _sent(tg, "sendMessage", requester)
            # the live record goes after a week; the job history keeps what was posted
            kept = {(m.kind, m.message_id) for m in await store.safety.places.posted(job_id)}
            assert kept == {("video", str(video)), ("status", str(status))}
            await q.redis.delete(Keys.job(job_id))

            tg.send_text(operator, f"/mod takedown {job_id[:12]} reported to us")
            await tg.wait_for(lambda: any(t.startswith("Took down") for t in tg.texts(operator)))
            assert sorted(tg.deleted) == sorted([(str(requester), video), (str(requester), status)])
            answer = next(t for t in tg.texts(operator) if t.startswith("Took down"))
            assert "Deleted in the chat: the video, its status message." in answer
            assert all(when is not None for _, when, _ in await _history(store, job_id))

    asyncio.run(go())


async def _history(store: Store, job_id: str) -> list[tuple[Any, float | None, str]]:
    return await store.safety.places.posted_history(job_id)


def test_a_message_telegram_will_not_delete_is_recorded_and_retried(tmp_path: Path) -> None:
    requester, operator = 811, 812

    async def go() -> None:
        async with telegram(tmp_path, telegram_admin_ids=str(operator)) as (tg, svc, store, _):
            job_id = await _delivered(tg, svc, store, tmp_path, requester, "d2")
            (video,) = _sent(tg, "sendVideo", requester)
            tg.undeletable.add(video)  # over 48 hours old, say: Telegram refuses
            tg.send_text(operator, f"/mod takedown {job_id[:12]}")
            await tg.wait_for(lambda: any(t.startswith("Took down") for t in tg.texts(operator)))
            answer = next(t for t in tg.texts(operator) if t.startswith("Took down"))
            assert "Deleted in the chat: its status message." in answer
            reason = "400 Bad Request: message can't be deleted for everyone"
            assert (
                texts.MOD_UNPOSTED_KEPT.format(what="the video", reason=reason, job=job_id[:8])
                in answer
            )
            history = {p.kind: (when, why) for p, when, why in await _history(store, job_id)}
            assert history["video"] == (None, reason) and history["status"][0] is not None
            log = await store.safety.log.mod_log("telegram", None, 10)
            assert any(e.action == "takedown incomplete" and reason in e.detail for e in log)
            (status,) = [
                int(p.message_id) for p, _, _ in await _history(store, job_id) if p.kind == "status"
            ]
            assert tg.deleted == [(str(requester), status)]

            # Telegram relents (or the message was deleted by hand): taking it down again
            # retries what is still there, and only that
            tg.undeletable.clear()
            tg.send_text(operator, f"/mod takedown {job_id[:12]}")
            await tg.wait_for(lambda: len(tg.deleted) == 2)
            assert tg.deleted[-1] == (str(requester), video)
            await tg.wait_for(
                lambda: sum(t.startswith("Took down") for t in tg.texts(operator)) == 2
            )
            assert all(when is not None for _, when, _ in await _history(store, job_id))

    asyncio.run(go())


# ---- Discord: a takedown reaches the channel -----------------------------------------------
@asynccontextmanager
async def discord_with_worker(
    tmp: Path, **overrides: Any
) -> AsyncIterator[tuple[DiscordStandIn, MouthpieceClient, Service, Store]]:
    """The chat process on Discord (discord.py logged in through the stand-in; interactions
    fed to it directly) and a worker (no engine)."""
    dc = DiscordStandIn()
    await dc.start()
    with redis_server(tmp) as url:
        settings = _settings(
            tmp, url, discord_bot_token="TEST", discord_api_base_url=dc.api, **overrides
        )
        try:
            async with chat_service(settings) as (service, store, _):
                use_api_base(dc.api)
                client = MouthpieceClient(service.handle, max_file_bytes=settings.max_file_bytes)
                await client.login("TEST")
                try:
                    async with engine_workers(settings, None):  # type: ignore[arg-type]
                        yield dc, client, service, store
                finally:
                    await client.close()
        finally:
            await dc.stop()


def test_a_discord_takedown_deletes_the_posted_video_and_status_message(tmp_path: Path) -> None:
    async def go() -> None:
        async with discord_with_worker(tmp_path) as (dc, client, svc, store):
            await _uploads(store, tmp_path)
            job_id = job_id_for("d3")
            out = tmp_path / "data" / "out"
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{job_id}.mp4").write_bytes(b"\0\0\0\x18ftypmp42 a rendered video")
            await store.drafts.put("discord", MEMBER, CHANNEL, ready_draft("d3"))
            press = {"custom_id": f"mp:{MEMBER}:render:", "component_type": 2}
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(
                    3,
                    press,
                    member(MEMBER, CAN_POST),
                    message=with_button(dc, press["custom_id"]),
                )
            )
            videos = lambda: [m for m in dc.created if m["content"] == texts.VIDEO_CAPTION]  # noqa: E731
            await dc.wait_for(lambda: len(videos()) == 1, timeout=90)
            for _ in range(200):
                await svc.jobs.catch_up()
                if await store.jobs.state(job_id) == "done":
                    break
                await asyncio.sleep(0.05)
            kept = {(m.kind, m.message_id) for m in await store.safety.places.posted(job_id)}
            (video,) = videos()
            assert ("video", video["id"]) in kept and {k for k, _ in kept} == {"video", "status"}

            manager = member(MODERATOR, discord.Permissions(manage_guild=True).value)
            takedown = [{"name": "job", "type": 3, "value": job_id[:12]}]
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(2, mod_command("takedown", takedown), manager)
            )
            await dc.wait_for(lambda: any(t.startswith("Took down") for t in followup_texts(dc)))
            assert sorted(dc.deleted) == sorted((CHANNEL, m) for _, m in kept)
            answer = next(t for t in followup_texts(dc) if t.startswith("Took down"))
            assert "Deleted in the chat" in answer

    asyncio.run(go())


def test_a_discord_review_carries_previews_to_the_moderator_alone(tmp_path: Path) -> None:
    async def go() -> None:
        async with discord_with_worker(tmp_path, consent_mode="review") as (dc, client, _, store):
            voice_bytes, photo_bytes = await _uploads(store, tmp_path)
            await store.drafts.put("discord", MEMBER, CHANNEL, ready_draft("d4", script=SECRET))
            press = {"custom_id": f"mp:{MEMBER}:render:", "component_type": 2}
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(
                    3,
                    press,
                    member(MEMBER, CAN_POST),
                    message=with_button(dc, press["custom_id"]),
                )
            )
            await dc.wait_for(lambda: any("moderator checks" in t for t in followup_texts(dc)))
            manager = member(MODERATOR, discord.Permissions(manage_guild=True).value)
            client._connection.parse_interaction_create(  # type: ignore[arg-type]
                guild_interaction(2, mod_command("reviews", []), manager)
            )
            await dc.wait_for(lambda: any(r.files for r in dc.followups()), timeout=90)
            review = next(r for r in dc.followups() if r.files)
            assert review.json["flags"] & 64  # ephemeral: only the moderator sees it
            assert SECRET[:40] in review.json["content"]
            voice, photo = review.files.values()
            assert voice[:4] == b"OggS" and len(voice) < voice_bytes / 5
            assert photo[:2] == b"\xff\xd8" and len(photo) < photo_bytes / 5
            assert max(Image.open(io.BytesIO(photo)).size) <= PREVIEW_SIDE

    asyncio.run(go())


def test_a_discord_answer_leaves_out_a_file_over_the_interactions_limit() -> None:
    """One file too big for the interaction's upload limit is left out, not the whole answer
    (which Discord would refuse): the rest, at most ten, within the limit together."""
    small, big = Attachment("a.jpg", b"x" * 10), Attachment("b.ogg", b"y" * 100)
    assert _within((big, small, small), 50) == [small, small]
    assert _within((small,) * 12, 10**6) == [small] * 10
    assert _within((small,) * 6, 35) == [small] * 3
