"""``/mod verify``: a moderator sends a video back to the bot and learns which job of their
scope made it, and who asked; nobody else learns anything of other scopes.

Real parts: python-telegram-bot against the Bot API stand-in (and discord.py against the
Discord stand-in), redis-server, SQLite, arq workers hosting the embedded CPU engine. One
video is rendered for the module (a requester's private chat: the DMs' scope) and each
test starts the chat process again over a copy of that bot's data folder (its audit log
maps the video's marks to the job)."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.contract import texts
from bot.contract.events import Who
from bot.contract.jobs import Keys
from bot.contract.ports import MarkReport
from bot.safety.verify import VERIFY_WAIT_SECONDS, VerifyRequest, report_text
from bot.settings import BotSettings
from engine import Engine, EngineSettings
from job_marks.lookup import MarkedJob
from tests.auxil.discord_server import DiscordStandIn
from tests.auxil.media_fixtures import telegram_reencode
from tests.auxil.redis_server import redis_server
from tests.auxil.system import (
    MEMBER,
    MODERATOR,
    discord_system,
    engine_workers,
    followup_texts,
    guild_interaction,
    member,
    redis_url_of,
    said,
    telegram_bot,
    telegram_system,
    with_settings,
)
from tests.auxil.telegram_server import TelegramStandIn

pytestmark = pytest.mark.slow  # tens of seconds

REQUESTER, OPERATOR, GROUP_ADMIN, NOBODY = 610_001, 610_002, 610_003, 610_004
GROUP = -610_900
HEAD = texts.MOD_VERIFY_HEAD
SEND = texts.MOD_VERIFY_SEND[:40]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine(EngineSettings(cache_dir=str(tmp_path_factory.mktemp("engine") / "cache")))


@dataclass(frozen=True)
class Rendered:
    data: Path  # the bot's data folder after the render: its SQLite holds the audit log
    video: bytes  # the MP4 as the requester received it
    job_id: str


def _settings(url: str, data: Path, **overrides: Any) -> BotSettings:
    return BotSettings(
        telegram_bot_token="123:TEST",
        redis_url=url,
        data_dir=data,
        status_edit_seconds=0.2,
        board_interval_seconds=0.2,
        bot_metrics_port=0,
        telegram_admin_ids=str(OPERATOR),
        **overrides,
    )


@pytest.fixture(scope="module")
def rendered(
    tmp_path_factory: pytest.TempPathFactory, engine: Engine, sample_voice: Path, sample_photo: Path
) -> Rendered:
    """A requester makes a video in their private chat; the bot delivers it."""
    tmp = tmp_path_factory.mktemp("rendered")
    voice, photo, me = sample_voice.read_bytes(), sample_photo.read_bytes(), REQUESTER

    async def go(url: str) -> Rendered:
        settings = _settings(url, tmp / "bot")
        async with telegram_bot(settings) as (tg, service):
            host = with_settings(settings, telegram_api_base_url=tg.url, data_dir=tmp / "host")
            async with engine_workers(host, engine):
                await said(tg, me, lambda: tg.send_text(me, "/talk"), "Let's make a video")
                # long enough for the speech's token to outlive a re-encode (it repeats every 3 s)
                script = "Hello there, this is a short test of the marks that every video carries."
                await said(tg, me, lambda: tg.send_text(me, script), "Script received")
                await said(tg, me, lambda: tg.send_voice(me, voice, duration=7), "What is said")
                await said(tg, me, lambda: tg.press(me, "skip_transcript|"), "Still needed")
                await said(tg, me, lambda: tg.send_photo(me, photo), "Before I render")
                await said(tg, me, lambda: tg.press(me, "consent|"), "Ready:")
                await said(tg, me, lambda: tg.press(me, "render|"), "Queued as job")
                await tg.wait_for(lambda: len(tg.videos(me)) == 1, timeout=120)
                (job,) = await service.store.jobs.recent("telegram", str(me))
                for _ in range(200):  # the bot's history follows the worker's reports
                    await service.jobs.catch_up()
                    if await service.store.jobs.state(job.job_id) == "done":
                        break
                    await asyncio.sleep(0.05)
            return Rendered(tmp / "bot", tg.videos(me)[0], job.job_id)

    with redis_server(tmp) as url:
        return asyncio.run(go(url))


def _copy(rendered: Rendered, tmp: Path) -> Path:
    return Path(shutil.copytree(rendered.data, tmp / "bot"))


def _last(tg: TelegramStandIn, chat: int, start: str) -> str:
    return next(t for t in reversed(tg.texts(chat)) if t.startswith(start))


# ---- the chat's own moderator --------------------------------------------------------------
def test_the_chats_moderator_learns_the_job_and_requester_even_after_a_bot_restart(
    tmp_path: Path, engine: Engine, rendered: Rendered
) -> None:
    """An operator (the moderators of the private chats) asks, the chat process restarts, and
    the video they send then is checked, not used: the answer names the job and who asked;
    the file is stored nowhere and the log keeps the marks found."""
    me, data = OPERATOR, _copy(rendered, tmp_path)
    digest = hashlib.sha256(rendered.video).hexdigest()
    uploads = sorted((data / "media").rglob("*"))  # the requester's voice note and photo

    async def go(url: str) -> None:
        settings = _settings(url, data)
        async with telegram_bot(settings) as (tg, service):
            await said(tg, me, lambda: tg.send_text(me, "/mod verify"), SEND)
            ttl = await service.gateway.redis.ttl(Keys.expected_file("telegram", str(me)))  # type: ignore[attr-defined]
            assert 0 < ttl <= VERIFY_WAIT_SECONDS  # the wait expires by itself
        async with (
            telegram_bot(settings) as (tg, service),
            engine_workers(with_settings(settings, data_dir=tmp_path / "host"), engine),
        ):
            await said(tg, me, lambda: tg.send_video(me, rendered.video), HEAD)
            answer = _last(tg, me, HEAD)
            assert "verdict: AI-generated (marked by Mouthpiece)" in answer
            assert f"job {rendered.job_id}: requested by user {REQUESTER} here on " in answer
            assert answer.endswith(", done") and "manifest (C2PA): valid" in answer

            # someone's evidence, not an upload: nothing kept of it, nothing left waiting
            redis = service.gateway.redis  # type: ignore[attr-defined]
            assert not [k async for k in redis.scan_iter(match="mouthpiece:evidence:*")]
            assert not await redis.exists(Keys.expected_file("telegram", str(me)))
            assert await service.store.media.path(digest) is None
            assert await service.store.media.last("telegram", str(me)) is None
            assert sorted((data / "media").rglob("*")) == uploads
            log = await service.store.safety.log.mod_log("telegram", None, 5)
            assert [(e.actor, e.action) for e in log][:1] == [(str(me), "mod verify")]
            assert rendered.job_id[:8] in log[0].detail

            # the chat video as Telegram re-encodes a shared video: the speech's token still
            # leads to the job (no manifest or metadata left to name it)
            shared = _telegram_copy(rendered.video, tmp_path)
            await said(tg, me, lambda: tg.send_text(me, "/mod verify"), SEND)
            await said(
                tg, me, lambda: tg.send_document(me, shared, "shared.mp4", "video/mp4"), HEAD
            )
            answer = _last(tg, me, HEAD)
            assert "manifest (C2PA): none" in answer and "metadata: no job id" in answer
            assert "speech mark: job token 0x" in answer
            assert f"job {rendered.job_id}: requested by user {REQUESTER} here on " in answer

            # one file per request: the next one is an upload again, refused as always
            mp4 = rendered.video
            await said(
                tg, me, lambda: tg.send_document(me, mp4, "clip.mp4", "video/mp4"), "I can't use"
            )
            assert tg.texts(me)[-1] == texts.BAD_FILE_TYPE

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


# ---- another scope's moderator, and operators everywhere ----------------------------------
def test_another_groups_moderator_learns_no_job_details_and_operators_see_everywhere(
    tmp_path: Path, engine: Engine, rendered: Rendered
) -> None:
    """A group's administrator checks the same video (as a captioned file in their group,
    and by the typed command then a file in their private chat): the marks, and the line any
    file made elsewhere or nowhere gets. ``everywhere`` is the operators': theirs names the
    job and where it was asked."""
    admin, data = GROUP_ADMIN, _copy(rendered, tmp_path)
    mp4 = rendered.video

    async def go(url: str) -> None:
        settings = _settings(url, data)
        async with (
            telegram_bot(settings) as (tg, _),
            engine_workers(with_settings(settings, data_dir=tmp_path / "host"), engine),
        ):
            tg.chat_admins[GROUP] = [admin]
            tg.send_document(
                GROUP, mp4, "clip.mp4", "video/mp4", user_id=admin, caption="/mod verify"
            )
            await tg.wait_for(lambda: any(t.startswith(HEAD) for t in tg.texts(admin)), 60)
            assert tg.texts(GROUP) == [texts.MOD_SENT_PRIVATELY]  # the group reads one line
            first = _last(tg, admin, HEAD)
            assert "verdict: AI-generated (marked by Mouthpiece)" in first
            assert first.endswith("\n" + texts.MOD_VERIFY_NO_JOB_HERE)
            assert str(REQUESTER) not in first and "requested by" not in first

            await said(tg, admin, lambda: tg.send_text(GROUP, "/mod verify", user_id=admin), SEND)
            await said(tg, admin, lambda: tg.send_video(admin, mp4), HEAD)
            assert _last(tg, admin, HEAD) == first

            tg.send_text(GROUP, "/mod verify everywhere", user_id=admin)
            await tg.wait_for(lambda: texts.MOD_OPERATOR_ONLY in tg.texts(GROUP))

            me = OPERATOR
            await said(tg, me, lambda: tg.send_text(me, "/mod verify everywhere"), SEND)
            await said(tg, me, lambda: tg.send_video(me, mp4), HEAD)
            expected = f"job {rendered.job_id}: requested by user {REQUESTER} in the DMs on "
            assert expected in _last(tg, me, HEAD)

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


# ---- files that cannot be checked ------------------------------------------------------
def test_a_file_that_cannot_be_checked_gets_one_line(tmp_path: Path, engine: Engine) -> None:
    """A text file, garbage bytes named .mp4, a file over the limit (never downloaded) and
    no worker to answer: one clear line each, and each takes the request it answered."""
    me = OPERATOR
    wav = _silence_wav()

    async def go(url: str) -> None:
        # a worker's answer may take seconds on a loaded machine (the jail decodes each file);
        # the bot that finds no worker waits 2 s
        settings = _settings(url, tmp_path / "bot", intake_timeout_seconds=60.0)

        async def ask() -> None:
            await said(tg, me, lambda: tg.send_text(me, "/mod verify"), SEND)

        host = with_settings(settings, data_dir=tmp_path / "host")
        async with telegram_bot(settings) as (tg, _), engine_workers(host, engine):
            await ask()
            text = b"not a video at all"
            await said(
                tg, me, lambda: tg.send_document(me, text, "notes.txt", "text/plain"), "I check"
            )
            assert tg.texts(me)[-1] == texts.MOD_VERIFY_NOT_MEDIA

            await ask()
            junk = bytes(range(256)) * 64
            unreadable = texts.MOD_VERIFY_UNREADABLE.split("{")[0]
            await said(
                tg, me, lambda: tg.send_document(me, junk, "clip.mp4", "video/mp4"), unreadable
            )
            assert tg.texts(me)[-1].startswith(unreadable + "The file ")
            assert "verify-" not in tg.texts(me)[-1]  # the worker's copy is not named

            await ask()
            getfiles = sum(c.method == "getFile" for c in tg.calls)
            big = 25_000_000
            await said(tg, me, lambda: tg.send_video(me, b"x" * 10, size=big), "That file is")
            assert tg.texts(me)[-1] == texts.TOO_BIG.format(mb=25.0, limit=20.0)
            assert sum(c.method == "getFile" for c in tg.calls) == getfiles

            # audio alone is read too: no mark in it
            await ask()
            await said(tg, me, lambda: tg.send_voice(me, wav, duration=2), HEAD)
            assert tg.texts(me)[-1].endswith("\n" + texts.MOD_VERIFY_NO_MARK)
        async with telegram_bot(with_settings(settings, intake_timeout_seconds=2.0)) as (tg, _):
            await ask()  # no worker runs
            await said(tg, me, lambda: tg.send_video(me, b"\0" * 100), "No worker answered")
            assert tg.texts(me)[-1] == texts.MOD_VERIFY_NO_WORKER

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def _telegram_copy(video: bytes, tmp: Path) -> bytes:
    """The video as Telegram re-encodes one sent as a video (simulated)."""
    (tmp / "video.mp4").write_bytes(video)
    return telegram_reencode(tmp / "video.mp4", tmp / "shared.mp4").read_bytes()


def _silence_wav() -> bytes:
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(b"\0\0" * 32_000)
    return out.getvalue()


# ---- not a moderator -------------------------------------------------------------------------
def test_a_non_moderator_is_refused_and_their_files_go_on_as_before(tmp_path: Path) -> None:
    """``/mod verify`` from someone without authority is refused, typed or as a caption (that
    file is never downloaded), and waits for nothing: their next video file is refused as an
    unusable upload, as it always was."""
    me, mp4 = NOBODY, b"\0\0\0\x18ftypmp42 not really a video"

    async def go() -> None:
        async with telegram_system(tmp_path, admins=str(OPERATOR)) as (tg, service, _):
            await said(tg, me, lambda: tg.send_text(me, "/mod verify"), texts.MOD_ONLY)
            tg.send_document(me, mp4, "clip.mp4", "video/mp4", caption="/mod verify")
            await tg.wait_for(lambda: tg.texts(me).count(texts.MOD_ONLY) == 2)
            assert not [c for c in tg.calls if c.method == "getFile"]
            redis = service.gateway.redis  # type: ignore[attr-defined]
            assert not await redis.exists(Keys.expected_file("telegram", str(me)))
            await said(tg, me, lambda: tg.send_video(me, mp4), texts.BAD_FILE_TYPE)
            await said(
                tg, me, lambda: tg.send_document(me, mp4, "c.mp4", "video/mp4"), texts.BAD_FILE_TYPE
            )

    asyncio.run(go())


# ---- Discord: the slash command's file option --------------------------------------------------
def test_a_discord_moderator_checks_an_attached_file_privately(
    tmp_path: Path, engine: Engine, rendered: Rendered
) -> None:
    """``/mod verify file:`` answers the moderator alone (ephemeral): the marks, and no job of
    this server (the video was made on Telegram). A member without authority is refused and
    their attachment is never fetched."""
    stand_in = _CountingStandIn()

    async def go() -> None:
        async with discord_system(tmp_path, stand_in=stand_in) as (dc, client, _, service):
            url = redis_url_of(service.gateway)
            host = BotSettings(redis_url=url, data_dir=tmp_path / "host")
            async with engine_workers(host, engine):
                manager = member(MODERATOR, discord.Permissions(manage_guild=True).value)
                plain = member(MEMBER, discord.Permissions(send_messages=True).value)
                for n, who in enumerate((plain, manager), start=1):
                    data = _verify_command(dc, rendered.video, f"clip{n}.mp4")
                    client._connection.parse_interaction_create(  # type: ignore[arg-type]
                        guild_interaction(2, data, who)
                    )
                    await dc.wait_for(lambda n=n: len(dc.followups()) >= n, timeout=60)
                    assert dc.followups()[-1].json["flags"] & 64  # ephemeral
                refused, answer = followup_texts(dc)
                assert refused == texts.MOD_ONLY
                assert stand_in.fetched == ["clip2.mp4"]
                assert answer.startswith(HEAD) and "verdict: AI-generated" in answer
                assert answer.endswith("\n" + texts.MOD_VERIFY_NO_JOB_HERE)

    asyncio.run(go())


class _CountingStandIn(DiscordStandIn):
    """The Discord stand-in, recording which attachments were downloaded."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []

    async def _attachment(self, request: Any) -> Any:
        self.fetched.append(request.match_info["name"])
        return await super()._attachment(request)


def _verify_command(dc: DiscordStandIn, data: bytes, name: str) -> dict[str, Any]:
    dc.attachments[name] = data
    url = f"{dc.url}/att/{name}"
    attachment = {
        "id": "401",
        "filename": name,
        "size": len(data),
        "url": url,
        "proxy_url": url,
        "content_type": "video/mp4",
    }
    return {
        "id": "88",
        "name": "mod",
        "type": 1,
        "options": [
            {"name": "verify", "type": 1, "options": [{"name": "file", "type": 11, "value": "401"}]}
        ],
        "resolved": {"attachments": {"401": attachment}},
    }


# ---- the pure parts --------------------------------------------------------------------------
def test_a_request_takes_only_its_moderators_file_where_they_asked_or_in_their_dms() -> None:
    asked = VerifyRequest("telegram", "7", "-100", "-100")
    assert asked.takes(Who("telegram", "7", "-100", "-100"))
    assert asked.takes(Who("telegram", "7", "7"))  # their private chat, where the answer went
    assert not asked.takes(Who("telegram", "7", "-200", "-200"))  # another group
    assert not asked.takes(Who("telegram", "8", "8"))
    assert not asked.takes(Who("discord", "7", "7"))
    assert VerifyRequest.from_json(asked.to_json()) == asked
    assert VerifyRequest.from_json('{"platform": 1}') is None
    assert VerifyRequest.from_json("not json") is None


def test_a_files_claims_are_shown_bounded_and_read_for_shape_only() -> None:
    """The marks are the file maker's words: a token must be 32 bits, a job id look like
    one; lines are flattened and bounded so the jobs found always fit the message."""
    claims = {"claims": {"job_id": "x'; DROP TABLE jobs; --"}}
    report = MarkReport({"token": "0x1ffffffff", "manifest": claims, "job_id": "ab12"}, ())
    assert report.token is None and report.job_id == "ab12"
    assert MarkReport({"token": "0x0000002a"}).token == 42
    long = MarkReport({"token": "0x0000002a"}, ("a\x00b\nc" + "x" * 5000,) * 50)
    job = MarkedJob("f" * 20, "telegram", "", "99", 0.0, "done", False)
    text = report_text(long, [job] * 5, everywhere=True)
    assert len(text) < 2000 and text.count("\n") < 20
    assert "a b c" in text and "\x00" not in text
    assert text.endswith(
        texts.MOD_VERIFY_JOB.format(
            job="f" * 20, user="99", where="in the DMs", at="1970-01-01 00:00 UTC", status="done"
        )
    )
    with pytest.raises(ValueError):
        MarkReport.from_json('{"verdict": [1], "lines": []}')
