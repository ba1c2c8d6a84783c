"""One life for a job (bot.jobs): the transition table in Redis and in the store, submit that
cannot lie, the reconciler, JSON instead of pickle, a ban that stops jobs (queued, and running
on a worker), and two videos for the same photo sent twice. Real parts: redis-server, SQLite,
`python -m bot.worker` subprocesses or a worker's arq workers in this process, the Telegram Bot
API and Discord REST stand-ins."""

from __future__ import annotations

import asyncio
import functools
import pickle
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Button, Command, Media, Reply, Text, Who
from bot.contract.jobs import (
    INTAKE_QUEUE,
    RENDER_QUEUE,
    TRANSITIONS,
    CancelOutcome,
    IllegalTransition,
    JobState,
    Keys,
    RenderJob,
    job_id_for,
    may_move,
)
from bot.contract.ports import ErasePlan
from bot.conversation.service import Limits, Service
from bot.jobs.lifecycle import SUBMIT_GRACE, Lifecycle
from bot.safety import RateLimits, Safety, ServerPolicy
from bot.settings import BotSettings
from engine import Engine, EngineSettings, RenderRequest
from engine.errors import Cancelled
from engine.types import RenderResult
from tests.auxil.discord_server import DiscordStandIn
from tests.auxil.redis_server import redis_server
from tests.auxil.system import engine_workers, ready_draft
from tests.auxil.workers import (
    SAMPLES,
    is_status,
    platform_and_queue,
    status_of,
    wait_until,
    worker,
)

QUEUED = texts.QUEUED.split("{")[0]  # "Queued as job " (the rest names the job)


def _texts(actions: list[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Reply)]


def _job(job_id: str, user: str = "u1", platform: str = "telegram") -> RenderJob:
    return RenderJob(job_id, platform, user, user, "Hello there.", "v" * 64, "p" * 64)


# ---- the table -------------------------------------------------------------------------
def test_the_table_closes_every_closed_state_and_starts_jobs_queued_or_in_review() -> None:
    assert all(not TRANSITIONS[s] for s in (JobState.DONE, JobState.CANCELLED, JobState.DENIED))
    assert set(TRANSITIONS) == set(JobState)  # every state has its row
    assert may_move(None, JobState.QUEUED) and may_move(None, JobState.REVIEW)
    assert not may_move(None, JobState.RUNNING)
    assert may_move(JobState.RETRYING, JobState.RUNNING)
    assert not may_move(JobState.DONE, JobState.RUNNING)
    assert not may_move(JobState.REVIEW, JobState.RUNNING)  # approved jobs are queued first


def test_the_book_refuses_illegal_moves_and_the_store_follows_its_reports(tmp_path: Path) -> None:
    """Every state change goes through one script in Redis that applies the table; the
    lifecycle applies the same changes to the store, in order, once each."""

    async def go(url: str) -> None:
        store = await Store.open(tmp_path / "db.sqlite3")
        queue = await Queue.connect(url)
        jobs = Lifecycle(store.jobs, queue, _Present(), _no_notice, consumer="test")
        try:
            job = _job("j1")
            await store.jobs.add(job, None)
            assert await queue.enqueue(job)
            book = queue.book
            assert await book.move("j1", JobState.RUNNING, worker="w1") == JobState.QUEUED
            with pytest.raises(IllegalTransition):
                await book.move("j1", JobState.REVIEW)
            assert await book.move("j1", JobState.DELIVERING) == JobState.RUNNING
            assert await book.move("j1", JobState.DONE, output_bytes=123) == JobState.DELIVERING
            with pytest.raises(IllegalTransition):  # a late writer cannot reopen it
                await book.move("j1", JobState.RUNNING)
            assert await book.move("gone", JobState.RUNNING) is None  # no record: no write
            assert not await queue.redis.exists(Keys.job("gone"))
            with pytest.raises(TypeError):
                await book.note("j1", state=JobState.QUEUED)  # notes never change the state
            assert await store.jobs.state("j1") == JobState.QUEUED  # not applied yet
            assert await jobs.catch_up() == 3
            assert await store.jobs.state("j1") == JobState.DONE
            (row,) = await store.jobs.recent("telegram", "u1")
            assert row.output_bytes == 123
            assert await jobs.catch_up() == 0  # each report applied once
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


class _Present:
    """Every job's uploads are where the workers can fetch them."""

    async def supply(self, job: RenderJob) -> str | None:
        return None


async def _no_notice(platform: str, chat_id: str, text: str, job_id: str) -> None:
    raise AssertionError(f"nobody should be told anything: {text}")


# ---- submit that cannot lie ------------------------------------------------------------
WHO = Who("discord", "42", "chan", guild_id="g1", name="Ann")


async def _service(tmp: Path, url: str, **safety: object) -> tuple[Service, Store, Queue]:
    store = await Store.open(tmp / "db.sqlite3")
    queue = await Queue.connect(url, intake_timeout=0.3)
    for digest in ("v" * 64, "p" * 64):  # the uploads the drafts name, as the bot keeps them
        path = tmp / "media" / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"media")
        await store.media.put(digest, "audio", 5, "", path)
    policy = ServerPolicy(limits=RateLimits(-1, -1, -1, -1, -1, -1))
    limits = Safety(defaults=policy, **safety)  # type: ignore[arg-type]
    return Service(store, queue, tmp / "media", Limits(), safety=limits), store, queue


def test_a_redis_refusal_at_enqueue_never_answers_queued(tmp_path: Path) -> None:
    """Redis at maxmemory refuses the enqueue: the person hears "busy", the draft stays, no
    job is recorded (so /status says nothing is queued and nothing holds a slot); once
    Redis takes writes again, the same press queues the job for real."""

    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url)
        try:
            await store.drafts.put("discord", "42", "chan", ready_draft("d1"))
            for digest in ("v" * 64, "p" * 64):  # the workers' copies are there: the refusal
                await queue.put_media(digest, b"media")  # strikes at the enqueue itself
            await queue.redis.config_set("maxmemory", "1")  # every write refused (noeviction)
            await queue.redis.config_set("maxmemory-policy", "noeviction")
            assert _texts(await svc.handle(Button(WHO, "render"))) == [texts.BUSY]
            assert await store.jobs.recent("discord", "42") == []  # no job that will never run
            assert await store.drafts.get("discord", "42", "chan") == ready_draft("d1")
            status = _texts(await svc.handle(Command(WHO, "status")))[0]
            assert "queued" not in status
            await queue.redis.config_set("maxmemory", "0")
            answer = _texts(await svc.handle(Button(WHO, "render")))[0]
            assert answer.startswith(QUEUED)
            (row,) = await store.jobs.recent("discord", "42")
            assert row.status == JobState.QUEUED
            assert await queue.redis.zscore(RENDER_QUEUE, row.job_id) is not None
            record = await queue.record(row.job_id)
            assert record is not None and record.state == JobState.QUEUED
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_the_reconciler_queues_what_the_queue_never_took_and_fails_what_it_lost(
    tmp_path: Path,
) -> None:
    """A crash between the store and the queue (or Redis restarted without its files) leaves
    rows the queue does not hold: a job that never started is queued again; one that had
    started is failed and its owner told; one the worker finished is closed in the store."""

    async def go(url: str) -> None:
        store = await Store.open(tmp_path / "db.sqlite3")
        queue = await Queue.connect(url)
        told: list[tuple[str, str]] = []

        async def notify(platform: str, chat_id: str, text: str, job_id: str) -> None:
            told.append((chat_id, text))

        jobs = Lifecycle(store.jobs, queue, _Present(), notify, consumer="test")
        try:
            old = time.time() - SUBMIT_GRACE - 5
            await store.jobs.add(_job("never-queued", "a"), None, now=old)
            await store.jobs.add(_job("lost-running", "b"), None, now=old)
            await store.jobs.move("lost-running", JobState.RUNNING)
            await store.jobs.add(_job("finished", "c"), None, now=old)
            await queue.enqueue(_job("finished", "c"))
            await queue.book.move("finished", JobState.RUNNING)
            await queue.book.move("finished", JobState.DONE)
            await queue.redis.delete(Keys.arq_job("finished"), Keys.JOB_EVENTS)  # report lost
            await store.jobs.add(_job("just-now", "d"), None)  # a submit still under way
            done = await jobs.reconcile()
            assert (done.requeued, done.failed, done.closed) == (1, 1, 1)
            assert await queue.redis.zscore(RENDER_QUEUE, "never-queued") is not None
            assert await store.jobs.state("never-queued") == JobState.QUEUED
            assert await store.jobs.state("lost-running") == JobState.FAILED
            assert told == [("b", texts.JOB_LOST_NOTICE.format(job="lost-run"))]
            assert await store.jobs.state("finished") == JobState.DONE
            assert await store.jobs.state("just-now") == JobState.QUEUED  # left alone
            assert not await queue.redis.exists(Keys.arq_job("just-now"))
            again = await jobs.reconcile()  # nothing left to do
            assert (again.requeued, again.failed) == (0, 0)
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


# ---- JSON, never pickle ----------------------------------------------------------------
class _Planted:
    """What an attacker with write access to Redis plants: unpickling it runs a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (self.marker.write_text, ("pwned",))


def test_a_pickle_planted_in_redis_is_refused_not_run(tmp_path: Path) -> None:
    """arq records in Redis are JSON both ways: the bot's /forget scan and a worker that
    takes the planted job read them, and neither runs the pickle."""
    marker = tmp_path / "pwned"
    planted = pickle.dumps({"t": 1, "f": "check_media", "a": [_Planted(marker)], "k": {}, "et": 1})
    assert b"write_text" in planted  # a real payload: pickle.loads would write the file

    async def go() -> None:
        async with platform_and_queue(tmp_path) as (tg, queue, url):
            await queue.redis.set(Keys.arq_job("planted"), planted)
            await queue.redis.zadd(INTAKE_QUEUE, {"planted": 1})
            await queue.redis.set("arq:result:planted2", planted)
            await queue.erase(ErasePlan("telegram", ("d" * 64,), (), "someone"))  # scans all
            async with worker(tmp_path, url, tg.url, "w1"):
                await wait_until(
                    lambda: _not_queued(queue), timeout=60, what="the worker to drop it"
                )
            assert not marker.exists()

    asyncio.run(go())


async def _not_queued(queue: Queue) -> bool:
    return await queue.redis.zscore(INTAKE_QUEUE, "planted") is None


# ---- a ban stops the person's jobs -------------------------------------------------------
def test_a_ban_cancels_the_persons_queued_jobs_and_reviews_in_that_server(tmp_path: Path) -> None:
    mod = Who("discord", "7", "modchan", "g1", "Mo", server_admin=True)

    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url)
        try:
            await store.drafts.put("discord", "42", "chan", ready_draft("d1"))
            assert _texts(await svc.handle(Button(WHO, "render")))[0].startswith(QUEUED)
            (row,) = await store.jobs.recent("discord", "42")
            elsewhere = Who("discord", "42", "chan9", guild_id="g2", name="Ann")
            await store.drafts.put("discord", "42", "chan9", ready_draft("d2"))
            assert _texts(await svc.handle(Button(elsewhere, "render")))[0].startswith(QUEUED)
            answer = _texts(await svc.handle(Command(mod, "mod", "ban <@42> spam")))[0]
            assert answer == texts.MOD_BANNED.format(user="42") + texts.MOD_BAN_STOPPED.format(
                jobs=1
            )
            assert await store.jobs.state(row.job_id) == JobState.CANCELLED
            assert await queue.redis.zscore(RENDER_QUEUE, row.job_id) is None
            other = next(
                j for j in await store.jobs.recent("discord", "42") if j.job_id != row.job_id
            )
            assert other.status == JobState.QUEUED  # another server's job is not this ban's
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


class _HeldRenders:
    """The engine's render, held (as a long render is) until its job is cancelled, when it
    stops as the engine does at its next frame, or until the test lets every render finish
    (``finish``): a small MP4 then stands for the video, and the worker delivers it."""

    VIDEO = b"\0\0\0\x18ftypmp42 a rendered video"

    def __init__(self) -> None:
        self.started: set[str] = set()
        self.stopped: set[str] = set()
        self.finish = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, request: RenderRequest, **kw: Any) -> RenderResult:
        job_id, should_cancel = request.options.job_id, kw["should_cancel"]
        with self._lock:
            self.started.add(job_id)
        while not self.finish.wait(0.05):
            if should_cancel():
                with self._lock:
                    self.stopped.add(job_id)
                raise Cancelled("stopped while held")
        Path(request.output).write_bytes(self.VIDEO)
        size = len(self.VIDEO)
        return RenderResult(request.output, 1.0, 1.0, 25, size, {}, (), "held", "held", False)


async def _stored_as(svc: Service, store: Store, job_id: str, state: JobState) -> bool:
    """The store, once it has applied the workers' reports so far, holds the job as ``state``."""
    await svc.jobs.catch_up()
    return await store.jobs.state(job_id) == state


def test_a_ban_stops_the_persons_running_job_in_that_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker is rendering the person's job and another member's, in the same server, when
    a moderator there bans the person: that render stops, the job ends cancelled (in Redis and
    in the store) and nothing of it is posted; the other member's render goes on to its video."""
    mod = Who("discord", "7", "modchan", "g1", "Mo", server_admin=True)
    ann = Who("discord", "42", "6001", guild_id="g1", name="Ann")
    bob = Who("discord", "43", "6002", guild_id="g1", name="Bob")
    engine = Engine(EngineSettings())
    renders = _HeldRenders()
    monkeypatch.setattr(engine, "render", renders)

    def videos(channel: str) -> list[object]:
        return [r for r in dc.channel_posts(channel) if r.files]

    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url)
        settings = BotSettings(
            redis_url=url,
            data_dir=tmp_path / "host",
            discord_bot_token="TEST",
            discord_api_base_url=dc.api,
            render_max_jobs=2,  # both renders at once: the ban must stop only Ann's
            preview_seconds=0,
            status_edit_seconds=0.2,
            board_interval_seconds=0.2,
        )
        try:
            async with engine_workers(settings, engine):
                job: dict[str, str] = {}
                for who, draft in ((ann, "d1"), (bob, "d2")):
                    await store.drafts.put("discord", who.user_id, who.chat_id, ready_draft(draft))
                    assert _texts(await svc.handle(Button(who, "render")))[0].startswith(QUEUED)
                    (row,) = await store.jobs.recent("discord", who.user_id)
                    job[who.user_id] = row.job_id
                await wait_until(lambda: renders.started == set(job.values()), 60, "two renders")
                for job_id in job.values():
                    running = functools.partial(_stored_as, svc, store, job_id, JobState.RUNNING)
                    await wait_until(running, 60, "the store to hold the job as running")

                answer = _texts(await svc.handle(Command(mod, "mod", "ban <@42> spam")))[0]
                assert answer == texts.MOD_BANNED.format(user="42") + texts.MOD_BAN_STOPPED.format(
                    jobs=1
                )
                await wait_until(
                    lambda: is_status(queue, job["42"], JobState.CANCELLED),
                    60,
                    "the render to stop",
                )
                await wait_until(
                    lambda: _stored_as(svc, store, job["42"], JobState.CANCELLED),
                    60,
                    "the store to hold the job as cancelled",
                )
                assert renders.stopped == {job["42"]}  # the render itself stopped
                assert await status_of(queue, job["43"]) == JobState.RUNNING  # Bob's goes on
                assert not await queue.redis.exists(Keys.cancel(job["43"]))

                renders.finish.set()  # every render still going may finish now
                await wait_until(lambda: is_status(queue, job["43"], JobState.DONE), 60, "Bob's")
                assert len(videos(bob.chat_id)) == 1  # the worker delivers: Bob got his video
                assert videos(ann.chat_id) == []  # and Ann none
                assert await status_of(queue, job["42"]) == JobState.CANCELLED
                assert await _stored_as(svc, store, job["43"], JobState.DONE)
        finally:
            await queue.close()
            await store.close()

    async def main() -> None:
        await dc.start()
        try:
            with redis_server(tmp_path) as url:
                await go(url)
        finally:
            await dc.stop()

    dc = DiscordStandIn()
    asyncio.run(main())


# ---- the same photo twice, no /talk ------------------------------------------------------
def _media(who: Who, kind: str, data: bytes, name: str) -> Media:
    async def fetch() -> bytes:
        return data

    return Media(who, kind, len(data), fetch, name, "", 6.0 if kind == "audio" else None)


async def _press_through(svc: Service, who: Who, answer: list[object]) -> str:
    """Press the open question's button (skip the transcript, consent, render) until the
    draft is submitted; the last answer."""
    for _ in range(6):
        buttons = [b.action for a in answer if isinstance(a, Reply) for b in a.buttons]
        step = next((b for b in ("skip_transcript", "consent", "render") if b in buttons), None)
        if step is None:
            break
        answer = await svc.handle(Button(who, step))
    return " ".join(_texts(answer))


@pytest.mark.slow
def test_the_same_photo_sent_twice_with_two_scripts_gives_two_videos(tmp_path: Path) -> None:
    """A Telegram DM without /talk: voice note, photo, script, then again with the same photo
    and another script. Two drafts with their own random ids, two jobs, two videos."""
    voice = (SAMPLES / "voice.ogg").read_bytes()
    photo = (SAMPLES / "portrait.jpg").read_bytes()
    who = Who("telegram", "3101", "3101", name="Ann")

    async def one_video(svc: Service, script: str) -> str:
        answer = await svc.handle(_media(who, "audio", voice, "voice.ogg"))
        answer = await svc.handle(Button(who, "skip_transcript")) if answer else answer
        await svc.handle(_media(who, "image", photo, "portrait.jpg"))
        answer = await svc.handle(Text(who, script))
        return await _press_through(svc, who, answer)

    async def go() -> None:
        async with platform_and_queue(tmp_path) as (tg, queue, url):
            store = await Store.open(tmp_path / "db.sqlite3")
            svc = Service(store, queue, tmp_path / "media", Limits())
            try:
                async with worker(tmp_path, url, tg.url, "w1"):
                    first = await one_video(svc, "Hello there, this is the first one.")
                    second = await one_video(svc, "And this is quite another script.")
                    assert first.startswith(QUEUED) and second.startswith(QUEUED), (first, second)
                    await tg.wait_for(lambda: len(tg.videos(3101)) == 2, timeout=240)
                rows = await store.jobs.recent("telegram", "3101")
                assert len({r.job_id for r in rows}) == 2
                assert tg.videos(3101)[0] != tg.videos(3101)[1]  # two scripts, two videos
            finally:
                await store.close()

    asyncio.run(go())


def test_draft_and_job_ids_are_random_not_made_from_what_was_sent() -> None:
    from bot.contract.jobs import new_draft_id

    drafts = {new_draft_id() for _ in range(100)}
    assert len(drafts) == 100 and all(len(d) == 32 for d in drafts)
    assert job_id_for("a") == job_id_for("a") != job_id_for("b")  # one job per draft


def test_cancel_of_a_job_redis_no_longer_knows_closes_it_in_the_store(tmp_path: Path) -> None:
    """A job the store holds as queued but Redis lost: Cancel closes it in the store, so the
    reconciler never queues it again."""

    async def go(url: str) -> None:
        store = await Store.open(tmp_path / "db.sqlite3")
        queue = await Queue.connect(url)
        jobs = Lifecycle(store.jobs, queue, _Present(), _no_notice, consumer="test")
        try:
            await store.jobs.add(_job("orphan"), None, now=time.time() - SUBMIT_GRACE - 5)
            assert await jobs.cancel("orphan") == CancelOutcome.REMOVED
            assert await store.jobs.state("orphan") == JobState.CANCELLED
            assert (await jobs.reconcile()).requeued == 0
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_an_unreadable_event_never_blocks_the_reports_after_it(tmp_path: Path) -> None:
    """Anything else that writes into the events stream is dropped (acknowledged), and the
    job book's reports behind it are applied."""

    async def go(url: str) -> None:
        store = await Store.open(tmp_path / "db.sqlite3")
        queue = await Queue.connect(url)
        jobs = Lifecycle(store.jobs, queue, _Present(), _no_notice, consumer="test")
        try:
            job = _job("j1")
            await store.jobs.add(job, None)
            assert await queue.enqueue(job)
            await queue.redis.xadd(Keys.JOB_EVENTS, {"job": "j1", "to": "exploded"})
            await queue.book.move("j1", JobState.RUNNING)
            assert await jobs.catch_up() == 1
            assert await store.jobs.state("j1") == JobState.RUNNING
            pending = await queue.redis.xpending(Keys.JOB_EVENTS, Keys.EVENTS_GROUP)
            assert pending["pending"] == 0
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_cancel_of_a_queued_job_the_queue_lost_says_removed_not_stopping(tmp_path: Path) -> None:
    """The record says queued, but arq no longer has the job and no worker runs it: there is
    nothing to stop, so the job is cancelled now."""

    async def go(url: str) -> None:
        store = await Store.open(tmp_path / "db.sqlite3")
        queue = await Queue.connect(url)
        try:
            job = _job("lost")
            await store.jobs.add(job, None)
            assert await queue.enqueue(job)
            await queue.redis.delete(Keys.arq_job("lost"))
            await queue.redis.zrem(RENDER_QUEUE, "lost")
            assert await queue.cancel("lost") == CancelOutcome.REMOVED
            record = await queue.record("lost")
            assert record is not None and record.state == JobState.CANCELLED
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))
