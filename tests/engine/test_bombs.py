"""The bomb corpus (tests/auxil/bombs.py) through the engine as the CLI and the worker use it:
every file is refused with one line or decoded, within 20 s of CPU and 1,000 MB.

Both bounds are measured outside the jail, by the parent's watch of the jail's process tree
(``cpu_seconds`` and ``peak_bytes`` of the jail's answer or refusal); the wall clock here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import Engine, InvalidInput
from engine.jail import WALL_FACTOR
from engine.settings import EngineSettings
from tests.auxil.bombs import BOMBS, jail_runs

SECONDS, MEGABYTES = 20.0, 1000.0


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    built = Engine(EngineSettings())
    yield built
    built.close()


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_bomb_ends_within_its_bounds(
    name: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind, build, what = BOMBS[name]
    path = build(tmp_path / name)
    jail = engine.intake_jail
    assert jail is not None
    runs = jail_runs(jail, monkeypatch)
    started = time.monotonic()
    try:
        (engine.inspect_photo if kind == "photo" else engine.inspect_voice)(path)
        outcome = "decoded"
    except InvalidInput as e:
        outcome = e.reason
        assert "\n" not in e.reason and e.reason.endswith("."), e.reason
    seconds = time.monotonic() - started
    (measured,) = runs  # exactly one jailed decode, so the bytes were read only there
    peak_mb = measured.peak_bytes / 1e6
    # the jail's bound is CPU time (the wall clock may run WALL_FACTOR times it, for a jail
    # starved by other work: this machine may be busy with other tests)
    cpu = measured.cpu_seconds
    assert cpu < SECONDS and seconds < WALL_FACTOR * SECONDS, f"{what}: {cpu:.1f} s ({outcome})"
    assert 0 < peak_mb < MEGABYTES, f"{what}: {peak_mb:.0f} MB ({outcome})"
