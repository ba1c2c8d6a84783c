"""Batches in chat: a .txt of scripts separated by lines of ``---``, or a .csv
(``script[,title]``), makes one job per script under one batch id; each job is admitted and
counted by the limits as one video; one status message shows the batch, with one Cancel for
all of it; each video is delivered as it finishes.

The parsing is pure; the rest runs on real parts: SQLite on disk, a real redis-server, the
status board posting through the real TelegramDelivery to the Bot API stand-in, and at the
end python-telegram-bot and a real worker with the embedded engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Button, Command, Media, Reply, Who, media_kind
from bot.contract.jobs import RENDER_QUEUE, JobState, Keys, RenderJob
from bot.conversation.batches import MAX_TITLE_CHARS, BatchError, Piece, read_scripts
from bot.conversation.flow import UNNAMED, BatchIn, Enqueue, Press, Rules, TextIn, step
from bot.conversation.holds import batch_of
from bot.conversation.service import Limits, Service
from bot.jobs.book import JobBook
from bot.jobs.queue import RenderQueue
from bot.jobs.redis import connect
from bot.safety.policy import RateLimits, Safety, ServerPolicy
from bot.settings import BotSettings
from bot.worker.board import StatusBoard
from bot.worker.delivery.telegram import TelegramDelivery
from engine import Engine, EngineSettings
from tests.auxil.redis_server import redis_server
from tests.auxil.system import engine_workers, telegram_bot, with_settings
from tests.auxil.telegram_server import TelegramStandIn

WHO = Who("telegram", "42", "42", name="Ann")
OTHER = Who("telegram", "43", "43", name="Bob")
THREE = b"Hello, this is the first one.\n---\nAnd here is the second.\n  ---  \nThe third one."


# ---- parsing ---------------------------------------------------------------------------------
def test_a_txt_with_separator_lines_is_a_batch() -> None:
    """``---`` alone on a line (spaces around it allowed) separates scripts; blank stretches
    (a leading or trailing separator, two in a row) are not scripts; ``----`` is text. A
    .txt without a separator line is one script, its text unchanged."""
    text = "---\nOne,\nstill one.\n --- \n\n---\nTwo ---\n----\n---\n"
    assert read_scripts(text, csv_file=False, most=10) == [
        Piece("One,\nstill one."),
        Piece("Two ---\n----"),
    ]
    plain = "Just one script,\nover two lines. --- not a separator"
    assert read_scripts(plain, csv_file=False, most=1) == [Piece(plain)]


def test_a_csv_is_a_batch_with_or_without_its_header() -> None:
    bare = 'Hello there.,Greeting\n"Commas, in quotes.",\n\nNo title\n'
    assert read_scripts(bare, csv_file=True, most=10) == [
        Piece("Hello there.", "Greeting"),
        Piece("Commas, in quotes."),
        Piece("No title"),
    ]
    headed = "Title,SCRIPT\nFirst ,  One.\n,Two.\n"
    assert read_scripts(headed, csv_file=True, most=10) == [Piece("One.", "First"), Piece("Two.")]
    assert read_scripts("script\nOnly one.\n", csv_file=True, most=10) == [Piece("Only one.")]


@pytest.mark.parametrize(
    ("text", "csv_file", "reason"),
    [
        ("a\n---\nb\n---\nc", False, texts.BATCH_TOO_MANY.format(count=3, limit=2)),
        ("a\nb\nc\n", True, texts.BATCH_TOO_MANY.format(count=3, limit=2)),
        ("---\n  \n---", False, texts.BATCH_NO_SCRIPTS),
        ("script,title\n", True, texts.BATCH_NO_SCRIPTS),
        ("script,voice\nHi,x.ogg\n", True, texts.BATCH_CSV_HEADER.format(columns="script, voice")),
        (
            "One.\nTwo, a title, and more\n",
            True,
            texts.BATCH_SCRIPT.format(number=2, reason=texts.BATCH_CSV_COLUMNS.format(count=3)),
        ),
        (
            "Hi," + "t" * (MAX_TITLE_CHARS + 1),
            True,
            texts.BATCH_SCRIPT.format(
                number=1,
                reason=texts.BATCH_TITLE_TOO_LONG.format(
                    chars=MAX_TITLE_CHARS + 1, limit=MAX_TITLE_CHARS
                ),
            ),
        ),
        ('One.\n"Two, never closed\nThree.\n', True, texts.BATCH_CSV_UNREADABLE.format(line=3)),
    ],
)
def test_a_file_that_is_not_a_batch_says_why(text: str, csv_file: bool, reason: str) -> None:
    with pytest.raises(BatchError) as refused:
        read_scripts(text, csv_file=csv_file, most=2)
    assert refused.value.reason == reason


def test_a_csv_is_a_script_file() -> None:
    assert media_kind("batch.CSV", "application/vnd.ms-excel") == "text"
    assert media_kind("x", "text/csv; charset=utf-8") == "text"
    assert media_kind("notes.txt", "") == "text"


# ---- the flow: a batch rides the draft until a single script replaces it ----------------------
def test_the_flow_keeps_a_batch_until_one_script_replaces_it() -> None:
    rules = Rules()
    draft, said = step(None, BatchIn(("One.", "Two."), ("First",)), rules)
    assert draft is not None and draft.id == UNNAMED  # a file without /talk starts a draft
    assert (draft.script, draft.scripts, draft.titles) == ("One.", ("One.", "Two."), ("First", ""))
    assert isinstance(said[0], Reply) and said[0].text.startswith("Batch received: 2 scripts")
    asked = replace(draft, voice_hash="v", voice_seconds=5.0, transcript_asked=True, photo_hash="p")
    ready, summary = step(replace(asked, state="consent"), Press("consent"), rules)
    assert ready is not None and ready.state == "confirm"
    assert summary[0] == Reply(
        texts.SUMMARY_BATCH.format(count=2, seconds=9 / 15, voice="5 s", warnings=""),
        summary[0].buttons,
    )
    assert step(ready, Press("render"), rules) == (None, [Enqueue(ready)])
    single, _ = step(ready, TextIn("Just this."), rules)
    assert single is not None and (single.script, single.scripts, single.titles) == (
        "Just this.",
        (),
        (),
    )
    assert not single.consent  # a new script: consent is asked again


# ---- through the service: real SQLite, real Redis, no worker --------------------------------
def _file(data: bytes, name: str, mime: str = "", who: Who = WHO) -> Media:
    async def fetch() -> bytes:
        return data

    return Media(who, "text", len(data), fetch, name, mime)


def _upload(kind: str, data: bytes, duration: float | None = None) -> Media:
    async def fetch() -> bytes:
        return data

    return Media(WHO, kind, len(data), fetch, f"x.{kind}", "", duration)


def _texts(actions: Sequence[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Reply)]


@asynccontextmanager
async def _service(
    tmp: Path, *, concurrent: int = 5, blocklist: tuple[str, ...] = (), **limits: object
) -> AsyncIterator[tuple[Service, Store, Queue]]:
    with redis_server(tmp) as url:
        store = await Store.open(tmp / "db.sqlite3")
        queue = await Queue.connect(url, intake_timeout=0.2)
        policy = ServerPolicy(limits=RateLimits(user_concurrent=concurrent), blocklist=blocklist)
        service = Service(
            store,
            queue,
            tmp / "media",
            Limits(**limits),  # type: ignore[arg-type]
            safety=Safety(defaults=policy),
        )
        try:
            yield service, store, queue
        finally:
            await queue.close()
            await store.close()


async def _ready(svc: Service, script_file: Media) -> list[str]:
    """A draft with the batch, a voice note and a photo, consent given: what was said."""
    said: list[str] = []
    for event in (
        Command(WHO, "talk"),
        script_file,
        _upload("audio", b"OggS fake voice", duration=5.0),
        _upload("image", b"\xff\xd8 fake jpeg"),
        Button(WHO, "skip_transcript"),
        Button(WHO, "consent"),
    ):
        said += _texts(await svc.handle(event))
    return said


async def _jobs(store: Store) -> list[RenderJob]:
    return [live.job for live in await store.jobs.live(created_before=time.time() + 60)]


def test_a_bad_script_is_refused_by_its_number_and_the_draft_is_kept(tmp_path: Path) -> None:
    async def go() -> None:
        async with _service(
            tmp_path, blocklist=("forbidden words",), max_script_chars=60, max_batch_scripts=3
        ) as (svc, store, _):
            await svc.handle(Command(WHO, "talk"))
            kept = await svc.handle(_file(b"The script I keep.", "one.txt"))
            assert _texts(kept)[0].startswith("Script received")  # no ---: one script, as before
            cases = {
                b"Fine.\n---\n!!! ???\n---\nFine too.": (2, texts.SCRIPT_EMPTY),
                b"Fine.\n---\nFine.\n---\n" + b"word " * 20: (
                    3,
                    texts.SCRIPT_TOO_LONG.format(chars=99, limit=60),
                ),
                b"Fine.\n---\nSay the forbidden words.": (2, texts.SCRIPT_BLOCKED),
            }
            for data, (number, reason) in cases.items():
                refused = _texts(await svc.handle(_file(data, "batch.txt")))
                assert refused == [texts.BATCH_SCRIPT.format(number=number, reason=reason)]
            many = _texts(await svc.handle(_file(b"a,\nb\nc\nd\n", "b.csv", "text/csv")))
            assert many == [texts.BATCH_TOO_MANY.format(count=4, limit=3)]
            draft = await store.drafts.get(WHO.platform, WHO.user_id, WHO.chat_id)
            assert draft is not None
            assert (draft.script, draft.scripts) == ("The script I keep.", ())

    asyncio.run(go())


def test_a_batch_makes_one_job_per_script_under_one_batch_id(tmp_path: Path) -> None:
    async def go() -> None:
        async with _service(tmp_path) as (svc, store, queue):
            csv = b"script,title\nHello there.,Hi\nA second script.,\nThe third and last.,End\n"
            said = await _ready(svc, _file(csv, "batch.csv", "text/csv"))
            assert said[1].startswith("Batch received: 3 scripts")
            assert said[-1].startswith("Ready: 3 videos")
            draft = await store.drafts.get(WHO.platform, WHO.user_id, WHO.chat_id)
            assert draft is not None and draft.titles == ("Hi", "", "End")
            batch = batch_of(draft)
            queued = _texts(await svc.handle(Button(WHO, "render")))
            assert queued == [texts.BATCH_QUEUED.format(count=3, batch=batch[:8])]
            jobs = await _jobs(store)
            assert sorted(j.script for j in jobs) == sorted(
                ["Hello there.", "A second script.", "The third and last."]
            )
            assert {j.batch for j in jobs} == {batch} and len({j.job_id for j in jobs}) == 3
            assert {j.title for j in jobs} == {"Hi", "", "End"}
            assert await queue.redis.zcard(RENDER_QUEUE) == 3
            members = await queue.redis.smembers(Keys.batch_jobs(batch))  # type: ignore[misc]
            assert {m.decode() for m in members} == {j.job_id for j in jobs}
            places = await store.safety.places.batch_places(batch)
            assert {p.job_id for p in places} == {j.job_id for j in jobs}
            assert await store.drafts.get(WHO.platform, WHO.user_id, WHO.chat_id) is None
            await svc.handle(Command(WHO, "forget"))  # the batch's records go with its jobs
            assert not await queue.redis.exists(Keys.batch(batch), Keys.batch_jobs(batch))

    asyncio.run(go())


def test_the_limits_count_each_video_of_a_batch(tmp_path: Path) -> None:
    """Two videos at once per person, three scripts: two are queued, the third is held in
    the draft (queued as room frees up); Render again once a video has ended queues it at
    once, the first two not again."""

    async def go() -> None:
        async with _service(tmp_path, concurrent=2) as (svc, store, _):
            await _ready(svc, _file(THREE, "batch.txt", "text/plain"))
            partly = _texts(await svc.handle(Button(WHO, "render")))
            draft = await store.drafts.get(WHO.platform, WHO.user_id, WHO.chat_id)
            assert draft is not None and draft.state == "confirm" and draft.held  # the rest
            room = texts.HELD_ROOM["concurrent"].format(allowed=2)
            assert partly == [
                texts.BATCH_HELD.format(
                    made=2, total=3, left=1, batch=batch_of(draft)[:8], room=room
                )
            ]
            first = await _jobs(store)
            assert len(first) == 2
            await svc.handle(Button(WHO, "cancel_job", first[0].job_id))
            rest = _texts(await svc.handle(Button(WHO, "render")))
            assert rest == [texts.BATCH_QUEUED.format(count=3, batch=batch_of(draft)[:8])]
            rows = await store.jobs.recent(WHO.platform, WHO.user_id, limit=10)
            assert len(rows) == 3  # the two made before, not again; the third now
            assert sorted(r.status for r in rows) == ["cancelled", "queued", "queued"]

    asyncio.run(go())


def test_a_batch_the_limits_refuse_whole_keeps_the_draft(tmp_path: Path) -> None:
    async def go() -> None:
        async with _service(tmp_path, concurrent=0) as (svc, store, queue):
            await _ready(svc, _file(THREE, "batch.txt"))
            refused = _texts(await svc.handle(Button(WHO, "render")))
            assert refused == [texts.LIMIT_OFF + texts.DRAFT_KEPT]
            assert await _jobs(store) == [] and await queue.redis.zcard(RENDER_QUEUE) == 0
            draft = await store.drafts.get(WHO.platform, WHO.user_id, WHO.chat_id)
            assert draft is not None and len(draft.scripts) == 3

    asyncio.run(go())


def test_cancel_for_the_batch_cancels_every_job_and_only_its_owner_may(tmp_path: Path) -> None:
    async def go() -> None:
        async with _service(tmp_path) as (svc, store, queue):
            await _ready(svc, _file(THREE, "batch.txt"))
            draft = await store.drafts.get(WHO.platform, WHO.user_id, WHO.chat_id)
            assert draft is not None
            batch = batch_of(draft)
            await svc.handle(Button(WHO, "render"))
            assert len(await _jobs(store)) == 3
            theirs = _texts(await svc.handle(Button(OTHER, "cancel_batch", batch)))
            assert theirs == [texts.BATCH_NOT_YOURS]
            unknown = _texts(await svc.handle(Button(WHO, "cancel_batch", "0123456789")))
            assert unknown == [texts.BATCH_UNKNOWN.format(batch="0123456789")]
            assert await queue.redis.zcard(RENDER_QUEUE) == 3  # nothing cancelled yet
            done = _texts(await svc.handle(Button(WHO, "cancel_batch", batch)))
            assert done == [
                texts.BATCH_CANCELLED.format(batch=batch[:8], removed=3, stopping=0, closed=0)
            ]
            assert await queue.redis.zcard(RENDER_QUEUE) == 0
            rows = await store.jobs.recent(WHO.platform, WHO.user_id, limit=10)
            assert [r.status for r in rows] == ["cancelled"] * 3
            again = _texts(await svc.handle(Button(WHO, "cancel_batch", batch)))
            assert again == [texts.BATCH_ALREADY.format(batch=batch[:8])]

    asyncio.run(go())


# ---- the status board: one message for the batch ---------------------------------------------
def test_the_board_shows_a_batch_in_one_message_with_one_cancel(tmp_path: Path) -> None:
    """Three jobs of a batch queued through the real queue, and a lone job: two messages,
    the batch's with its counts and a Cancel for the batch; edited as its jobs move, final
    (no button, off the board) once every job has ended."""

    async def go() -> None:
        tg = TelegramStandIn()
        await tg.start()
        with redis_server(tmp_path) as url:
            redis = await connect(url)
            try:
                async with aiohttp.ClientSession() as session:
                    messenger = TelegramDelivery(session, tg.url, "123:TEST", tries=1)
                    board = StatusBoard(
                        redis, {"telegram": messenger}, name="w1", min_edit_seconds=0.0
                    )
                    queue, book = RenderQueue(redis), JobBook(redis)
                    ids = [f"b-job-{n}" for n in range(3)]
                    for job_id in ids:
                        await queue.enqueue(_job(job_id, "bt1"))
                    await queue.enqueue(_job("lone-job", ""))
                    assert await board.tick() == 2
                    assert len(tg.texts(42)) == 2
                    assert sorted(tg.buttons(42)) == ["cancel_batch|bt1", "cancel_job|lone-job"]
                    batch_text = next(t for t in tg.texts(42) if t.startswith("🎬 Batch"))
                    assert batch_text == texts.STATUS_BATCH.format(
                        batch="bt1", count=3, parts="3 queued"
                    )
                    await book.move(ids[0], JobState.RUNNING, stage="video", fraction=0.5)
                    await board.tick()
                    assert texts.STATUS_BATCH.format(
                        batch="bt1", count=3, parts="1 rendering 61%, 2 queued"
                    ) in tg.edits(42)
                    await book.move(ids[0], JobState.DONE)
                    await book.move(ids[1], JobState.CANCELLED)
                    await book.move(ids[2], JobState.FAILED)
                    await board.tick()
                    assert tg.edits(42)[-1] == texts.STATUS_BATCH_ENDED.format(
                        batch="bt1", count=3, parts="1 done, 1 failed, 1 cancelled"
                    )
                    left = await redis.smembers(Keys.ACTIVE)  # type: ignore[misc]
                    assert {m.decode() for m in left} == {"lone-job"}
                    assert len(tg.texts(42)) == 2  # edited, never posted again
                    await board.close()
            finally:
                await redis.aclose()
                await tg.stop()

    asyncio.run(go())


def _job(job_id: str, batch: str, size: int = 0) -> RenderJob:
    return RenderJob(
        job_id,
        "telegram",
        "42",
        "42",
        "Hello there.",
        "v" * 64,
        "p" * 64,
        batch=batch,
        batch_size=size,
    )


def test_a_batch_with_scripts_held_back_counts_them_and_is_never_done(tmp_path: Path) -> None:
    """Two of a batch of five queued (a limit holds the rest back): the message counts five
    and never says the videos are below while three are not queued yet; a third queued
    later joins the same message."""

    async def go() -> None:
        tg = TelegramStandIn()
        await tg.start()
        with redis_server(tmp_path) as url:
            redis = await connect(url)
            try:
                async with aiohttp.ClientSession() as session:
                    messenger = TelegramDelivery(session, tg.url, "123:TEST", tries=1)
                    board = StatusBoard(
                        redis, {"telegram": messenger}, name="w1", min_edit_seconds=0.0
                    )
                    queue, book = RenderQueue(redis), JobBook(redis)
                    for job_id in ("h-0", "h-1"):
                        await queue.enqueue(_job(job_id, "bt5", size=5))
                    assert await board.tick() == 1
                    assert tg.texts(42) == [
                        texts.STATUS_BATCH.format(
                            batch="bt5", count=5, parts="2 queued, 3 not queued yet"
                        )
                    ]
                    for job_id in ("h-0", "h-1"):
                        await book.move(job_id, JobState.RUNNING)
                        await book.move(job_id, JobState.DONE)
                    await board.tick()
                    assert tg.edits(42)[-1] == texts.STATUS_BATCH.format(
                        batch="bt5", count=5, parts="2 done, 3 not queued yet"
                    )
                    await queue.enqueue(_job("h-2", "bt5", size=5))
                    await board.tick()
                    assert tg.edits(42)[-1] == texts.STATUS_BATCH.format(
                        batch="bt5", count=5, parts="2 done, 1 queued, 2 not queued yet"
                    )
                    assert len(tg.texts(42)) == 1  # one message, edited
                    await board.close()
            finally:
                await redis.aclose()
                await tg.stop()

    asyncio.run(go())


# ---- end to end: a batch file on Telegram, through the real worker ---------------------------
CHAT = 777


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(EngineSettings())


def test_a_batch_file_on_telegram_makes_its_videos_under_one_status_message(
    tmp_path: Path, engine: Engine, sample_voice: Path, sample_photo: Path
) -> None:
    async def go() -> None:
        with redis_server(tmp_path) as url:
            settings = BotSettings(
                telegram_bot_token="123:TEST",
                redis_url=url,
                data_dir=tmp_path / "data",
                status_edit_seconds=0.2,
                board_interval_seconds=0.2,
                limit_user_concurrent=3,
            )
            async with telegram_bot(settings) as (tg, _):
                workers = with_settings(settings, telegram_api_base_url=tg.url)
                async with engine_workers(workers, engine):
                    await _batch_on_telegram(tg, sample_voice, sample_photo)

    asyncio.run(go())


async def _batch_on_telegram(tg: TelegramStandIn, voice: Path, photo: Path) -> None:
    def said(start: str) -> bool:
        return any(t.startswith(start) for t in tg.texts(CHAT))

    tg.send_text(CHAT, "/talk")
    await tg.wait_for(lambda: said(texts.START[:20]))
    tg.send_document(CHAT, b"Hello one.\n---\nHello two.\n---\nHello three.", "b.txt", "text/plain")
    await tg.wait_for(lambda: said("Batch received: 3 scripts"))
    tg.send_voice(CHAT, voice.read_bytes(), duration=7)
    await tg.wait_for(lambda: "skip_transcript|" in tg.buttons(CHAT), timeout=60)
    tg.send_photo(CHAT, photo.read_bytes())
    await tg.wait_for(lambda: said("Photo received"), timeout=60)
    tg.press(CHAT, "skip_transcript|")
    await tg.wait_for(lambda: "consent|" in tg.buttons(CHAT))
    tg.press(CHAT, "consent|")
    await tg.wait_for(lambda: said("Ready: 3 videos"))
    tg.press(CHAT, "render|")
    await tg.wait_for(lambda: said("Queued 3 videos as batch"))
    await tg.wait_for(lambda: len(tg.videos(CHAT)) >= 3, timeout=180)
    await tg.wait_for(lambda: any(t.startswith("✅ Batch") for t in _statuses(tg)))
    shown = _statuses(tg)[-1]  # the last send or edit of the status message
    assert shown.startswith("✅ Batch of 3 (") and shown.endswith(
        "): 3 done. The videos are below."
    )
    posted = [t for t in tg.texts(CHAT) if t.startswith(_STATUS_MARKS)]
    assert len(posted) == 1, posted  # one status message for the batch, then edited
    cancels = [b for b in tg.buttons(CHAT) if b.startswith("cancel_")]
    assert len(cancels) == 1 and cancels[0].startswith("cancel_batch|"), cancels
    assert len(tg.videos(CHAT)) == 3


_STATUS_MARKS = ("🎬", "⏳", "✅", "🏁", "❌", "🚫", "🔁")


def _statuses(tg: TelegramStandIn) -> list[str]:
    """Every status text the chat was sent or had edited, in order."""
    return [
        str(c.params.get("text", ""))
        for c in tg.calls
        if c.method in ("sendMessage", "editMessageText")
        and str(c.params.get("chat_id")) == str(CHAT)
        and str(c.params.get("text", "")).startswith(_STATUS_MARKS)
    ]


def test_a_titled_video_heads_its_caption_with_its_title(tmp_path: Path) -> None:
    """A batch row's title reaches the chat: the video's caption starts with it (the
    AI-generated caption stays); an untitled video keeps the caption alone."""
    from types import SimpleNamespace

    from bot.worker.outbox import deliver

    sent: list[str] = []

    class Messenger:
        async def send_video(self, chat_id: str, video: Path, caption: str, key: str) -> object:
            sent.append(caption)
            return {"message_id": 7}

    w = SimpleNamespace(messengers={"telegram": Messenger()})
    titled = RenderJob(**{**_job("t-1", "bt").__dict__, "title": "Monday: the plan"})
    assert asyncio.run(deliver(w, titled, tmp_path / "v.mp4", "")) == "7"  # type: ignore[arg-type]
    asyncio.run(deliver(w, _job("t-2", "bt"), tmp_path / "v.mp4", ""))  # type: ignore[arg-type]
    assert sent == [
        texts.TITLED_CAPTION.format(title="Monday: the plan", caption=texts.VIDEO_CAPTION),
        texts.VIDEO_CAPTION,
    ]
