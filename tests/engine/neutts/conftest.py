"""Tiny NeuTTS models, built once per session (about five seconds), and a loaded backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.settings import EngineSettings
from tests.auxil.neutts_models import build_tiny_codec, build_tiny_gguf


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(backbone .gguf, codec folder)."""
    root = tmp_path_factory.mktemp("neutts_models")
    return build_tiny_gguf(root / "tiny-neutts.gguf"), build_tiny_codec(root / "codec")


@pytest.fixture(scope="session")
def settings(
    tiny_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> EngineSettings:
    backbone, codec = tiny_models
    return EngineSettings(
        tts="neutts",
        tts_backbone=str(backbone),
        tts_codec=str(codec),
        cache_dir=tmp_path_factory.mktemp("neutts_cache"),
        device="cpu",
        threads=1,  # two cores are shared with other jobs; one thread does not spin-wait
    )


@pytest.fixture(scope="session")
def backend(settings: EngineSettings) -> Iterator[object]:
    from engine.tts.neutts import NeuTTSBackend

    yield NeuTTSBackend(settings)


@pytest.fixture(scope="session")
def voice(sample_voice: Path, sample_voice_text: str) -> object:
    from engine.media.audio import load_voice

    return load_voice(sample_voice, transcript=sample_voice_text, max_seconds=15.0)
