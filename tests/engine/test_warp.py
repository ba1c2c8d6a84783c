"""The warp backend: frame stream, mouth follows speech, stillness in silence, mouth only."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from engine.lipsync.warp import WarpBackend
from engine.media.image import find_face, load_portrait
from engine.settings import EngineSettings
from engine.types import Audio, Portrait, RenderOptions, Speech
from tests.auxil.media_fixtures import tone_speech

STILL = RenderOptions(head_motion=False, blinks=False)


@pytest.fixture(scope="module")
def portrait(sample_photo: Path) -> Portrait:
    return load_portrait(sample_photo)


@pytest.fixture(scope="module")
def speech() -> Speech:
    rate = 16_000
    x = np.concatenate([np.zeros(rate), tone_speech(1.0, rate), np.zeros(rate)]).astype(np.float32)
    return Speech(audio=Audio(x, rate))


def _mouth_box(p: Portrait) -> tuple[slice, slice]:
    cx, cy = p.landmarks.mouth_center
    mw = p.landmarks.mouth_width
    return slice(int(cy - 0.6 * mw), int(cy + 0.8 * mw)), slice(
        int(cx - 0.7 * mw), int(cx + 0.7 * mw)
    )


def test_frames_are_lazy_and_well_formed(portrait: Portrait, speech: Speech) -> None:
    frames = WarpBackend(EngineSettings()).frames(
        portrait, speech, n_frames=100_000, options=RenderOptions()
    )
    first = list(itertools.islice(frames, 3))
    assert all(f.shape == portrait.image.shape and f.dtype == np.uint8 for f in first)


def test_mouth_moves_with_speech_and_is_still_in_silence(
    portrait: Portrait, speech: Speech
) -> None:
    frames = list(
        WarpBackend(EngineSettings()).frames(portrait, speech, n_frames=75, options=STILL)
    )
    assert len(frames) == 75
    ys, xs = _mouth_box(portrait)
    base = portrait.image[ys, xs].astype(int)
    motion = np.array([np.abs(f[ys, xs].astype(int) - base).mean() for f in frames])
    assert motion[:22].max() == 0 and motion[-20:].max() == 0, "mouth must be still in silence"
    assert motion[27:48].mean() > 3.0 and (motion[27:48] > 0).mean() > 0.7, (
        "mouth must move while speaking"
    )
    openings = motion[27:48]
    assert openings.std() > 0.5, "the opening varies with the syllables"
    # nothing outside the lower face changes
    top = int(portrait.landmarks.nose_tip[1]) - 5
    assert all(np.array_equal(f[:top], portrait.image[:top]) for f in frames)


def test_the_warp_draws_the_mouth_only(portrait: Portrait, speech: Speech) -> None:
    # blinks and head motion are the pipeline's motion stage (tests/engine/test_motion.py)
    backend = WarpBackend(EngineSettings())
    plain = backend.frames(portrait, speech, n_frames=50, options=STILL)
    lively = backend.frames(portrait, speech, n_frames=50, options=RenderOptions(seed=3))
    assert all(np.array_equal(a, b) for a, b in zip(plain, lively, strict=True))


def test_estimated_landmarks_still_animate(speech: Speech) -> None:
    from engine.media.image import _estimate_landmarks

    p = find_face(np.ascontiguousarray(load_portrait(Path("data/samples/portrait.jpg")).image))
    estimated = Portrait(image=p.image, face=p.face, landmarks=_estimate_landmarks(p.face))
    frames = list(
        WarpBackend(EngineSettings()).frames(estimated, speech, n_frames=75, options=STILL)
    )
    ys, xs = _mouth_box(estimated)
    assert np.abs(frames[35][ys, xs].astype(int) - p.image[ys, xs]).mean() > 1.0
