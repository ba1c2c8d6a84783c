"""Shared fixtures: sample inputs and small generated media."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Renders sign their videos: a local C2PA CA per test process, never in the source tree.
os.environ.setdefault("MOUTHPIECE_C2PA_DIR", tempfile.mkdtemp(prefix="mouthpiece-c2pa-"))


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def sample_photo() -> Path:
    return SAMPLES / "portrait.jpg"


@pytest.fixture(scope="session")
def sample_voice() -> Path:
    return SAMPLES / "voice.ogg"


@pytest.fixture(scope="session")
def sample_voice_text() -> str:
    return (SAMPLES / "voice.txt").read_text().strip()


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few seconds of real speech from espeak-ng, as WAV."""
    if not shutil.which("espeak-ng"):
        pytest.fail("espeak-ng is not installed (make test installs it)")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-w", str(path), "Testing one two three, this is my voice."],
        check=True,
    )
    return path


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Whisper converted for faster-whisper (tests/auxil/whisper_models)."""
    from tests.auxil.whisper_models import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("whisper"))
