"""A "voice note" that is really a playlist pointing at another person's upload, checked by the
worker's intake (the real engine, real Redis): refused with the usual one-line reason, and
the other person's recording is never used.

In the worker's cache, uploads sit side by side as ``<sha256>.audio``. An ffconcat list naming
a neighbour is what an attacker would send: plain ffmpeg follows it (shown below)."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import time
from pathlib import Path

import pytest

from bot.contract.jobs import Keys
from bot.contract.ports import MediaCheck
from bot.jobs.redis import connect
from bot.settings import BotSettings
from bot.worker import CTX_KEY, WorkerContext, check_media
from engine import Engine, EngineSettings
from engine.jail import WALL_FACTOR, Jailed, JailRefusal
from tests.auxil.bombs import BOMBS, jail_runs
from tests.auxil.redis_server import redis_server

pytestmark = pytest.mark.slow  # tens of seconds

SECONDS, MEGABYTES = 20.0, 1000.0  # the jail's bounds (JailLimits), and issue 22's


def test_a_playlist_naming_another_upload_is_refused_by_the_intake_check(
    tmp_path: Path, sample_voice: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    theirs = sample_voice.read_bytes()  # someone else's voice note, already cached
    their_digest = hashlib.sha256(theirs).hexdigest()
    (cache / f"{their_digest}.audio").write_bytes(theirs)
    attack = f"ffconcat version 1.0\nfile {their_digest}.audio\n".encode()
    digest = hashlib.sha256(attack).hexdigest()

    probe = cache / "probe.ffconcat"  # the attack works on ffmpeg without our options
    probe.write_bytes(attack)
    plain = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "quiet", "-i", str(probe), "-t", "1", "-f", "f32le", "-"],
        capture_output=True,
        cwd=cache,
        timeout=30,
    )
    assert plain.returncode == 0 and plain.stdout, "ffmpeg no longer follows ffconcat lists?"
    probe.unlink()

    async def go(url: str) -> str:
        redis = await connect(url)
        await redis.set(Keys.media(digest), attack)
        house = WorkerContext(BotSettings(), cache, cache, engine=Engine(EngineSettings()))
        ctx = {CTX_KEY: house, "redis": redis}
        try:
            return await check_media(ctx, "audio", digest)
        finally:
            await redis.aclose()

    with redis_server(tmp_path) as url:
        verdict = asyncio.run(go(url))
    check = MediaCheck.from_json(verdict)
    assert check.ok is False
    reason = check.reason
    assert reason.startswith("The voice note could not be read as audio") and "\n" not in reason


def test_bombs_sent_to_the_worker_end_in_its_jail_within_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file of the bomb corpus through the worker's intake check as the bot queues it
    (bytes in Redis), with a token in the worker's environment and Pillow broken in the
    worker's own process: each is refused in one line or accepted, decoded once in the jail
    (so never here) within its bounds: 20 s of CPU and 1,000 MB, measured by the jail's
    watch of its process tree from outside, and the jail's wall clock (3 x its CPU time)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    engine = Engine(EngineSettings())
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:SECRET")

    def in_this_process(*_: object, **__: object) -> None:
        raise AssertionError("a user's file was decoded in the worker's own process")

    monkeypatch.setattr("PIL.Image.open", in_this_process)
    jail = engine.intake_jail
    assert jail is not None
    runs = jail_runs(jail, monkeypatch)
    Verdict = tuple[MediaCheck, float, list[Jailed | JailRefusal]]

    async def go(url: str) -> dict[str, Verdict]:
        redis = await connect(url)
        house = WorkerContext(BotSettings(), cache, cache, engine=engine)
        ctx = {CTX_KEY: house, "redis": redis}
        verdicts = {}
        try:
            for name, (kind, build, _) in sorted(BOMBS.items()):
                data = build(tmp_path / name).read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                await redis.set(Keys.media(digest), data)
                runs.clear()
                started = time.monotonic()
                verdict = await check_media(ctx, "image" if kind == "photo" else "audio", digest)
                seconds = time.monotonic() - started
                verdicts[name] = (MediaCheck.from_json(verdict), seconds, list(runs))
        finally:
            await redis.aclose()
        return verdicts

    with redis_server(tmp_path) as url:
        verdicts = asyncio.run(go(url))
    assert sorted(verdicts) == sorted(BOMBS)
    for name, (check, seconds, jailed) in verdicts.items():
        what = BOMBS[name][2]
        outcome = "accepted" if check.ok else check.reason
        assert check.ok or (check.reason and "\n" not in check.reason), (what, check)
        assert seconds < WALL_FACTOR * SECONDS, (what, seconds, outcome)  # the jail's wall clock
        (measured,) = jailed  # decoded once, in the jail
        cpu, peak_mb = measured.cpu_seconds, measured.peak_bytes / 1e6
        assert cpu < SECONDS, f"{what}: {cpu:.1f} s of CPU ({outcome})"
        assert 0 < peak_mb < MEGABYTES, f"{what}: {peak_mb:.0f} MB ({outcome})"
    assert "20000 scans" in verdicts["jpeg-20000-scans"][0].reason
    assert "megapixel" in verdicts["png16-40mp"][0].reason
    assert "250,000,007" in verdicts["wav-250mhz"][0].reason
