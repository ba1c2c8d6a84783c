"""Moderation through the service, over real SQLite and a real redis-server: every /mod
command refused to non-moderators, policy edits, bans, channels, blocklist, consent modes
(review queue, spoken phrase with and without speech recognition), audit, queue cancel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from arq import Worker
from arq.connections import RedisSettings

from bot.core import texts
from bot.core.events import Button, Command, Notify, Reply, Text, Who
from bot.core.flow import Draft
from bot.core.policy import RateLimits, Safety, ServerPolicy
from bot.core.service import Limits, Service
from bot.jobs import INTAKE_QUEUE, Keys
from bot.queue import Queue
from bot.store import Store
from bot.worker import transcribe
from engine.asr import FasterWhisper
from tests.auxil.redis_server import redis_server

GUILD = "g1"
USER = Who("discord", "42", "chan1", GUILD, "Ann")
MOD = Who("discord", "7", "modchan", GUILD, "Mo", is_moderator=True)
NOBODY = Who("discord", "8", "chan1", GUILD, "Nob")  # a member without the permission
OTHER_MOD = Who("discord", "9", "x", "g2", "Other", is_moderator=True)  # another server's

#: one invocation of every /mod subcommand (and each form that writes something)
EVERY_MOD_COMMAND = (
    "limits",
    "limits set day 5",
    "limits reset",
    "consent",
    "consent review",
    "ban 42",
    "unban 42",
    "purge 42",
    "queue",
    "reviews",
    "audit",
    "audit 3",
    "channels",
    "channels add here",
    "channels clear",
    "label",
    "label top-left",
    "block list",
    "block add nasty",
    "block remove nasty",
)
QUEUED = texts.QUEUED.split("{")[0]


def _texts(actions: list[Any]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Reply) and not isinstance(a, Notify)]


def _ready(draft_id: str, voice: str = "v" * 64, script: str = "Hello there.") -> Draft:
    return Draft(
        id=draft_id,
        state="confirm",
        script=script,
        voice_hash=voice,
        photo_hash="p" * 64,
        consent=True,
    )


@asynccontextmanager
async def service(
    tmp: Path,
    *,
    mode: str = "attest",
    asr: bool = False,
    label_required: bool = True,
    dm_moderated: tuple[str, ...] = (),
) -> AsyncIterator[tuple[Service, Store, Queue]]:
    with redis_server(tmp) as url:
        store = await Store.open(tmp / "db.sqlite3")
        queue = await Queue.connect(url, intake_timeout=2.0)
        safety = Safety(
            defaults=ServerPolicy(consent_mode=mode, limits=RateLimits(-1, -1, -1, -1)),
            label_required=label_required,
            asr=asr,
            out_dir=tmp / "out",
            dm_moderated=dm_moderated,
        )
        try:
            yield Service(store, queue, tmp / "media", Limits(), safety=safety), store, queue
        finally:
            await queue.close()
            await store.close()


def test_every_moderator_command_and_button_is_refused_to_non_moderators(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            for args in EVERY_MOD_COMMAND:
                assert _texts(await svc.handle(Command(NOBODY, "mod", args))) == [texts.MOD_ONLY], (
                    args
                )
            for action in ("mod_cancel", "mod_approve", "mod_deny"):
                got = await svc.handle(Button(NOBODY, action, "abcdef0123"))
                assert _texts(got) == [texts.MOD_BUTTON_ONLY]
            # nothing changed
            assert await store.guild_policy("discord", GUILD) == {}
            assert not await store.is_banned("discord", GUILD, "42")

    asyncio.run(go())


def test_moderators_edit_the_server_policy(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            mod = lambda args: svc.handle(Command(MOD, "mod", args))  # noqa: E731
            assert _texts(await mod("limits set day 5"))[0].startswith("Limits here: 5 a day")
            assert "review" in _texts(await mod("consent review"))[0]
            assert _texts(await mod("label off")) == [texts.MOD_LABEL_REQUIRED]
            assert "top-left" in _texts(await mod("label top-left"))[0]
            assert _texts(await mod("explode")) == [texts.MOD_HELP]
            data = await store.guild_policy("discord", GUILD)
            assert data == {
                "limits": {"user_per_day": 5},
                "consent_mode": "review",
                "label_position": "top-left",
            }
            # another server is untouched
            assert await store.guild_policy("discord", "g2") == {}

    asyncio.run(go())


def test_label_may_be_removed_only_where_policy_allows(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path, label_required=False) as (svc, store, queue):
            assert "switched off" in _texts(await svc.handle(Command(MOD, "mod", "label off")))[0]
            await svc.handle(Command(MOD, "mod", "label top-right"))
            await store.put_draft("discord", "42", "chan1", _ready("d1"))
            await svc.handle(Button(USER, "render"))
            (job,) = await store.open_in_scope("discord", GUILD)
            row = await store._one("SELECT payload FROM jobs WHERE job_id=?", job.job_id)
            assert '"label": null' in row[0] and '"label_position": "top-right"' in row[0]

    asyncio.run(go())


def test_blocklist_channels_and_bans(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            await svc.handle(Command(MOD, "mod", "block add Evil Plan"))
            await svc.handle(Command(USER, "talk"))
            await svc.handle(Text(USER, "A fine script."))
            refused = await svc.handle(Text(USER, "Here is my evil, plan!"))
            assert _texts(refused) == [texts.SCRIPT_BLOCKED]
            assert "evil" not in texts.SCRIPT_BLOCKED.lower()  # nothing offensive echoed
            draft = await store.get_draft("discord", "42", "chan1")
            assert draft is not None and draft.script == "A fine script."  # nothing lost
            # a draft that got its script before the block is refused at Render, and kept
            await store.put_draft("discord", "42", "chan1", _ready("d2", script="evil plan now"))
            assert _texts(await svc.handle(Button(USER, "render"))) == [texts.SCRIPT_BLOCKED]
            assert await store.get_draft("discord", "42", "chan1") is not None

            await svc.handle(Command(MOD, "mod", "channels add 555"))
            assert _texts(await svc.handle(Command(USER, "talk"))) == [texts.CHANNEL_NOT_ALLOWED]
            inside = replace(USER, chat_id="555")
            assert _texts(await svc.handle(Command(inside, "talk")))[0] == texts.START
            await svc.handle(Command(MOD, "mod", "channels clear"))

            assert _texts(await svc.handle(Command(MOD, "mod", "ban <@42> spam"))) == [
                texts.MOD_BANNED.format(user="42")
            ]
            assert _texts(await svc.handle(Command(USER, "talk"))) == [texts.BANNED]
            assert _texts(await svc.handle(Button(USER, "render"))) == [texts.BANNED]
            assert _texts(await svc.handle(Command(USER, "help"))) == [texts.HELP]
            await svc.handle(Command(MOD, "mod", "unban 42"))
            assert _texts(await svc.handle(Command(USER, "talk")))[0] == texts.START

    asyncio.run(go())


def test_review_mode_holds_renders_until_a_moderator_decides(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path, mode="review") as (svc, store, queue):
            files = []
            for digest in ("v" * 64, "p" * 64):  # the uploads, as the service saved them
                files.append(tmp_path / f"{digest[:4]}.bin")
                files[-1].write_bytes(b"media")
                await store.put_media(digest, "audio", 5, "", files[-1])
            await store.put_draft("discord", "42", "chan1", _ready("d1"))
            held = _texts(await svc.handle(Button(USER, "render")))[0]
            assert held.startswith(texts.AWAITING_REVIEW.split("(")[0])
            (job,) = await store.open_in_scope("discord", GUILD)
            assert job.status == "review"
            assert await queue.status(job.job_id) is None  # not in the render queue

            listed = await svc.handle(Command(MOD, "mod", "reviews"))
            buttons = {(b.action, b.value) for b in listed[0].buttons}
            assert buttons == {("mod_approve", job.job_id), ("mod_deny", job.job_id)}
            assert "Hello there." in listed[0].text  # the moderator sees what to judge
            assert listed[0].attachments == tuple(str(f) for f in files)  # and hears, sees it

            assert _texts(await svc.handle(Button(OTHER_MOD, "mod_approve", job.job_id))) == [
                texts.MOD_REVIEW_GONE.format(job=job.job_id[:8])  # not their server's job
            ]
            approved = await svc.handle(Button(MOD, "mod_approve", job.job_id))
            assert _texts(approved) == [texts.MOD_APPROVED.format(job=job.job_id[:8])]
            (note,) = [a for a in approved if isinstance(a, Notify)]
            assert (note.chat_id, note.text) == (
                "chan1",
                texts.REVIEW_APPROVED.format(job=job.job_id[:8]),
            )
            live = await queue.status(job.job_id)
            assert live is not None and live.status == "queued"
            again = await svc.handle(Button(MOD, "mod_deny", job.job_id))
            assert _texts(again) == [texts.MOD_REVIEW_GONE.format(job=job.job_id[:8])]

            await store.put_draft("discord", "42", "chan1", _ready("d2"))
            await svc.handle(Button(USER, "render"))
            (pending,) = await store.pending_reviews("discord", GUILD)
            denied = await svc.handle(Button(MOD, "mod_deny", pending.job.job_id))
            (note,) = [a for a in denied if isinstance(a, Notify)]
            assert note.text == texts.REVIEW_DENIED.format(job=pending.job.job_id[:8])
            assert await queue.status(pending.job.job_id) is None
            assert await store.job_scope(pending.job.job_id) == ("discord", GUILD, "denied")

    asyncio.run(go())


def test_phrase_mode_without_asr_goes_to_review_and_a_saved_voice_keeps_its_consent(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        async with service(tmp_path, mode="phrase") as (svc, store, queue):
            start = _texts(await svc.handle(Command(USER, "talk")))
            draft = await store.get_draft("discord", "42", "chan1")
            assert draft is not None
            phrase = await store.phrase_for("discord", "42", "chan1", draft.id)
            assert phrase and start[-1] == texts.PHRASE_INTRO.format(phrase=phrase)
            await store.put_draft("discord", "42", "chan1", _ready(draft.id, voice="a" * 64))
            assert _texts(await svc.handle(Button(USER, "render")))[0].startswith("A moderator")
            (pending,) = await store.pending_reviews("discord", GUILD)
            assert pending.phrase == phrase
            listed = _texts(await svc.handle(Command(MOD, "mod", "reviews")))[0]
            assert phrase in listed
            # the user saves that voice; the moderator's approval passes to the saved voice
            await store.put_media("a" * 64, "audio", 10, "audio/ogg", tmp_path / "a.ogg")
            await store.save_voice("discord", "42", "Ann", "a" * 64, 5.0, None)
            await svc.handle(Button(MOD, "mod_approve", pending.job.job_id))
            assert await store.voice_consent("discord", "42", "a" * 64) == "moderator:7"
            row = await store._one("SELECT consent_id FROM voice_profiles WHERE name='Ann'")
            assert row is not None and row[0] is not None
            # reusing the verified voice in a new draft needs no new review
            await store.put_draft("discord", "42", "chan1", _ready("later", voice="a" * 64))
            assert _texts(await svc.handle(Button(USER, "render")))[0].startswith(QUEUED)
            # another, unverified voice does not ride on it
            await store.put_draft("discord", "42", "chan1", _ready("other", voice="b" * 64))
            needed = _texts(await svc.handle(Button(USER, "render")))[0]
            phrase2 = await store.phrase_for("discord", "42", "chan1", "other")
            assert needed == texts.PHRASE_NEEDED.format(phrase=phrase2)
            assert await store.get_draft("discord", "42", "chan1") is not None

    asyncio.run(go())


class _FakeWhisper:
    """Stands in for faster-whisper's WhisperModel (no model can be loaded here): hears
    ``said`` in any audio that is long enough; records what it was given."""

    def __init__(self) -> None:
        self.said = ""
        self.seen: list[int] = []

    def transcribe(self, samples: Any, **kw: Any) -> tuple[list[Any], None]:
        self.seen.append(len(samples))
        seg = type("Segment", (), {"text": " " + self.said + " "})
        return [seg], None


def test_phrase_mode_with_speech_recognition_checks_the_voice_note(
    tmp_path: Path, speech_wav: Path
) -> None:
    model = _FakeWhisper()

    async def go() -> None:
        async with service(tmp_path, mode="phrase", asr=True) as (svc, store, queue):
            recognizer = FasterWhisper(Path("unused"), model=model)
            async with _transcribing(queue, recognizer, tmp_path):
                await queue.put_media("s" * 64, speech_wav.read_bytes())
                await svc.handle(Command(USER, "talk"))
                draft = await store.get_draft("discord", "42", "chan1")
                assert draft is not None
                phrase = await store.phrase_for("discord", "42", "chan1", draft.id)
                assert phrase is not None
                words = phrase.split()
                model.said = "Something else entirely."
                await store.put_draft("discord", "42", "chan1", _ready(draft.id, "s" * 64))
                refused = _texts(await svc.handle(Button(USER, "render")))
                assert refused == [texts.PHRASE_NOT_HEARD.format(phrase=phrase)]
                assert await store.get_draft("discord", "42", "chan1") is not None
                model.said = f"Okay. {' '.join(words[:3]).title()}, {words[3]}."
                accepted = _texts(await svc.handle(Button(USER, "render")))
                assert accepted[0].startswith(QUEUED)
                assert model.seen and all(n > 16_000 for n in model.seen)  # real decoding
                (record,) = await store.recent_renders("discord", GUILD)
                assert (record.mode, record.verified) == ("phrase", "asr")

    asyncio.run(go())


def test_phrase_check_with_a_real_speech_recognizer_in_the_worker(
    tmp_path: Path, speech_wav: Path, tiny_whisper: Path
) -> None:
    """MOUTHPIECE_ASR_MODEL pointing at a converted model folder: the worker loads it through
    load_recognizer (faster-whisper), the bot asks it at Render, and what it heard is checked
    against the phrase. The tiny random model hears nonsense, so the phrase is not heard."""
    from bot.settings import BotSettings
    from bot.worker import load_recognizer

    recognizer = load_recognizer(BotSettings(asr_model=str(tiny_whisper)))
    heard: list[str | None] = []

    async def go() -> None:
        async with (
            service(tmp_path, mode="phrase", asr=True) as (svc, store, queue),
            _transcribing(queue, recognizer, tmp_path),
        ):
            await queue.put_media("s" * 64, speech_wav.read_bytes())
            heard.append(await queue.transcribe("s" * 64))
            await svc.handle(Command(USER, "talk"))
            draft = await store.get_draft("discord", "42", "chan1")
            assert draft is not None
            phrase = await store.phrase_for("discord", "42", "chan1", draft.id)
            await store.put_draft("discord", "42", "chan1", _ready(draft.id, "s" * 64))
            refused = _texts(await svc.handle(Button(USER, "render")))
            assert refused == [texts.PHRASE_NOT_HEARD.format(phrase=phrase)]
            assert await store.get_draft("discord", "42", "chan1") is not None

    asyncio.run(go())
    assert heard and isinstance(heard[0], str) and heard[0]  # the worker heard something


@asynccontextmanager
async def _transcribing(queue: Queue, recognizer: Any, cache: Path) -> AsyncIterator[None]:
    """An intake worker on the queue's Redis that runs ``transcribe`` with ``recognizer``."""
    worker = Worker(
        functions=[transcribe],
        queue_name=INTAKE_QUEUE,
        burst=False,
        poll_delay=0.05,
        redis_settings=RedisSettings.from_dsn(_url(queue)),
        handle_signals=False,
        ctx={"asr": recognizer, "cache_dir": cache},
    )
    task = asyncio.create_task(worker.main())
    try:
        yield
    finally:
        await worker.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _url(queue: Queue) -> str:
    kw = queue.redis.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/0"


def test_audit_and_queue_view_with_cancel(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            await store.put_draft("discord", "42", "chan1", _ready("d1", script="Top secret words"))
            await svc.handle(Button(USER, "render"))
            audit = _texts(await svc.handle(Command(MOD, "mod", "audit")))[0]
            assert "user 42" in audit and "voice vvvvvvvv" in audit and "photo pppppppp" in audit
            assert "secret" not in audit  # hashes, not content
            view = (await svc.handle(Command(MOD, "mod", "queue")))[0]
            (button,) = view.buttons
            assert button.action == "mod_cancel" and "user 42" in view.text
            done = _texts(await svc.handle(Button(MOD, "mod_cancel", button.value)))
            assert done == [texts.MOD_CANCELLED.format(job=button.value[:8])]
            assert await store.open_in_scope("discord", GUILD) == []
            assert _texts(await svc.handle(Command(MOD, "mod", "queue"))) == [texts.MOD_QUEUE_EMPTY]
            assert await queue.redis.exists(Keys.job(button.value))  # the queue knew it

    asyncio.run(go())


def test_review_needs_someone_who_can_approve_it(tmp_path: Path) -> None:
    dm = Who("discord", "42", "dm1", None, "Ann")  # Discord DMs have no moderators
    tg = Who("telegram", "42", "42", None, "Ann")  # Telegram DMs: TELEGRAM_ADMIN_IDS
    admin = Who("telegram", "1", "1", None, "Admin", is_moderator=True)

    async def go() -> None:
        async with service(tmp_path, mode="review", dm_moderated=("telegram",)) as (svc, store, _):
            await store.put_draft("discord", "42", "dm1", _ready("d1"))
            assert _texts(await svc.handle(Button(dm, "render"))) == [texts.REVIEW_UNAVAILABLE]
            assert await store.get_draft("discord", "42", "dm1") is not None
            await store.put_draft("telegram", "42", "42", _ready("d2"))
            assert _texts(await svc.handle(Button(tg, "render")))[0].startswith("A moderator")
            listed = await svc.handle(Command(admin, "mod", "reviews"))
            assert [b.action for b in listed[0].buttons] == ["mod_approve", "mod_deny"]

    asyncio.run(go())
