"""Tiny random-weight Pocket TTS models of the released French and English configurations,
built once per session (a few seconds, most of it importing torch), a backend on them and a
real voice note."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.settings import EngineSettings
from tests.auxil.pocket_models import write_pocket_model


@pytest.fixture(scope="session")
def pocket_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder with French and English (and no other language)."""
    root = tmp_path_factory.mktemp("pocket_models")
    write_pocket_model(root, "fr")
    write_pocket_model(root, "en", seed=1)
    return root


@pytest.fixture(scope="session")
def settings(pocket_root: Path, tmp_path_factory: pytest.TempPathFactory) -> EngineSettings:
    return EngineSettings(
        tts="pocket",
        tts_pocket=str(pocket_root),
        cache_dir=tmp_path_factory.mktemp("pocket_cache"),
        device="cpu",
        threads=1,  # two cores are shared with other jobs
    )


@pytest.fixture(scope="session")
def backend(settings: EngineSettings) -> Any:
    from engine.tts.pocket import PocketBackend

    return PocketBackend(settings)


@pytest.fixture(scope="session")
def voice(sample_voice: Path) -> Any:
    """The sample voice note as the engine hands it over: cleaned, with its file's digest."""
    from engine.media.audio import load_voice
    from engine.tts.refcache import file_sha256

    return replace(load_voice(sample_voice, max_seconds=15.0), source=file_sha256(sample_voice))
