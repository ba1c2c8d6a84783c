"""The store on both backends (SQLite, and PostgreSQL on a private server): drafts across
restarts, idempotent jobs, concurrency, the queries each backend spells its own way; and
SQLite's migrations of databases older releases left."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from bot.chat.store import MIGRATIONS, Store
from bot.contract.jobs import FINAL_STATES, LIVE_STATES, JobState, RenderJob, predecessors
from bot.contract.ports import Avatar, ConsentMethod, Posted, Verification
from bot.conversation.flow import Draft
from bot.safety.policy import UploadLimits
from job_marks import token_for
from tests.auxil.postgres_server import postgres_admin_url, store_target

# The schema the first release created (bot/store.py at commit 2f6eba8, MIGRATIONS[0] then),
# copied here verbatim: databases made by that release must open with today's code.
FIRST_SCHEMA = """
    CREATE TABLE users (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
        last_voice_hash TEXT, last_voice_seconds REAL, last_voice_text TEXT,
        last_photo_hash TEXT, created REAL NOT NULL,
        PRIMARY KEY (platform, user_id));
    CREATE TABLE drafts (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, chat_id TEXT NOT NULL,
        data TEXT NOT NULL, updated REAL NOT NULL,
        PRIMARY KEY (platform, user_id, chat_id),
        FOREIGN KEY (platform, user_id) REFERENCES users (platform, user_id) ON DELETE CASCADE);
    CREATE TABLE media (
        digest TEXT PRIMARY KEY, kind TEXT NOT NULL, size INTEGER NOT NULL,
        mime TEXT NOT NULL DEFAULT '', path TEXT NOT NULL, created REAL NOT NULL);
    CREATE TABLE voice_profiles (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL,
        media_digest TEXT NOT NULL REFERENCES media (digest), seconds REAL NOT NULL,
        transcript TEXT, consent_at REAL, created REAL NOT NULL,
        PRIMARY KEY (platform, user_id, name),
        FOREIGN KEY (platform, user_id) REFERENCES users (platform, user_id) ON DELETE CASCADE);
    CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY, platform TEXT NOT NULL, user_id TEXT NOT NULL,
        chat_id TEXT NOT NULL, guild_id TEXT, status TEXT NOT NULL, payload TEXT NOT NULL,
        error TEXT NOT NULL DEFAULT '', output_bytes INTEGER NOT NULL DEFAULT 0,
        timings TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, started REAL, finished REAL,
        FOREIGN KEY (platform, user_id) REFERENCES users (platform, user_id) ON DELETE CASCADE);
    CREATE INDEX jobs_by_user ON jobs (platform, user_id, created);
    CREATE TABLE consents (
        id INTEGER PRIMARY KEY AUTOINCREMENT, platform TEXT NOT NULL, user_id TEXT NOT NULL,
        job_id TEXT, voice_digest TEXT NOT NULL, photo_digest TEXT NOT NULL,
        script_digest TEXT NOT NULL, mode TEXT NOT NULL, at REAL NOT NULL);
    CREATE TABLE guild_settings (
        platform TEXT NOT NULL, guild_id TEXT NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (platform, guild_id));
    CREATE TABLE bans (
        platform TEXT NOT NULL, guild_id TEXT NOT NULL, user_id TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '', at REAL NOT NULL,
        PRIMARY KEY (platform, guild_id, user_id));
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, platform TEXT NOT NULL,
        guild_id TEXT, user_id TEXT, action TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
"""


__all__ = ["postgres_admin_url", "store_target"]  # fixtures


def _job(job_id: str, user: str = "u") -> RenderJob:
    return RenderJob(job_id, "telegram", user, "c", "Hello", "v" * 64, "p" * 64)


def test_draft_survives_a_restart(store_target: str | Path) -> None:
    async def go() -> None:
        s = await Store.open(store_target)
        assert await s.schema_version() == len(MIGRATIONS)
        kind = "sqlite" if isinstance(store_target, Path) else "postgres"
        assert s.database.dialect.name == kind
        await s.drafts.put("telegram", "u", "c", Draft(id="d", script="hi", photo_warnings=("w",)))
        await s.close()
        s = await Store.open(store_target)
        assert await s.schema_version() == len(MIGRATIONS)  # opening again changes nothing
        d = await s.drafts.get("telegram", "u", "c")
        assert d == Draft(id="d", script="hi", photo_warnings=("w",))
        await s.drafts.put("telegram", "u", "c", None)
        assert await s.drafts.get("telegram", "u", "c") is None
        await s.close()

    asyncio.run(go())


def test_languages_upgrade_keeps_phrases_and_drafts_and_adds_their_language(
    store_target: str | Path,
) -> None:
    """A store of the version before languages (12): its consent phrase reads back as English
    and its draft as detected; after the upgrade both keep a chosen language across a
    restart."""
    from bot.db import Database

    async def go() -> None:
        old = Store(await Database.open(store_target, MIGRATIONS[:12]))
        try:
            assert await old.schema_version() == 12
            await old.drafts.put("telegram", "u", "c", Draft(id="d1", script="Hello."))
            async with old.database.writing() as db:
                await db.execute(
                    "INSERT INTO consent_phrases (platform, user_id, chat_id, draft_id, phrase, "
                    "created) VALUES (?, ?, ?, ?, ?, ?)",
                    ("telegram", "u", "c", "d1", "copper meadow lantern 47", 1.0),
                )
                await db.execute(  # as the older code wrote it: no language key
                    "UPDATE drafts SET data=?",
                    (json.dumps({"id": "d1", "script": "Hello.", "photo_warnings": []}),),
                )
        finally:
            await old.close()
        s = await Store.open(store_target)
        try:
            assert await s.schema_version() == len(MIGRATIONS)
            consent = s.safety.consent
            assert await consent.phrase_entry("telegram", "u", "c", "d1") == (
                "copper meadow lantern 47",
                "en",
            )
            assert await s.drafts.get("telegram", "u", "c") == Draft(id="d1", script="Hello.")
            await consent.put_phrase("telegram", "u", "c", "d2", "citron forêt bougie 47", "fr")
            await s.drafts.put("telegram", "u", "c", Draft(id="d2", language="fr"))
        finally:
            await s.close()
        s = await Store.open(store_target)
        try:
            got = await s.safety.consent.phrase_entry("telegram", "u", "c", "d2")
            assert got == ("citron forêt bougie 47", "fr")
            assert await s.safety.consent.phrase_for("telegram", "u", "c", "d2") == got[0]
            assert await s.drafts.get("telegram", "u", "c") == Draft(id="d2", language="fr")
        finally:
            await s.close()

    asyncio.run(go())


def test_jobs_are_idempotent_and_record_consent(store_target: str | Path) -> None:
    async def go() -> None:
        s = await Store.open(store_target)
        assert await s.jobs.add(_job("j1"), None) is True
        assert await s.jobs.add(_job("j1"), None) is False  # a re-sent Render press
        await s.jobs.move("j1", JobState.DONE, output_bytes=10, timings={"video": 1.0})
        rows = await s.jobs.recent("telegram", "u")
        assert [(r.job_id, r.status, r.output_bytes) for r in rows] == [("j1", "done", 10)]
        consents = await (await s.database.conn.execute("SELECT COUNT(*) FROM consents")).fetchone()
        assert consents is not None and consents[0] == 1
        await s.close()

    asyncio.run(go())


def test_job_states_come_from_one_enum(store_target: str | Path) -> None:
    """The SQL that stamps a job finished, counts the queue and lists open jobs is built from
    ``JobState``: each state lands where the enum says, whatever its name."""

    async def go() -> None:
        s = await Store.open(store_target)
        try:
            for n, state in enumerate(JobState):
                before = (*predecessors(state), state)[0]  # a state the table may leave for it
                await s.jobs.add(_job(f"j{n}"), None, status=before)
                if before != state:
                    assert await s.jobs.move(f"j{n}", state)
                row = await s.database.one(
                    "SELECT status, finished FROM jobs WHERE job_id=?", f"j{n}"
                )
                assert row is not None and row[0] == state.value
                assert (row[1] is not None) == (state in FINAL_STATES), state
            live = {
                r.status for r in await s.jobs.recent("telegram", "u", limit=99, open_only=True)
            }
            assert live == {st.value for st in LIVE_STATES}
        finally:
            await s.close()

    asyncio.run(go())


def test_the_store_refuses_moves_the_transition_table_does_not_allow(
    store_target: str | Path,
) -> None:
    """The job history follows the same table as the live record: a finished job never
    runs again, a cancelled one is never done, and a move that happened is not redone."""

    async def go() -> None:
        s = await Store.open(store_target)
        try:
            await s.jobs.add(_job("j"), None)
            assert await s.jobs.move("j", JobState.RUNNING)
            assert await s.jobs.move("j", JobState.DONE, output_bytes=5)
            assert not await s.jobs.move("j", JobState.RUNNING)
            assert not await s.jobs.move("j", JobState.CANCELLED)
            assert await s.jobs.state("j") == JobState.DONE
            await s.jobs.add(_job("k"), None, status=JobState.REVIEW)
            assert not await s.jobs.move("k", JobState.RUNNING)  # a review is not queued yet
            assert await s.jobs.state("k") == JobState.REVIEW
        finally:
            await s.close()

    asyncio.run(go())


def test_a_writing_block_is_one_transaction(store_target: str | Path) -> None:
    """Inside a writing block the store's reads see the block's own writes; nobody else
    does before the commit (another connection, as another process); an error undoes it."""

    async def go() -> None:
        s, other = await Store.open(store_target), await Store.open(store_target)
        count = "SELECT COUNT(*) FROM media"
        try:
            with pytest.raises(RuntimeError, match="undo"):
                async with s.database.writing() as db:
                    await db.execute(
                        "INSERT INTO media (digest, kind, size, path, created) "
                        "VALUES ('d', 'audio', 1, '/m/d', 1.0)"
                    )
                    assert tuple(await s.database.one(count) or ()) == (1,)
                    assert tuple(await other.database.one(count) or ()) == (0,)
                    raise RuntimeError("undo")
            assert tuple(await s.database.one(count) or ()) == (0,)
            assert tuple(await other.database.one(count) or ()) == (0,)
        finally:
            await other.close()
            await s.close()

    asyncio.run(go())


def test_many_users_at_once(store_target: str | Path) -> None:
    async def user(s: Store, i: int) -> None:
        for k in range(5):
            d = await s.drafts.get("telegram", f"u{i}", "c") or Draft(id=f"d{i}")
            from dataclasses import replace

            await s.drafts.put("telegram", f"u{i}", "c", replace(d, script=f"{i}-{k}"))
        await s.jobs.add(_job(f"job{i}", f"u{i}"), None)

    async def go() -> None:
        s = await Store.open(store_target)
        await asyncio.gather(*(user(s, i) for i in range(200)))
        for i in range(200):
            d = await s.drafts.get("telegram", f"u{i}", "c")
            assert d is not None and d.script == f"{i}-4"
        count = await (await s.database.conn.execute("SELECT COUNT(*) FROM jobs")).fetchone()
        assert count is not None and count[0] == 200
        await s.close()

    asyncio.run(go())


V, P = "v" * 64, "p" * 64  # the uploads the test jobs use


async def _consent_of(s: Store, job_id: str) -> int:
    row = await s.database.one("SELECT id FROM consents WHERE job_id=?", job_id)
    assert row is not None
    return int(row[0])


def test_avatars_with_their_scopes_and_names_by_prefix(store_target: str | Path) -> None:
    """The joined consent scopes (the direct messages' "" too) and the autocomplete's prefix
    match: any case, ``%`` and ``_`` taken literally, the cap counted in the transaction."""

    async def go() -> None:
        s = await Store.open(store_target)
        try:
            await s.media.put(V, "audio", 10, "audio/ogg", Path("/m/v"))
            await s.media.put(P, "photo", 10, "image/jpeg", Path("/m/p"))
            await s.jobs.add(_job("j1"), None)
            consent = await _consent_of(s, "j1")
            avatar = Avatar("", P, V, 4.5, "hello")
            for name, scope in (("alpha_2", ""), ("alphaX2", "g1"), ("Beta", None)):
                given = (scope, consent) if scope is not None else None
                assert await s.avatars.save("telegram", "u", name, avatar, given, max_avatars=3)
            assert not await s.avatars.save("telegram", "u", "four", avatar, None, max_avatars=3)
            assert await s.avatars.save("telegram", "u", "Beta", avatar, None, max_avatars=3)
            listed = [(a.name, a.consented_in) for a in await s.avatars.list("telegram", "u")]
            assert listed == [("Beta", ()), ("alphaX2", ("g1",)), ("alpha_2", ("",))]  # bytewise
            got = await s.avatars.get("telegram", "u", "alpha_2")
            assert got == Avatar("alpha_2", P, V, 4.5, "hello", ("",))
            assert sorted(await s.avatars.names("telegram", "u", "ALPHA")) == [
                "alphaX2",
                "alpha_2",
            ]
            assert await s.avatars.names("telegram", "u", "alpha_") == ["alpha_2"]
            assert await s.avatars.names("telegram", "u", "%") == []
        finally:
            await s.close()

    asyncio.run(go())


def test_erasure_keeps_shared_uploads_and_retention_scrubs_old_scripts(
    store_target: str | Path,
) -> None:
    """An upload another person's draft still names survives an erasure (the draft's JSON is
    searched for it); a finished job's script is dropped once old (its JSON field read)."""

    async def go() -> None:
        s = await Store.open(store_target)
        try:
            await s.media.put(V, "audio", 10, "audio/ogg", Path("/m/v"))
            await s.drafts.put("telegram", "other", "c", Draft(id="d", voice_hash=V))
            await s.media.remember("telegram", "u", voice=(V, 4.5, None))
            erased = await s.safety.erasure.erase("telegram", "u")
            assert erased.media_digests == ()  # the other person's draft still uses it
            await s.drafts.put("telegram", "other", "c", None)
            await s.media.remember("telegram", "u", voice=(V, 4.5, None))
            assert (await s.safety.erasure.erase("telegram", "u")).media_digests == (V,)

            await s.jobs.add(_job("old"), None)
            await s.jobs.move("old", JobState.RUNNING)
            await s.jobs.move("old", JobState.DONE)
            kept = await s.safety.erasure.purge_rows(media_before=0, scripts_before=0)
            assert kept.scripts == 0
            purged = await s.safety.erasure.purge_rows(
                media_before=0, scripts_before=time.time() + 1
            )
            assert purged.scripts == 1
            row = await s.database.one("SELECT payload FROM jobs WHERE job_id='old'")
            assert row is not None and json.loads(row[0])["script"] == ""
        finally:
            await s.close()

    asyncio.run(go())


def test_big_byte_counts_and_exact_times(store_target: str | Path) -> None:
    """Byte counts past 2**31 and ``time.time()`` values come back exactly as written."""
    big = 5 * 2**31
    at = 1_733_500_000.123456

    async def go() -> None:
        s = await Store.open(store_target)
        try:
            roomy = UploadLimits(per_hour=9, bytes_per_day=10 * big, total_bytes_per_day=10 * big)
            await s.uploads.add("telegram", "u", big, roomy, now=at)
            usage = await s.uploads.usage("telegram", "u", at)
            assert usage.sizes == ((at, big),) and usage.total == big
            await s.jobs.add(_job("j"), None, now=at)
            await s.jobs.move("j", JobState.RUNNING)
            await s.jobs.move("j", JobState.DONE, output_bytes=big)
            [row] = await s.jobs.recent("telegram", "u")
            assert (row.created, row.output_bytes) == (at, big)
        finally:
            await s.close()

    asyncio.run(go())


def test_posted_messages_lookups_and_saved_voice_consents(store_target: str | Path) -> None:
    """Posted messages recorded once however often they are kept; a job found by an id
    prefix, by its fingerprint in any case and by its mark; a saved voice takes the verified
    consents of its recording, one per scope."""

    async def go() -> None:
        s = await Store.open(store_target)
        try:
            await s.jobs.add(_job("abc123"), "g1")
            twice = (Posted("video", "m1"), Posted("status", "m2"))
            await s.jobs.keep_posted("abc123", twice)
            await s.jobs.keep_posted("abc123", twice)
            await s.jobs.keep_posted("nojob", twice)  # no job: nothing kept
            assert set(await s.safety.places.posted("abc123")) == set(twice)
            assert tuple(await s.database.one("SELECT COUNT(*) FROM posted") or ()) == (2,)
            place = await s.safety.places.job_place("abc")
            assert place is not None and (place.job_id, place.scope) == ("abc123", "g1")
            assert place.taken_down is False
            assert await s.safety.places.job_place("abd") is None
            found = await s.safety.log.find_renders("telegram", None, prefix="VVV")
            assert [r.job_id for r in found] == ["abc123"]
            marked = await s.safety.log.marked("telegram", "g1", token_for("abc123"))
            assert [(m.job_id, m.taken_down) for m in marked] == [("abc123", False)]

            await s.media.put(V, "audio", 10, "audio/ogg", Path("/m/v"))
            assert await s.voices.save("telegram", "u", "mine", V, 4.5, None, max_voices=1)
            assert not await s.voices.save("telegram", "u", "two", V, 4.5, None, max_voices=1)
            for job_id, scope in (("p1", "*"), ("p2", "g1"), ("p3", "g1")):
                phrase = Verification(ConsentMethod.PHRASE, scope)
                await s.jobs.add(_job(job_id), "g1", verified=phrase)
            await s.safety.consent.link_voice_consent("telegram", "u", "mine")
            consents = await s.safety.consent.saved_voice_consents("telegram", "u", "mine")
            assert {k: v.id for k, v in consents.items()} == {
                "*": await _consent_of(s, "p1"),
                "g1": await _consent_of(s, "p3"),
            }
        finally:
            await s.close()

    asyncio.run(go())


def _first_release_database(path: Path) -> None:
    """A database as the first release left it: its schema at version 1, and a row in every
    table that release wrote (a user, a draft, an upload, a saved voice, a job, its consent
    and audit entries)."""
    draft = {
        "id": "d1",
        "state": "confirm",
        "script": "Hello from the first release.",
        "voice_hash": "v" * 64,
        "voice_seconds": 6.5,
        "voice_text": None,
        "transcript_asked": True,
        "photo_hash": "p" * 64,
        "photo_warnings": ["two faces"],
        "consent": True,
    }
    payload = {  # RenderJob as that release serialised it (no label position yet)
        "job_id": "oldjob",
        "platform": "telegram",
        "user_id": "u1",
        "chat_id": "c1",
        "script": "Hello from the first release.",
        "voice_hash": "v" * 64,
        "photo_hash": "p" * 64,
        "voice_text": None,
        "max_bytes": None,
        "seed": 0,
        "label": "AI-generated",
        "reply_to": None,
    }
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
        f"BEGIN; {FIRST_SCHEMA}; INSERT INTO schema_version VALUES (1); COMMIT;"
    )
    db.executescript(
        f"""
        INSERT INTO users VALUES ('telegram', 'u1', 'Ada', '{"v" * 64}', 6.5, NULL,
                                  '{"p" * 64}', 1000.0);
        INSERT INTO media VALUES ('{"v" * 64}', 'audio', 1234, 'audio/ogg', '/m/v.ogg', 1000.0);
        INSERT INTO voice_profiles VALUES ('telegram', 'u1', 'mine', '{"v" * 64}', 6.5,
                                           'what I said', NULL, 1000.0);
        INSERT INTO consents (platform, user_id, job_id, voice_digest, photo_digest,
                              script_digest, mode, at)
            VALUES ('telegram', 'u1', 'oldjob', '{"v" * 64}', '{"p" * 64}', 's', 'attest', 1000.0);
        INSERT INTO audit_log (at, platform, guild_id, user_id, action, detail)
            VALUES (1000.0, 'telegram', NULL, 'u1', 'render_requested', 'oldjob');
        """
    )
    db.execute(
        "INSERT INTO drafts VALUES ('telegram', 'u1', 'c1', ?, 1000.0)", (json.dumps(draft),)
    )
    db.execute(
        "INSERT INTO jobs (job_id, platform, user_id, chat_id, guild_id, status, payload, "
        "output_bytes, created) VALUES ('oldjob', 'telegram', 'u1', 'c1', NULL, 'done', ?, 99, "
        "1000.0)",
        (json.dumps(payload, sort_keys=True),),
    )
    db.commit()
    db.close()


def _layout(path: Path) -> dict[str, object]:
    """Tables with their columns (name, type, not null, default, key), indexes, foreign keys."""
    db = sqlite3.connect(path)
    out: dict[str, object] = {}
    for (name,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
    ):
        out[name] = (
            [tuple(r[1:]) for r in db.execute(f"PRAGMA table_info({name})")],
            sorted(tuple(r[1:]) for r in db.execute(f"PRAGMA foreign_key_list({name})")),
        )
    for name, table in db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type='index'"):
        if not name.startswith("sqlite_autoindex"):
            out[f"index {name}"] = (table, [r[2] for r in db.execute(f"PRAGMA index_info({name})")])
    db.close()
    return out


def test_a_first_release_database_is_upgraded_in_place_keeping_its_data(tmp_path: Path) -> None:
    old, fresh = tmp_path / "old.sqlite3", tmp_path / "fresh.sqlite3"
    _first_release_database(old)

    async def go() -> None:
        s = await Store.open(old)
        assert await s.schema_version() == len(MIGRATIONS) > 1
        # the data of the first release, read through today's code
        assert await s.drafts.get("telegram", "u1", "c1") == Draft(
            id="d1",
            state="confirm",
            script="Hello from the first release.",
            voice_hash="v" * 64,
            voice_seconds=6.5,
            transcript_asked=True,
            photo_hash="p" * 64,
            photo_warnings=("two faces",),
            consent=True,
        )
        rows = await s.jobs.recent("telegram", "u1")
        assert [(r.job_id, r.status, r.output_bytes) for r in rows] == [("oldjob", "done", 99)]
        assert [(v.name, v.transcript) for v in await s.voices.list("telegram", "u1")] == [
            ("mine", "what I said")
        ]
        audit = await (
            await s.database.conn.execute("SELECT action, detail FROM audit_log")
        ).fetchall()
        assert [tuple(r) for r in audit] == [("render_requested", "oldjob")]
        # the columns the upgrade added, with their defaults on the old rows
        consent = await (
            await s.database.conn.execute("SELECT guild_id, verified, mode FROM consents")
        ).fetchone()
        assert consent is not None and tuple(consent) == ("", "", "attest")
        # ...and the tables it added, in use
        await s.safety.consent.put_phrase("telegram", "u1", "c1", "d1", "copper meadow lantern 47")
        assert (
            await s.safety.consent.phrase_for("telegram", "u1", "c1", "d1")
            == "copper meadow lantern 47"
        )
        await s.close()
        s = await Store.open(old)  # opening again changes nothing
        assert await s.schema_version() == len(MIGRATIONS)
        await s.close()
        await (await Store.open(fresh)).close()

    asyncio.run(go())
    # the upgraded database has exactly the layout a new one gets
    assert _layout(old) == _layout(fresh)


def test_a_failed_upgrade_changes_nothing_and_lets_go(tmp_path: Path) -> None:
    """An upgrade that cannot apply (here a table in the way) raises, leaves the database as
    it was, and does not leave the connection's thread behind (the process can exit)."""
    old = tmp_path / "old.sqlite3"
    _first_release_database(old)
    db = sqlite3.connect(old)
    db.execute("CREATE TABLE reviews (x)")  # migration 2 creates a table of that name
    db.commit()
    db.close()
    before = threading.active_count()

    async def go() -> None:
        with pytest.raises(sqlite3.OperationalError, match="reviews"):
            await Store.open(old)

    asyncio.run(go())
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before
    db = sqlite3.connect(old)
    assert db.execute("SELECT MAX(version) FROM schema_version").fetchone() == (1,)
    assert "guild_id" not in [r[1] for r in db.execute("PRAGMA table_info(consents)")]
    db.close()
