"""Rate limits are counted and enforced inside the store's one write transaction: concurrent
requests cannot overshoot, a restart does not reset them, and finished jobs free their slot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Button, Reply, Who
from bot.contract.jobs import JobState, RenderJob
from bot.conversation.service import Limits, Service
from bot.safety.guard import limit_text
from bot.safety.policy import DAY, LimitExceeded, RateLimits, Safety, ServerPolicy
from tests.auxil.redis_server import redis_server
from tests.auxil.system import ready_draft

NO_LIMIT = RateLimits(-1, -1, -1, -1, -1, -1)


def _job(i: int, user: str = "u", chat: str = "c") -> RenderJob:
    return RenderJob(f"job{i}-{user}", "discord", user, chat, f"Hi {i}", "v" * 64, "p" * 64)


async def _attempt(store: Store, job: RenderJob, guild: str | None, limits: RateLimits) -> bool:
    try:
        return await store.jobs.add(job, guild, limits=limits)
    except LimitExceeded:
        return False


def test_ten_concurrent_requests_against_a_limit_of_three_let_exactly_three_through(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        store = await Store.open(tmp_path / "db.sqlite3")
        try:
            await check(store)
        finally:
            await store.close()

    async def check(store: Store) -> None:
        for name, limits, guild in (
            ("day", RateLimits(3, -1, -1, -1), None),
            ("concurrent", RateLimits(-1, 3, -1, -1), None),
            ("hour", RateLimits(-1, -1, 3, -1), "g1"),
            ("queue", RateLimits(-1, -1, -1, 3), None),
        ):
            # per-user limits: one user; server and queue limits: many users at once
            per_user = name in ("day", "concurrent")
            jobs = [_job(i, "same" if per_user else f"u{i}", name) for i in range(10)]
            jobs = [RenderJob(**{**j.__dict__, "job_id": f"{name}-{j.job_id}"}) for j in jobs]
            results = await asyncio.gather(*(_attempt(store, j, guild, limits) for j in jobs))
            assert sum(results) == 3, name
            # clear the slate for the next limit
            async with store.database.writing() as db:
                await db.execute("DELETE FROM jobs")

    asyncio.run(go())


def test_limits_survive_a_restart_and_say_when_to_retry(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    limits = RateLimits(user_per_day=2, user_concurrent=-1, server_per_hour=-1, queue_max=-1)
    t0 = 1_700_000_000.0

    async def before() -> None:
        store = await Store.open(db)
        try:
            assert await store.jobs.add(_job(1), None, limits=limits, now=t0)
            assert await store.jobs.add(_job(2), None, limits=limits, now=t0 + 600)
        finally:
            await store.close()

    async def after() -> None:  # a new process: the count lives in SQLite
        store = await Store.open(db)
        try:
            with pytest.raises(LimitExceeded) as refused:
                await store.jobs.add(_job(3), None, limits=limits, now=t0 + 3600)
            assert refused.value.denial.limit == "day"
            assert refused.value.denial.retry_at == t0 + DAY  # the oldest job leaves the window
            assert await store.jobs.add(_job(3), None, limits=limits, now=t0 + DAY + 1)
            # a refused attempt wrote nothing; a duplicate id is not a new job
            assert await store.jobs.add(_job(3), None, limits=limits, now=t0 + DAY + 2) is False
            count = await (
                await store.database.conn.execute("SELECT COUNT(*) FROM jobs")
            ).fetchone()
            consents = await (
                await store.database.conn.execute("SELECT COUNT(*) FROM consents")
            ).fetchone()
            assert count is not None and count[0] == 3
            assert consents is not None and consents[0] == 3
        finally:
            await store.close()

    asyncio.run(before())
    asyncio.run(after())


WHO = Who("discord", "42", "chan", guild_id="g1", name="Ann")


async def _service(tmp: Path, url: str, limits: RateLimits) -> tuple[Service, Store, Queue]:
    store = await Store.open(tmp / "db.sqlite3")
    queue = await Queue.connect(url, intake_timeout=0.3)
    safety = Safety(defaults=ServerPolicy(limits=limits))
    for digest in ("v" * 64, "p" * 64):  # the uploads the drafts name, as the bot keeps them
        path = tmp / "media" / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"media")
        await store.media.put(digest, "audio", 5, "", path)
    return Service(store, queue, tmp / "media", Limits(), safety=safety), store, queue


QUEUED = texts.QUEUED.split("{")[0]  # "Queued as job " (the rest names the job)


def _text(actions: list[object]) -> str:
    return " ".join(a.text for a in actions if isinstance(a, Reply))


def test_service_refuses_with_retry_time_keeps_the_draft_and_frees_finished_slots(
    tmp_path: Path,
) -> None:
    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url, RateLimits(-1, 1, -1, -1))
        try:
            await check(svc, store, queue)
        finally:
            await queue.close()
            await store.close()

    async def check(svc: Service, store: Store, queue: Queue) -> None:
        await store.drafts.put("discord", "42", "chan", ready_draft("d1"))
        first = await svc.handle(Button(WHO, "render"))
        assert _text(first).startswith(QUEUED)
        await store.drafts.put("discord", "42", "chan", ready_draft("d2"))
        second = await svc.handle(Button(WHO, "render"))
        assert _text(second) == texts.LIMIT_CONCURRENT.format(allowed=1) + texts.DRAFT_KEPT
        kept = await store.drafts.get("discord", "42", "chan")
        assert kept is not None and kept.id == "d2" and kept.state == "confirm"
        # the worker finishes the first job (it reports through the job book, in Redis): the
        # lifecycle applies the report before counting, and the slot frees up
        (job_id,) = [j.job.job_id for j in await store.jobs.live(time.time() + 1)]
        await queue.book.move(job_id, JobState.RUNNING)
        await queue.book.move(job_id, JobState.DONE)
        third = await svc.handle(Button(WHO, "render"))
        assert _text(third).startswith(QUEUED)
        assert await store.drafts.get("discord", "42", "chan") is None

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_daily_limit_refusal_names_the_time(tmp_path: Path) -> None:
    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url, RateLimits(1, -1, -1, -1))
        try:
            await check(svc, store)
        finally:
            await queue.close()
            await store.close()

    async def check(svc: Service, store: Store) -> None:
        await store.drafts.put("discord", "42", "chan", ready_draft("d1"))
        await svc.handle(Button(WHO, "render"))
        await store.drafts.put("discord", "42", "chan", ready_draft("d2"))
        refused = _text(await svc.handle(Button(WHO, "render")))
        assert refused.startswith("You have reached the limit of 1 videos a day. Try again in 2")
        assert " h " in refused and refused.endswith(texts.DRAFT_KEPT.strip())

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_a_swarm_of_dm_accounts_holds_only_the_dm_share_and_servers_still_get_in(
    tmp_path: Path,
) -> None:
    """25 fresh DM accounts at 2 jobs each used to hold all 50 slots of the queue; now the
    platform's direct messages together hold at most ``queue_dm``, one server at most
    ``queue_per_server``, and a server member is admitted while the swarm is refused."""
    limits = RateLimits(
        user_per_day=-1, user_concurrent=2, server_per_hour=-1, queue_max=50
    )  # queue_per_server 20 and queue_dm 10 by default

    async def go() -> None:
        store = await Store.open(tmp_path / "db.sqlite3")
        try:
            swarm = [_job(n, f"fresh{i}") for i in range(25) for n in range(2)]
            taken = [await _attempt(store, j, None, limits) for j in swarm]
            assert sum(taken) == limits.queue_dm == 10
            try:
                await store.jobs.add(_job(99, "fresh99"), None, limits=limits)
                raise AssertionError("the DM share let one more in")
            except LimitExceeded as e:
                assert e.denial.limit == "queue_dm"
                assert "direct messages" in limit_text(e.denial)
            assert await _attempt(store, _job(0, "member"), "g1", limits)  # a server member
            server = [_job(n, f"m{n}") for n in range(1, 30)]
            in_g1 = [await _attempt(store, j, "g1", limits) for j in server]
            assert sum(in_g1) + 1 == limits.queue_per_server == 20  # one server's share
            assert await _attempt(store, _job(0, "other"), "g2", limits)  # another server
        finally:
            await store.close()

    asyncio.run(go())
