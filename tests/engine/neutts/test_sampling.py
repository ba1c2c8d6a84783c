"""NeuTTS sampling as upstream's: temperature 1, top-k 50, top-p 0.95, min-p 0.05 by default,
each a setting, and each reaching llama.cpp's own sampler chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("llama_cpp", reason="the neutts extra is not installed")

from engine.settings import EngineSettings  # noqa: E402
from engine.tts._neutts_lm import Sampling, SpeechLM  # noqa: E402
from engine.tts.neutts import sampling_of  # noqa: E402

PHONEMES = "hˈaɪ ðˈɛɹ. ðɪs ɪz ɐ ʃˈɔːɹt sˈæmpəl ʌv maɪ vˈɔɪs, ɹᵻkˈɔːɹdᵻd."


def test_defaults_are_upstreams_and_each_is_a_setting() -> None:
    s = EngineSettings()
    assert (s.tts_temperature, s.tts_top_k, s.tts_top_p, s.tts_min_p) == (1.0, 50, 0.95, 0.05)
    assert Sampling() == Sampling(temperature=1.0, top_k=50, seed=0, top_p=0.95, min_p=0.05)
    env = EngineSettings.from_env({"MOUTHPIECE_TTS_TOP_P": "0.9", "MOUTHPIECE_TTS_MIN_P": "0.1"})
    assert (env.tts_top_p, env.tts_min_p) == (0.9, 0.1)
    for bad in (Sampling(top_p=0.0), Sampling(top_p=1.5), Sampling(min_p=-0.1)):
        with pytest.raises(ValueError, match="top_p|min_p"):
            bad.check()


def test_the_backend_samples_with_the_settings(backend: Any) -> None:
    assert backend.sampling == Sampling(temperature=1.0, top_k=50, seed=0, top_p=0.95, min_p=0.05)
    mine = EngineSettings(
        tts_temperature=0.7, tts_top_k=20, tts_top_p=0.9, tts_min_p=0.1, tts_seed=3
    )
    assert sampling_of(mine) == Sampling(temperature=0.7, top_k=20, seed=3, top_p=0.9, min_p=0.1)


def test_top_p_and_min_p_reach_llama_cpps_sampler(tiny_models: tuple[Path, Path]) -> None:
    """A nucleus of one token (top-p near 0) or a min-p of 1 leaves only the likeliest token:
    sampling at temperature 1 then gives exactly the greedy tokens; with both off it does not."""
    lm = SpeechLM(tiny_models[0], device="cpu", threads=1)
    prompt = lm.prompt(PHONEMES, np.arange(5, 65_536, 1_313))
    greedy = lm.generate(prompt, 30, Sampling(temperature=0.0, top_k=1)).codes
    assert len(greedy) == 30

    def sample(top_p: float, min_p: float) -> np.ndarray:
        sampling = Sampling(temperature=1.0, top_k=50, seed=3, top_p=top_p, min_p=min_p)
        return lm.generate(prompt, 30, sampling).codes

    assert np.array_equal(sample(top_p=1e-6, min_p=0.0), greedy)
    assert np.array_equal(sample(top_p=1.0, min_p=1.0), greedy)
    assert not np.array_equal(sample(top_p=1.0, min_p=0.0)[:30], greedy)
