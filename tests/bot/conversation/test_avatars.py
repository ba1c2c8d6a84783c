"""Avatars through the conversation service: ``/avatar save`` after a video, ``/say`` in one
step where the avatar's consent counts and with the consent question anywhere else, the
refusals, ``/avatars``, ``/avatar delete``, ``/forget`` and retention.

Real parts: SQLite, a private redis-server behind the chat process's queue (no worker: the
jobs wait in the queue, where their payloads are read back)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Button, Command, Reply, Text, Who
from bot.contract.jobs import RenderJob
from bot.conversation.flow import Draft
from bot.conversation.service import Limits, Service
from bot.safety import RateLimits, Safety, ServerPolicy
from bot.safety.retention import Retention, purge
from tests.auxil.redis_server import redis_server

VOICE, PHOTO, OTHER_PHOTO = "v" * 64, "p" * 64, "q" * 64
HERE = Who("discord", "42", "chan", guild_id="g1", name="Ann")
ELSEWHERE = Who("discord", "42", "chan2", guild_id="g2", name="Ann")
DM = Who("discord", "42", "dm")
QUEUED = texts.QUEUED.split("{")[0]


def _texts(actions: list[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Reply)]


def _made(draft_id: str, photo: str = PHOTO) -> Draft:
    return Draft(
        id=draft_id,
        state="confirm",
        script="Hello there.",
        voice_hash=VOICE,
        voice_seconds=7.0,
        voice_text="what the voice note says",
        transcript_asked=True,
        photo_hash=photo,
        consent=True,
    )


async def _service(tmp: Path, url: str, **limits: object) -> tuple[Service, Store, Queue]:
    store = await Store.open(tmp / "db.sqlite3")
    queue = await Queue.connect(url, intake_timeout=0.3)
    for digest in (VOICE, PHOTO, OTHER_PHOTO):  # the uploads, as the bot keeps them
        path = tmp / "media" / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"media")
        await store.media.put(digest, "audio", 5, "", path)
    policy = ServerPolicy(limits=RateLimits(-1, -1, -1, -1, -1, -1), blocklist=("forbidden",))
    service = Service(
        store,
        queue,
        tmp / "media",
        Limits(**limits),
        safety=Safety(defaults=policy),  # type: ignore[arg-type]
    )
    return service, store, queue


async def _render(svc: Service, store: Store, who: Who, draft: Draft) -> str:
    await store.drafts.put(who.platform, who.user_id, who.chat_id, draft, guild_id=who.guild_id)
    (answer,) = _texts(await svc.handle(Button(who, "render")))
    assert answer.startswith(QUEUED), answer
    return answer


async def _payloads(store: Store) -> list[RenderJob]:
    cur = await store.database.conn.execute("SELECT payload FROM jobs ORDER BY created")
    return [RenderJob.from_json(r[0]) for r in await cur.fetchall()]


def _run(tmp_path: Path, test: object, **limits: object) -> None:
    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url, **limits)
        try:
            await test(svc, store)  # type: ignore[operator]
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_say_renders_in_one_step_where_the_consent_was_given(tmp_path: Path) -> None:
    async def test(svc: Service, store: Store) -> None:
        assert _texts(await svc.handle(Command(HERE, "avatar", "save ann"))) == [
            texts.AVATAR_NOTHING
        ]
        await _render(svc, store, HERE, _made("d1"))
        saved = _texts(await svc.handle(Command(HERE, "avatar", "save ann")))
        assert saved == [texts.AVATAR_SAVED.format(name="ann")]
        (answer,) = _texts(await svc.handle(Command(HERE, "say", "ann Good morning, everyone.")))
        assert answer.startswith(QUEUED)  # one step: no question, no Render button
        first, second = await _payloads(store)
        assert (second.photo_hash, second.voice_hash, second.voice_text) == (
            PHOTO,
            VOICE,
            "what the voice note says",
        )
        assert second.script == "Good morning, everyone." and second.job_id != first.job_id
        assert second.guild_id == "g1" and second.consent == first.consent
        assert await store.drafts.get("discord", "42", "chan") is None  # nothing left open
        listed = _texts(await svc.handle(Command(HERE, "avatars")))
        assert listed == [texts.AVATARS_LIST.format(names="ann")]

    _run(tmp_path, test)


def test_an_avatar_asks_for_consent_again_anywhere_else(tmp_path: Path) -> None:
    """Consent given in one server does not carry to another one, nor to the DMs: there
    the consent question comes first, and the video only after it."""

    async def test(svc: Service, store: Store) -> None:
        await _render(svc, store, HERE, _made("d1"))
        await svc.handle(Command(HERE, "avatar", "save ann"))
        for made, who in enumerate((ELSEWHERE, DM), start=1):
            said = await svc.handle(Command(who, "say", "ann Hello from elsewhere."))
            assert _texts(said)[:2] == [texts.SAY_CONSENT.format(name="ann"), texts.CONSENT]
            assert [b.action for a in said if isinstance(a, Reply) for b in a.buttons] == [
                "consent"
            ]
            assert len(await _payloads(store)) == made  # nothing queued yet
            (summary,) = await svc.handle(Button(who, "consent"))
            assert isinstance(summary, Reply) and "render" in [b.action for b in summary.buttons]
            (answer,) = _texts(await svc.handle(Button(who, "render")))
            assert answer.startswith(QUEUED)
        assert [j.guild_id for j in await _payloads(store)] == ["g1", "g2", ""]

    _run(tmp_path, test)


def test_say_refusals_say_why_and_keep_the_draft(tmp_path: Path) -> None:
    async def test(svc: Service, store: Store) -> None:
        await _render(svc, store, HERE, _made("d1"))
        await svc.handle(Command(HERE, "avatar", "save ann"))
        open_draft = _made("d2", photo=OTHER_PHOTO)
        await store.drafts.put("discord", "42", "chan", open_draft, guild_id="g1")
        cases = {
            "nobody Hello.": texts.AVATAR_NOT_FOUND.format(name="nobody"),
            "ann": texts.SAY_USAGE,
            "ann   ": texts.SAY_USAGE,
            "../x Hello.": texts.SAY_USAGE,
            "ann ...": texts.SCRIPT_EMPTY,
            "ann This is forbidden here.": texts.SCRIPT_BLOCKED,
            f"ann {'word ' * 400}": texts.SCRIPT_TOO_LONG.format(chars=1999, limit=1000),
        }
        for args, reason in cases.items():
            assert _texts(await svc.handle(Command(HERE, "say", args))) == [reason], args
        assert await store.drafts.get("discord", "42", "chan") == open_draft  # kept
        assert len(await _payloads(store)) == 1
        for args in ("save", "save a b", "save ../x", "keep ann"):
            answer = _texts(await svc.handle(Command(HERE, "avatar", args)))
            assert answer == [texts.AVATAR_USAGE], args

    _run(tmp_path, test)


def test_avatars_are_capped_replaced_and_deleted(tmp_path: Path) -> None:
    async def test(svc: Service, store: Store) -> None:
        await _render(svc, store, HERE, _made("d1"))
        for name in ("one", "two"):
            answer = _texts(await svc.handle(Command(HERE, "avatar", f"save {name}")))
            assert answer == [texts.AVATAR_SAVED.format(name=name)]
        full = _texts(await svc.handle(Command(HERE, "avatar", "save three")))
        assert full == [texts.AVATARS_FULL.format(max=2)]
        # saving again under a name replaces it with the latest video's photo and voice
        await _render(svc, store, HERE, _made("d2", photo=OTHER_PHOTO))
        await svc.handle(Command(HERE, "avatar", "save two"))
        two = await store.avatars.get("discord", "42", "two")
        assert two is not None and two.photo_digest == OTHER_PHOTO
        assert two.consented_in == ("g1",)
        assert await store.avatars.names("discord", "42", "t") == ["two"]
        assert await store.avatars.names("discord", "42", "%") == []  # LIKE stays literal
        gone = _texts(await svc.handle(Command(HERE, "avatar", "delete one")))
        assert gone == [texts.AVATAR_DELETED.format(name="one")]
        again = _texts(await svc.handle(Command(HERE, "avatar", "delete one")))
        assert again == [texts.AVATAR_NOT_FOUND.format(name="one")]
        nothing = _texts(await svc.handle(Command(HERE, "say", "one Hello.")))
        assert nothing == [texts.AVATAR_NOT_FOUND.format(name="one")]

    _run(tmp_path, test, max_avatars=2)


def test_forget_and_retention_remove_avatars_and_their_uploads(tmp_path: Path) -> None:
    async def test(svc: Service, store: Store) -> None:
        await _render(svc, store, HERE, _made("d1"))
        await svc.handle(Command(HERE, "avatar", "save ann"))
        async with store.database.writing() as db:  # an open job would keep its uploads
            await db.execute("UPDATE jobs SET status='done'")
        # the avatar keeps its uploads through the media retention (as a saved voice does)
        rules = Retention(media_hours=0.0, output_days=0.0, avatar_days=30.0)
        await purge(store, None, rules, time.time() + 3600)
        assert await store.media.path(PHOTO) is not None
        assert await store.avatars.get("discord", "42", "ann") is not None
        # unused for longer than its retention: the avatar goes, then its uploads
        await purge(store, None, rules, time.time() + 31 * 86_400)
        assert await store.avatars.list("discord", "42") == []
        assert await store.media.path(PHOTO) is None and not (tmp_path / "media" / PHOTO).exists()

    _run(tmp_path, test)


def test_forget_deletes_avatars(tmp_path: Path) -> None:
    async def test(svc: Service, store: Store) -> None:
        await _render(svc, store, HERE, _made("d1"))
        await svc.handle(Command(HERE, "avatar", "save ann"))
        (answer,) = _texts(await svc.handle(Command(DM, "forget")))
        assert "1 saved voice(s) and avatar(s)" in answer
        assert await store.avatars.list("discord", "42") == []
        cur = await store.database.conn.execute("SELECT COUNT(*) FROM avatar_consents")
        assert (await cur.fetchone())[0] == 0  # type: ignore[index]
        for digest in (VOICE, PHOTO):
            assert await store.media.path(digest) is None
            assert not (tmp_path / "media" / digest).exists()
        nothing = _texts(await svc.handle(Command(HERE, "say", "ann Hello.")))
        assert nothing == [texts.AVATAR_NOT_FOUND.format(name="ann")]

    _run(tmp_path, test)


@pytest.mark.parametrize("transcript", ["what the voice note says", None])
def test_an_avatar_made_in_the_direct_messages_renders_there_in_one_step(
    tmp_path: Path, transcript: str | None
) -> None:
    """The direct messages' scope is "": its consent counts there; a skipped transcript is
    not asked again (the voice model does not need one)."""

    async def test(svc: Service, store: Store) -> None:
        made = replace(_made("d1"), voice_text=transcript)
        await _render(svc, store, DM, made)
        await svc.handle(Command(DM, "avatar", "save ann"))
        avatar = await store.avatars.get("discord", "42", "ann")
        assert avatar is not None and avatar.consented_in == ("",)
        (answer,) = _texts(await svc.handle(Command(DM, "say", "ann Hello again.")))
        assert answer.startswith(QUEUED)
        assert (await _payloads(store))[-1].voice_text == transcript

    _run(tmp_path, test)


def test_a_voice_model_that_needs_a_transcript_asks_for_it(tmp_path: Path) -> None:
    async def test(svc: Service, store: Store) -> None:
        await _render(svc, store, DM, replace(_made("d1"), voice_text=None))
        await svc.handle(Command(DM, "avatar", "save ann"))
        said = _texts(await svc.handle(Command(DM, "say", "ann Hello again.")))
        assert said == [texts.ASK_TRANSCRIPT]
        said = _texts(await svc.handle(Text(DM, "the words of the voice note")))
        # a new input: the flow asks for consent again, as it does for any change
        assert said == [texts.GOT_TRANSCRIPT, texts.CONSENT]
        await svc.handle(Button(DM, "consent"))
        (answer,) = _texts(await svc.handle(Button(DM, "render")))
        assert answer.startswith(QUEUED)
        assert (await _payloads(store))[-1].voice_text == "the words of the voice note"

    _run(tmp_path, test, needs_transcript=True)


@pytest.mark.parametrize("state", ["cancelled", "failed", "invalid", "review"])
def test_only_a_made_video_can_be_saved(tmp_path: Path, state: str) -> None:
    async def test(svc: Service, store: Store) -> None:
        await _render(svc, store, HERE, _made("d1"))
        async with store.database.writing() as db:
            await db.execute("UPDATE jobs SET status=?", (state,))
        answer = _texts(await svc.handle(Command(HERE, "avatar", "save ann")))
        assert answer == [texts.AVATAR_NOTHING]

    _run(tmp_path, test)
