"""The Perth watermark: present after apply, absent on clean speech, kept through an MP4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import watermark
from engine.media.audio import decode_audio
from engine.types import Audio


def test_the_watermark_can_run_here() -> None:
    """make test installs torch and resemble-perth: the watermark must be available."""
    assert watermark.available() is None


@pytest.fixture(scope="module")
def speech(speech_wav: Path) -> Audio:
    return decode_audio(speech_wav, sample_rate=24_000)


def test_watermark_is_detected_after_apply_and_not_on_clean_speech(speech: Audio) -> None:
    marked = watermark.apply_watermark(speech)
    assert marked.sample_rate == speech.sample_rate and len(marked.samples) == len(speech.samples)
    assert watermark.detect_watermark(speech) < 0.2
    assert watermark.detect_watermark(marked) > 0.8
    # inaudible: the change stays well below the speech
    noise = np.sum((marked.samples - speech.samples) ** 2)
    assert 10 * np.log10(np.sum(speech.samples**2) / noise) > 10


def test_watermark_survives_an_mp4_round_trip(speech: Audio, tmp_path: Path) -> None:
    from engine.media.video import VideoWriter

    marked = watermark.apply_watermark(speech)
    frames = int(speech.duration * 25)
    for name, audio in (("marked.mp4", marked), ("clean.mp4", speech)):
        with VideoWriter(tmp_path / name, size=(64, 64), fps=25, audio=audio, n_frames=frames) as w:
            for _ in range(frames):
                w.write(np.zeros((64, 64, 3), np.uint8))
    assert (
        watermark.detect_watermark(decode_audio(tmp_path / "marked.mp4", sample_rate=24_000)) > 0.8
    )
    assert (
        watermark.detect_watermark(decode_audio(tmp_path / "clean.mp4", sample_rate=24_000)) < 0.2
    )


def test_long_speech_is_marked_in_blocks_without_seams(speech: Audio) -> None:
    # ~25 s: three blocks of 10 s cross-faded; every part carries the mark, and the joins
    # add no click (the change stays as small as in one block).
    reps = int(np.ceil(25.0 / speech.duration))
    long = Audio(np.tile(speech.samples, reps), speech.sample_rate)
    marked = watermark.apply_watermark(long)
    assert len(marked.samples) == len(long.samples)
    rate = long.sample_rate
    for start in (0.0, 9.0, 19.0):  # the first block, across a join, the last block
        part = slice(int(start * rate), int((start + 5.0) * rate))
        assert watermark.detect_watermark(Audio(marked.samples[part], rate)) > 0.8
    noise = np.abs(marked.samples - long.samples)
    assert noise.max() < 0.5 * np.abs(long.samples).max()
    assert 10 * np.log10(np.sum(long.samples**2) / np.sum(noise**2)) > 10
