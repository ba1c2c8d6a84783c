"""WORLD voice matching: reference analysis, its cache, pitch mapping, envelope warp and timbre."""

from __future__ import annotations

import numpy as np
import pytest

from engine.tts import voicematch
from engine.tts.voicematch import (
    _centroid,
    _grid_envelope,
    _warp_envelope,
    _world,
    analyse_reference,
    f0_stats,
    match_voice,
)
from engine.types import Audio


def _vowel(
    f0: float,
    formants: tuple[float, float] = (700, 1200),
    seconds: float = 2.0,
    rate: int = 16_000,
    vibrato: float = 0.03,
) -> Audio:
    """A glottal-pulse-train vowel through two formant resonators, with vibrato."""
    from scipy.signal import lfilter

    t = np.arange(int(seconds * rate)) / rate
    phase = np.cumsum(f0 * (1 + vibrato * np.sin(2 * np.pi * 5 * t)) / rate)
    y = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)
    for formant in formants:
        r = np.exp(-np.pi * 100 / rate)
        y = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / rate), r * r], y)
    return Audio((y / np.max(np.abs(y)) * 0.5).astype(np.float32), rate)


def _semitones(a: float, b: float) -> float:
    return float(12 * abs(np.log2(a / b)))


def test_f0_stats_ignores_unvoiced_frames() -> None:
    f0 = np.array([0.0] * 50 + [100.0] * 20 + [200.0] * 20)
    median, spread = f0_stats(f0)
    assert median == pytest.approx(150.0)
    assert spread == pytest.approx(6.0)  # half the frames an octave above the other half
    assert f0_stats(np.zeros(100)) == (0.0, 0.0)


@pytest.mark.parametrize("f0", [100.0, 220.0])
def test_reference_pitch_is_measured(f0: float) -> None:
    profile = analyse_reference(_vowel(f0, rate=24_000))
    assert profile is not None
    assert _semitones(profile.f0_median, f0) < 0.5
    assert 0.05 < profile.f0_spread < 2.0  # the 3 % vibrato, not octave errors
    assert profile.envelope_db.shape == (257,)


def test_analysis_cache_is_keyed_by_content() -> None:
    voice = _vowel(130)
    first = analyse_reference(voice)
    assert first is not None
    same_samples = Audio(voice.samples.copy(), voice.sample_rate)
    assert analyse_reference(same_samples) is first
    assert voice.content_hash() in voicematch._CACHE
    assert analyse_reference(_vowel(131)) is not first


@pytest.mark.parametrize("kind", ["noise", "silence"])
def test_unvoiced_reference_gives_none(kind: str) -> None:
    rng = np.random.default_rng(1)
    samples = rng.normal(0, 0.1, 32_000) if kind == "noise" else np.zeros(32_000)
    assert analyse_reference(Audio(samples.astype(np.float32), 16_000)) is None


@pytest.mark.parametrize(("source", "target"), [(120.0, 210.0), (200.0, 95.0)])
def test_match_voice_moves_pitch_to_the_target(source: float, target: float) -> None:
    profile = analyse_reference(_vowel(target))
    assert profile is not None
    speech = _vowel(source, formants=(500, 1500), rate=22_050)
    out = match_voice(speech, profile)
    assert out.sample_rate == speech.sample_rate and len(out.samples) == len(speech.samples)
    assert np.isfinite(out.samples).all() and np.max(np.abs(out.samples)) <= 1.0
    _, f0, _, _ = _world(out)
    median, _ = f0_stats(f0)
    assert _semitones(median, target) < 1.0, (median, target)


def test_envelope_warp_raises_formants_when_alpha_above_one() -> None:
    bins = np.linspace(0, 8000, 513)
    env = np.exp(-(((bins - 1000) / 200) ** 2))[None, :] + 1e-6
    up = _warp_envelope(env, 1.2)
    down = _warp_envelope(env, 0.85)
    assert bins[np.argmax(up[0])] == pytest.approx(1200, abs=20)
    assert bins[np.argmax(down[0])] == pytest.approx(850, abs=20)
    assert _warp_envelope(env, 1.0) is env


@pytest.mark.parametrize(
    ("own", "reference"), [((600, 1100), (800, 1500)), ((800, 1500), (600, 1100))]
)
def test_timbre_moves_toward_the_reference(
    own: tuple[float, float], reference: tuple[float, float]
) -> None:
    profile = analyse_reference(_vowel(150, formants=reference))
    assert profile is not None
    speech = _vowel(150, formants=own)

    def centroid(audio: Audio) -> float:
        _, f0, _, sp = _world(audio)
        return _centroid(_grid_envelope(sp, audio.sample_rate, f0 > 0))

    before, after = centroid(speech), centroid(match_voice(speech, profile))
    assert abs(after - profile.centroid) < 0.6 * abs(before - profile.centroid), (
        before,
        after,
        profile.centroid,
    )
