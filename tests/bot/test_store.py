"""SQLite store: migrations, drafts across restarts, idempotent jobs, concurrency."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.flow import Draft
from bot.jobs import RenderJob
from bot.store import MIGRATIONS, Store


def _job(job_id: str, user: str = "u") -> RenderJob:
    return RenderJob(job_id, "telegram", user, "c", "Hello", "v" * 64, "p" * 64)


def test_draft_survives_a_restart(tmp_path: Path) -> None:
    async def go() -> None:
        db = tmp_path / "m.sqlite3"
        s = await Store.open(db)
        assert await s.schema_version() == len(MIGRATIONS)
        await s.put_draft("telegram", "u", "c", Draft(id="d", script="hi", photo_warnings=("w",)))
        await s.close()
        s = await Store.open(db)
        d = await s.get_draft("telegram", "u", "c")
        assert d == Draft(id="d", script="hi", photo_warnings=("w",))
        await s.put_draft("telegram", "u", "c", None)
        assert await s.get_draft("telegram", "u", "c") is None
        await s.close()

    asyncio.run(go())


def test_jobs_are_idempotent_and_record_consent(tmp_path: Path) -> None:
    async def go() -> None:
        s = await Store.open(tmp_path / "m.sqlite3")
        assert await s.add_job(_job("j1"), None) is True
        assert await s.add_job(_job("j1"), None) is False  # a re-sent Render press
        await s.update_job("j1", "done", output_bytes=10, timings={"video": 1.0})
        rows = await s.jobs("telegram", "u")
        assert [(r.job_id, r.status, r.output_bytes) for r in rows] == [("j1", "done", 10)]
        consents = await (await s._db.execute("SELECT COUNT(*) FROM consents")).fetchone()
        assert consents is not None and consents[0] == 1
        await s.close()

    asyncio.run(go())


def test_many_users_at_once(tmp_path: Path) -> None:
    async def user(s: Store, i: int) -> None:
        for k in range(5):
            d = await s.get_draft("telegram", f"u{i}", "c") or Draft(id=f"d{i}")
            from dataclasses import replace

            await s.put_draft("telegram", f"u{i}", "c", replace(d, script=f"{i}-{k}"))
        await s.add_job(_job(f"job{i}", f"u{i}"), None)

    async def go() -> None:
        s = await Store.open(tmp_path / "m.sqlite3")
        await asyncio.gather(*(user(s, i) for i in range(200)))
        for i in range(200):
            d = await s.get_draft("telegram", f"u{i}", "c")
            assert d is not None and d.script == f"{i}-4"
        count = await (await s._db.execute("SELECT COUNT(*) FROM jobs")).fetchone()
        assert count is not None and count[0] == 200
        await s.close()

    asyncio.run(go())
