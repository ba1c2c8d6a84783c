"""Hold and resume: the scripts of a batch that a limit freeing by itself (the person's videos
at once, the queue's caps) held back are queued one by one as room frees up, each admitted
and counted as the owner's Render press would be; any other refusal ends the hold, said once.

Real parts: SQLite on disk, a real redis-server, the service without a worker. A job is
finished as a worker finishes it (its live record moved in Redis); the lifecycle's catch-up
brings that into the store before the limits count."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.chat.app import build_service, run_bot
from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import WEB_CHAT, Button, Command, Media, Reply, Text, Who
from bot.contract.jobs import RENDER_QUEUE, JobState, Keys
from bot.conversation.flow import Draft
from bot.conversation.holds import batch_of, part_of
from bot.conversation.service import Limits, Service
from bot.safety.authority import Staff
from bot.safety.policy import RateLimits, Safety, ServerPolicy
from bot.settings import BotSettings
from tests.auxil.redis_server import redis_server

WHO = Who("telegram", "42", "42", name="Ann")
WEB = Who("telegram", "42", WEB_CHAT)
FIVE = b"Script one.\n---\nScript two.\n---\nScript three.\n---\nScript four.\n---\nScript five."
Told = list[tuple[str, str, str]]


def _texts(actions: Sequence[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Reply)]


def _media(who: Who, kind: str, data: bytes, name: str, duration: float | None = None) -> Media:
    async def fetch() -> bytes:
        return data

    return Media(who, kind, len(data), fetch, name, "", duration)


@asynccontextmanager
async def _service(
    tmp: Path, *, concurrent: int = 2, per_day: int = 20, mode: str = "attest", **rates: int
) -> AsyncIterator[tuple[Service, Store, Queue, Told]]:
    """The service on real SQLite and Redis (user 1 is Telegram's operator); ``told``: every
    notice the held batches sent (each still goes to the real queue)."""
    with redis_server(tmp) as url:
        store = await Store.open(tmp / "db.sqlite3")
        queue = await Queue.connect(url, intake_timeout=0.2)
        limits = RateLimits(user_concurrent=concurrent, user_per_day=per_day, **rates)
        safety = Safety(
            ServerPolicy(consent_mode=mode, limits=limits),
            staff=Staff(operators={"telegram": frozenset({"1"})}),
        )
        service = Service(store, queue, tmp / "media", Limits(), safety=safety)
        told: Told = []
        real = service.batches.notify

        async def notify(platform: str, chat_id: str, text: str, job_id: str) -> None:
            told.append((platform, chat_id, text))
            await real(platform, chat_id, text, job_id)

        service.batches.notify = notify
        try:
            yield service, store, queue, told
        finally:
            await queue.close()
            await store.close()


async def _held(svc: Service, who: Who = WHO, scripts: bytes = FIVE) -> tuple[Draft, list[str]]:
    """A batch draft with a voice and a photo, consent given, Render pressed: the draft
    after it and what Render said."""
    for event in (
        Command(who, "talk"),
        _media(who, "text", scripts, "batch.txt"),
        _media(who, "audio", b"OggS fake voice", "v.ogg", duration=5.0),
        _media(who, "image", b"\xff\xd8 fake jpeg", "p.jpg"),
        Button(who, "skip_transcript"),
        Button(who, "consent"),
    ):
        await svc.handle(event)
    said = _texts(await svc.handle(Button(who, "render")))
    draft = await svc.store.drafts.get(who.platform, who.user_id, who.chat_id)
    assert draft is not None
    return draft, said


async def _open(store: Store, who: Who = WHO) -> list[str]:
    """The person's jobs waiting or rendering (the store's view)."""
    rows = await store.jobs.recent(who.platform, who.user_id, limit=50, open_only=True)
    return [r.job_id for r in rows]


async def _made(store: Store, who: Who = WHO) -> list[str]:
    return [r.job_id for r in await store.jobs.recent(who.platform, who.user_id, limit=50)]


async def _idle_since(store: Store, set_to: float | None = None) -> float:
    """When the person's draft last changed (the retention purge drops drafts idle long),
    after setting it to ``set_to``."""
    if set_to is not None:
        async with store.database.writing() as db:
            await db.execute("UPDATE drafts SET updated=?", (set_to,))
    cur = await store.database.conn.execute("SELECT updated FROM drafts")
    row = await cur.fetchone()
    assert row is not None
    return float(row[0])


async def _finish(queue: Queue, job_id: str) -> None:
    """What a worker does to a job it renders and delivers: takes it off the queue, and
    moves its live record."""
    assert await queue.redis.zrem(RENDER_QUEUE, job_id) == 1
    await queue.book.move(job_id, JobState.RUNNING, worker="w1")
    await queue.book.move(job_id, JobState.DONE, output_bytes=1)


def test_a_held_batch_is_queued_one_by_one_as_videos_finish(tmp_path: Path) -> None:
    """Two videos at once, five scripts: Render queues two and holds three; each pass after
    videos finish queues as many as there is room for, never a third at once, never one
    twice, until all five are made and the draft is gone. No notice: the batch's status
    message counts the new jobs (they join the batch's set in Redis)."""

    async def go() -> None:
        async with _service(tmp_path) as (svc, store, queue, told):
            draft, said = await _held(svc)
            batch = batch_of(draft)
            room = texts.HELD_ROOM["concurrent"].format(allowed=2)
            assert said == [
                texts.BATCH_HELD.format(made=2, total=5, left=3, batch=batch[:8], room=room)
            ]
            assert draft.held and draft.state == "confirm"
            found = await queue.book.read_batch(batch)  # its status message counts all five
            assert found is not None and found[0].batch_size == 5
            status = _texts(await svc.handle(Command(WHO, "status")))[0]
            assert texts.STATUS_HELD.format(batch=batch[:8], left=3) in status
            ids = [part_of(draft, n) for n in range(5)]
            assert sorted(await _open(store)) == sorted(ids[:2])
            assert await svc.batches.resume() == 0  # no room yet: nothing made
            await _finish(queue, ids[0])
            await _idle_since(store, 0.0)
            assert await svc.batches.resume() == 1
            assert sorted(await _open(store)) == sorted([ids[1], ids[2]])
            assert await _idle_since(store) > 0.0  # in use: the retention purge leaves it
            assert await svc.batches.resume() == 0  # full again
            await _finish(queue, ids[1])
            await _finish(queue, ids[2])
            assert await svc.batches.resume() == 2
            assert sorted(await _open(store)) == sorted(ids[3:])
            assert sorted(await _made(store)) == sorted(ids)  # each once
            assert await store.drafts.get(WHO.platform, WHO.user_id, WHO.chat_id) is None
            assert await store.drafts.held() == []
            members = await queue.redis.smembers(Keys.batch_jobs(batch))  # type: ignore[misc]
            assert {m.decode() for m in members} == set(ids)
            assert told == []

    asyncio.run(go())


def test_cancel_all_during_a_pass_leaves_nothing_queued_after_its_answer(tmp_path: Path) -> None:
    """The batch's Cancel all arrives while a pass is admitting the next script: it waits for
    that person's pass, ends the hold, then cancels every job, the one just made too."""

    async def go() -> None:
        async with _service(tmp_path) as (svc, store, queue, _):
            draft, _ = await _held(svc)
            batch = batch_of(draft)
            ids = [part_of(draft, n) for n in range(5)]
            await _finish(queue, ids[0])
            entered, release = asyncio.Event(), asyncio.Event()
            supply = queue.supply_media

            async def stalled(digest: str, path: Path | None, job_id: str = "") -> bool:
                if not entered.is_set():  # the pass's admission of the next script
                    entered.set()
                    await release.wait()
                return await supply(digest, path, job_id)

            queue.supply_media = stalled  # type: ignore[method-assign]
            resume = asyncio.create_task(svc.batches.resume())
            waiting = asyncio.create_task(entered.wait())
            await asyncio.wait({resume, waiting}, return_when=asyncio.FIRST_COMPLETED)
            assert entered.is_set(), "the pass admitted nothing"
            cancel = asyncio.create_task(svc.handle(Button(WHO, "cancel_batch", batch)))
            key = (WHO.platform, WHO.user_id)
            while not cancel.done() and svc.locks.pending(key) < 2:  # it waits for the pass
                await asyncio.sleep(0.01)
            release.set()
            assert await resume == 1
            answer = _texts(await cancel)
            assert answer == [
                texts.BATCH_CANCELLED.format(batch=batch[:8], removed=2, stopping=0, closed=1)
                + texts.BATCH_HOLD_STOPPED.format(left=2)
            ]
            assert await svc.batches.resume() == 0
            assert await queue.redis.zcard(RENDER_QUEUE) == 0
            assert await _open(store) == []
            rows = await store.jobs.recent(WHO.platform, WHO.user_id, limit=10)
            assert sorted(r.status for r in rows) == ["cancelled", "cancelled", "done"]
            kept = await store.drafts.get(WHO.platform, WHO.user_id, WHO.chat_id)
            assert kept is not None and not kept.held  # kept for Render, no longer held

    asyncio.run(go())


@pytest.mark.parametrize(
    ("who", "stop", "reason"),
    [
        (WHO, "ban", texts.BANNED),
        (WHO, "blocklist", texts.SCRIPT_BLOCKED),
        (WEB, "ban", texts.BANNED),  # the web studio: ended the same, told nowhere
    ],
)
def test_a_refusal_that_does_not_free_ends_the_hold_said_once(
    tmp_path: Path, who: Who, stop: str, reason: str
) -> None:
    async def go() -> None:
        async with _service(tmp_path) as (svc, store, queue, told):
            draft, _ = await _held(svc, who)
            ids = [part_of(draft, n) for n in range(5)]
            if stop == "ban":
                await store.safety.bans.ban(who.platform, "", who.user_id, "spam", "mod")
            else:
                await store.safety.policy.edit_guild_policy(
                    who.platform, "", lambda p: {**p, "blocklist": ["script three"]}
                )
            await _finish(queue, ids[0])
            assert await svc.batches.resume() == 0
            assert await svc.batches.resume() == 0  # ended: not tried, not said again
            assert sorted(await _made(store, who)) == sorted(ids[:2])
            batch = batch_of(draft)[:8]
            said = texts.BATCH_HOLD_ENDED.format(batch=batch, left=3, reason=reason)
            assert told == ([] if who.chat_id == WEB_CHAT else [("telegram", "42", said)])
            kept = await store.drafts.get(who.platform, who.user_id, who.chat_id)
            assert kept is not None and not kept.held and len(kept.scripts) == 5

    asyncio.run(go())


def test_a_daily_limit_is_not_held(tmp_path: Path) -> None:
    """Three videos a day, five scripts, room for five at once: three are queued; the day's
    count frees only hours later, so the rest is not held: Render again then."""

    async def go() -> None:
        async with _service(tmp_path, concurrent=5, per_day=3) as (svc, store, queue, told):
            draft, said = await _held(svc)
            assert said[0].startswith(f"Queued 3 of 5 videos as batch {batch_of(draft)[:8]};")
            assert "limit of 3 videos a day" in said[0] and not draft.held
            ids = [part_of(draft, n) for n in range(5)]
            for job_id in ids[:3]:
                await _finish(queue, job_id)
            assert await svc.batches.resume() == 0
            assert sorted(await _made(store)) == sorted(ids[:3]) and told == []

    asyncio.run(go())


def test_a_full_queue_share_holds_a_batch_too(tmp_path: Path) -> None:
    """The direct messages' share of the queue (two videos from everyone) frees as any
    video there finishes, someone else's too: the rest is held, and queued then."""

    async def go() -> None:
        async with _service(tmp_path, concurrent=5, queue_dm=2) as (svc, store, queue, told):
            draft, said = await _held(svc)
            room = texts.HELD_ROOM["queue_dm"].format(allowed=2)
            batch = batch_of(draft)[:8]
            assert said == [
                texts.BATCH_HELD.format(made=2, total=5, left=3, batch=batch, room=room)
            ]
            assert draft.held
            await _finish(queue, part_of(draft, 0))
            assert await svc.batches.resume() == 1 and told == []

    asyncio.run(go())


def test_videos_held_for_review_are_told_as_they_are_asked_for(tmp_path: Path) -> None:
    """Under review mode each video waits for a moderator (and counts as open meanwhile);
    the status message shows no review, so a pass that asks for more says so in the chat."""

    async def go() -> None:
        async with _service(tmp_path, mode="review") as (svc, store, queue, told):
            draft, said = await _held(svc)
            batch = batch_of(draft)[:8]
            room = texts.HELD_ROOM["concurrent"].format(allowed=2)
            assert said == [
                texts.BATCH_HELD.format(made=2, total=5, left=3, batch=batch, room=room)
            ]
            operator = Who("telegram", "1", "1")
            await svc.handle(Button(operator, "mod_deny", part_of(draft, 0)))
            assert await svc.batches.resume() == 1
            said_more = texts.BATCH_MORE_REVIEW.format(count=1, batch=batch)
            assert told == [("telegram", "42", said_more)]
            rows = await store.jobs.recent(WHO.platform, WHO.user_id, limit=10)
            assert sorted(r.status for r in rows) == ["denied", "review", "review"]

    asyncio.run(go())


@pytest.mark.parametrize(
    "event",
    [Text(WHO, "A new script instead."), Command(WHO, "cancel"), Command(WHO, "talk")],
    ids=["new-script", "cancel", "talk"],
)
def test_changing_or_dropping_the_draft_ends_the_hold(tmp_path: Path, event: object) -> None:
    """What Render was pressed for is what a hold queues: a new script, /cancel or /talk
    ends it, and nothing more is queued."""

    async def go() -> None:
        async with _service(tmp_path) as (svc, store, queue, told):
            draft, _ = await _held(svc)
            await svc.handle(event)  # type: ignore[arg-type]
            assert await store.drafts.held() == []
            await _finish(queue, part_of(draft, 0))
            assert await svc.batches.resume() == 0
            assert len(await _made(store)) == 2 and told == []

    asyncio.run(go())


def test_the_bot_process_resumes_held_batches_by_itself(tmp_path: Path) -> None:
    """run_bot (as `python -m bot` runs it, no front-end) queues a held script once room is
    free, every MOUTHPIECE_BATCH_RESUME_SECONDS."""

    async def go(url: str) -> None:
        settings = BotSettings(
            redis_url=url,
            data_dir=tmp_path / "data",
            bot_metrics_port=0,
            intake_timeout_seconds=0.2,
            limit_user_concurrent=2,
            batch_resume_seconds=0.05,
        )
        svc, store, queue = await build_service(settings)
        try:
            draft, _ = await _held(svc, scripts=b"One.\n---\nTwo.\n---\nThree.")
            await _finish(queue, part_of(draft, 0))
        finally:
            await queue.close()
            await store.close()
        bot = asyncio.create_task(run_bot(settings, telegram=False, discord=False))
        store = await Store.open(settings.db_path)
        try:
            deadline = time.monotonic() + 30
            # the third script made, and with it the hold over (its draft dropped)
            while len(await _made(store)) < 3 or await store.drafts.held():
                assert time.monotonic() < deadline and not bot.done(), "never resumed"
                await asyncio.sleep(0.05)
            assert len(await _made(store)) == 3
        finally:
            bot.cancel()
            await asyncio.gather(bot, return_exceptions=True)
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("nan")])
def test_the_resume_interval_must_be_positive(seconds: float) -> None:
    with pytest.raises(ValueError, match="MOUTHPIECE_BATCH_RESUME_SECONDS"):
        BotSettings(batch_resume_seconds=seconds)


def test_a_new_batch_in_a_held_draft_makes_new_videos(tmp_path: Path) -> None:
    """A new script file sent into a draft whose first batch was partly made is another
    batch: its scripts are new jobs (never taken for the first batch's, which share their
    places in the file), under another batch id."""

    async def go() -> None:
        async with _service(tmp_path) as (svc, store, queue, _):
            first, _ = await _held(svc)
            made = await _made(store)
            assert sorted(made) == sorted([part_of(first, 0), part_of(first, 1)])
            for job_id in made:
                await _finish(queue, job_id)
            other = b"Another one.\n---\nAnd another."
            await svc.handle(_media(WHO, "text", other, "second.txt"))
            await svc.handle(Button(WHO, "consent"))
            said = _texts(await svc.handle(Button(WHO, "render")))
            second = await store.drafts.get("telegram", "42", "42")
            assert second is None or second.scripts != first.scripts
            now = await _made(store)
            assert len(now) == 4, said  # two more jobs, none skipped as "made"
            new = sorted(set(now) - set(made))
            assert len(new) == 2 and not set(new) & {part_of(first, n) for n in range(5)}

    asyncio.run(go())
