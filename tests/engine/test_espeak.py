"""The espeak backend: timings, voice matching toward the reference, languages, limits."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import Cancelled, InvalidInput
from engine.settings import EngineSettings
from engine.tts.espeak import OUTPUT_RATE, EspeakBackend
from engine.tts.voicematch import _world, analyse_reference, f0_stats
from engine.types import Audio, VoiceRef


def _vowel(f0: float, seconds: float = 3.0, rate: int = 16_000) -> Audio:
    """A sustained vowel-like sound: a pulse train through two formant resonances, with vibrato."""
    from scipy.signal import lfilter

    t = np.arange(int(seconds * rate)) / rate
    phase = np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t)) / rate)
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)
    y = pulses
    for formant, bw in ((700, 110), (1200, 120)):
        r = np.exp(-np.pi * bw / rate)
        y = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / rate), r * r], y)
    y = y / np.max(np.abs(y)) * 0.5
    return Audio(y.astype(np.float32), rate)


@pytest.fixture(scope="module")
def backend() -> EspeakBackend:
    return EspeakBackend(EngineSettings())


def test_timings_cover_the_audio(backend: EspeakBackend) -> None:
    speech = backend.synthesize("Hello there. How are you today?", VoiceRef(_vowel(120)))
    assert speech.audio.sample_rate == OUTPUT_RATE and speech.audio.samples.dtype == np.float32
    words = [w.text for w in speech.words]
    assert words[:2] == ["Hello", "there"] and "today" in words[-1]
    starts = [p.start for p in speech.phonemes]
    assert starts == sorted(starts) and len(speech.phonemes) > 10
    assert abs(speech.words[-1].end - speech.audio.duration) < 0.3
    assert len(speech.chunks) == 2


@pytest.mark.parametrize("f0", [100.0, 220.0])
def test_pitch_moves_toward_the_reference(backend: EspeakBackend, f0: float) -> None:
    speech = backend.synthesize("This is a test of the voice matching.", VoiceRef(_vowel(f0)))
    _, out_f0, _, _ = _world(speech.audio)
    median, _ = f0_stats(out_f0)
    semitones = 12 * abs(np.log2(median / f0))
    assert semitones < 2.0, (median, f0)


def test_reference_analysis_is_cached() -> None:
    voice = _vowel(150, seconds=2.0)
    first = analyse_reference(voice)
    assert first is not None and analyse_reference(voice) is first


def test_unvoiced_reference_falls_back_with_a_warning(backend: EspeakBackend) -> None:
    noise = Audio(np.random.default_rng(0).normal(0, 0.1, 32_000).astype(np.float32), 16_000)
    speech = backend.synthesize("Hello.", VoiceRef(noise))
    assert speech.audio.duration > 0.2 and speech.warnings


@pytest.mark.parametrize(
    "script", ["Привет, как дела?", "नमस्ते, आप कैसे हैं?", "你好，你好吗？", "مرحبا، كيف حالك؟"]
)
def test_non_latin_scripts_speak(backend: EspeakBackend, script: str) -> None:
    assert backend.synthesize(script, VoiceRef(_vowel(150))).audio.duration > 0.3


def test_unspeakable_script_is_invalid(backend: EspeakBackend) -> None:
    with pytest.raises(InvalidInput):
        backend.synthesize("😀 🎉", VoiceRef(_vowel(150)))


def test_long_script_and_cancellation(backend: EspeakBackend) -> None:
    script = "This is one sentence of a long script. " * 120  # ~4,700 characters
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(Cancelled):
        backend.synthesize(script, VoiceRef(_vowel(150)), should_cancel=cancel)
    speech = backend.synthesize(script[:2000], VoiceRef(_vowel(150)))
    assert speech.audio.duration > 60


def test_each_sentence_speaks_in_its_own_language(backend: EspeakBackend) -> None:
    speech = backend.synthesize(
        "Привет, как дела? Hello, Dr. Smith, it is 5pm.", VoiceRef(_vowel(120))
    )
    assert [w.text for w in speech.words] == [
        "Привет",
        "как",
        "дела",
        "Hello",
        "Doctor",
        "Smith",
        "it",
        "is",
        "five",
        "P",
        "M",
    ]
    assert [c.text for c in speech.chunks] == [
        "Привет, как дела?",
        "Hello, Doctor Smith, it is five P M.",
    ]
    assert all(
        a.end <= b.start + 1e-6 for a, b in zip(speech.words, speech.words[1:], strict=False)
    )
