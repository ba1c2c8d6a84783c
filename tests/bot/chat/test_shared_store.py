"""Several chat processes on one store: the limits checked and written in one write
transaction hold across them. Each backend (one SQLite file, one PostgreSQL database) is
opened twice, as two processes would (two connections), and many writers race from both;
then two real processes race through the store."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.chat.store import MIGRATIONS, Store
from bot.contract.jobs import OPEN_STATES, RenderJob, sql_states
from bot.safety.policy import LimitExceeded, RateLimits, UploadLimits
from tests.auxil.postgres_server import postgres_admin_url, store_target

__all__ = ["postgres_admin_url", "store_target"]  # fixtures

ROOT = Path(__file__).resolve().parents[3]
UNLIMITED = 10**15
WRITERS = 24  # per store


async def _race(
    target: str | Path, write: Callable[[Store, int], Awaitable[bool]]
) -> tuple[Store, list[bool]]:
    """Open the store twice and run ``WRITERS`` writes from each, all at once; the first
    store (left open) and whether each write went through."""
    first, second = await Store.open(target), await Store.open(target)
    try:
        results = await asyncio.gather(
            *(write(store, n) for n in range(WRITERS) for store in (first, second))
        )
    finally:
        await second.close()
    return first, list(results)


async def _count(store: Store, sql: str, *args: object) -> int:
    row = await store.database.one(sql, *args)
    assert row is not None
    return int(row[0])


def _uploads_of(
    person: Callable[[int], str], limits: UploadLimits
) -> Callable[[Store, int], Awaitable[bool]]:
    """A racing writer: upload ``n`` is 100 bytes from ``person(n)``; whether it went in."""

    async def upload(store: Store, n: int) -> bool:
        try:
            await store.uploads.add("telegram", person(n), 100, limits)
        except LimitExceeded:
            return False
        return True

    return upload


def test_the_upload_quota_holds_across_two_stores(store_target: str | Path) -> None:
    """One upload's worth of each person's daily bytes: of six racing uploads per person
    (eight people, from both stores at once), one each goes through."""
    limits = UploadLimits(per_hour=UNLIMITED, bytes_per_day=100, total_bytes_per_day=UNLIMITED)
    upload = _uploads_of(lambda n: f"u{n % 8}", limits)

    async def go() -> None:
        store, results = await _race(store_target, upload)
        try:
            assert results.count(True) == 8
            for person in range(8):
                mine = "SELECT SUM(bytes) FROM uploads WHERE user_id=?"
                assert await _count(store, mine, f"u{person}") == 100
        finally:
            await store.close()

    asyncio.run(go())


def test_everyones_daily_bytes_hold_across_two_stores(store_target: str | Path) -> None:
    """The service's daily budget, spent by many people at once from both stores."""
    limits = UploadLimits(per_hour=UNLIMITED, bytes_per_day=UNLIMITED, total_bytes_per_day=700)
    upload = _uploads_of(lambda n: f"person{n}", limits)

    async def go() -> None:
        store, results = await _race(store_target, upload)
        try:
            assert results.count(True) == 7
            assert await _count(store, "SELECT SUM(bytes) FROM uploads") == 700
        finally:
            await store.close()

    asyncio.run(go())


def test_the_saved_voice_cap_holds_across_two_stores(store_target: str | Path) -> None:
    async def save_voice(store: Store, n: int) -> bool:
        name = f"v{n}-{id(store)}"  # each a new name (saving one again replaces it)
        who = f"u{n % 8}"
        return await store.voices.save("telegram", who, name, "v" * 64, 4.0, None, max_voices=1)

    async def go() -> None:
        store, results = await _race(store_target, save_voice)
        try:
            assert results.count(True) == 8  # one saved voice each, of six tries
            for person in range(8):
                assert len(await store.voices.list("telegram", f"u{person}")) == 1
        finally:
            await store.close()

    async def setup() -> None:  # saved voices name an upload (a foreign key)
        store = await Store.open(store_target)
        await store.media.put("v" * 64, "audio", 1, "audio/ogg", Path("/m/v"))
        await store.close()

    asyncio.run(setup())
    asyncio.run(go())


def test_a_persons_open_jobs_and_the_queue_hold_across_two_stores(
    store_target: str | Path,
) -> None:
    """Two open jobs per person, five in the queue: never more, however the asks race."""
    limits = RateLimits(
        user_per_day=UNLIMITED,
        user_concurrent=2,
        server_per_hour=UNLIMITED,
        queue_max=5,
        queue_per_server=UNLIMITED,
        queue_dm=UNLIMITED,
    )

    async def ask(store: Store, n: int) -> bool:
        job = RenderJob(f"j{n}-{id(store)}", "telegram", f"u{n % 4}", "c", "Hi", "v", "p")
        try:
            return await store.jobs.add(job, None, limits=limits)
        except LimitExceeded:
            return False

    async def go() -> None:
        store, results = await _race(store_target, ask)
        try:
            assert results.count(True) == 5
            opened = f"SELECT COUNT(*) FROM jobs WHERE status IN {sql_states(OPEN_STATES)}"
            assert await _count(store, opened) == 5
            for person in range(4):
                assert await _count(store, opened + " AND user_id=?", f"u{person}") <= 2
        finally:
            await store.close()

    asyncio.run(go())


def test_stores_opened_together_apply_each_migration_once(store_target: str | Path) -> None:
    """Processes starting together on a new database: each version is applied once."""

    async def go() -> None:
        stores = await asyncio.gather(*(Store.open(store_target) for _ in range(4)))
        try:
            assert await _count(stores[0], "SELECT COUNT(*) FROM schema_version") == len(MIGRATIONS)
        finally:
            for store in stores:
                await store.close()

    asyncio.run(go())


def test_a_new_sqlite_file_opened_by_many_at_once_never_says_locked(tmp_path: Path) -> None:
    """Turning a new file to WAL fails "database is locked" at once, past the busy timeout,
    while another connection turns it too: about one round in twelve of four openers on this
    machine, before the open waited that lock out. Sixty rounds: none may fail."""

    async def go() -> None:
        for round_ in range(60):
            target = tmp_path / f"{round_}.sqlite3"
            opened = await asyncio.gather(
                *(Store.open(target) for _ in range(4)), return_exceptions=True
            )
            stores = [s for s in opened if isinstance(s, Store)]
            for store in stores:
                await store.close()
            failed = [repr(s) for s in opened if not isinstance(s, Store)]
            assert not failed, (round_, failed)

    asyncio.run(go())


#: one chat process's share of the race: 60 uploads of 20 people through its own store, all
#: at once (each person may hand over one)
_PROCESS = textwrap.dedent(
    """
    import asyncio, json, sys
    from bot.chat.store import MIGRATIONS, Store
    from bot.safety.policy import LimitExceeded, UploadLimits

    async def main(target):
        limits = UploadLimits(per_hour=10**15, bytes_per_day=100, total_bytes_per_day=10**15)
        store = await Store.open(target)

        async def upload(person):
            try:
                await store.uploads.add("telegram", person, 100, limits)
            except LimitExceeded:
                return False
            return True

        print("ready", flush=True)
        sys.stdin.readline()  # start together
        done = await asyncio.gather(*(upload(f"u{n % 20}") for n in range(60)))
        await store.close()
        print(json.dumps(sum(done)))

    asyncio.run(main(sys.argv[1]))
    """
)


def test_two_processes_share_the_upload_quota(store_target: str | Path) -> None:
    async def create() -> None:  # migrated once, before the race
        await (await Store.open(store_target)).close()

    asyncio.run(create())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS, str(store_target)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for _ in range(2)
    ]
    outs = []
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:  # both opened the store: go
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        outs.append(json.loads(out))
    assert sum(outs) == 20  # one upload a person: 100 bytes each, of 6 tries

    async def check() -> None:
        store = await Store.open(store_target)
        try:
            rows = await store.database.conn.execute(
                "SELECT user_id, SUM(bytes) FROM uploads GROUP BY user_id"
            )
            assert {r[0]: int(r[1]) for r in await rows.fetchall()} == {
                f"u{n}": 100 for n in range(20)
            }
        finally:
            await store.close()

    asyncio.run(check())


def test_writes_never_fail_while_reads_are_open_in_two_stores(store_target: str | Path) -> None:
    """Readers that keep a statement open across an await (a cursor read later) beside
    writers, in two stores on one database: every write waits its turn, none fails. On one
    shared SQLite connection a reader's open statement pinned an old snapshot, and a write
    begun on it after the other process wrote failed at once ("database is locked")."""
    limits = UploadLimits(
        per_hour=UNLIMITED, bytes_per_day=UNLIMITED, total_bytes_per_day=UNLIMITED
    )

    async def go() -> None:
        stores = [await Store.open(store_target), await Store.open(store_target)]
        failures: list[BaseException] = []

        async def write(store: Store, n: int) -> None:
            for _ in range(15):
                try:
                    await store.uploads.add("telegram", f"w{n}", 1, limits)
                except Exception as e:  # what the bug raised: sqlite3.OperationalError
                    failures.append(e)
                await asyncio.sleep(0.002)

        async def read(store: Store) -> None:
            for _ in range(30):
                cursor = await store.database.conn.execute("SELECT * FROM uploads LIMIT 5")
                await asyncio.sleep(0.002)  # the statement stays open meanwhile
                await cursor.fetchone()

        try:
            await asyncio.gather(
                *(write(s, n) for s in stores for n in range(6)), *(read(s) for s in stores)
            )
            assert failures == []
            assert await _count(stores[0], "SELECT COUNT(*) FROM uploads") == 2 * 6 * 15
        finally:
            for s in stores:
                await s.close()

    asyncio.run(go())
