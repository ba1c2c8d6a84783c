from pathlib import Path

import pytest

from engine.settings import EngineSettings


def test_from_env_parses_types_and_overrides() -> None:
    env = {
        "MOUTHPIECE_TTS": "neutts",
        "MOUTHPIECE_LIPSYNC_STEPS": "10",
        "MOUTHPIECE_WATERMARK": "off",
        "MOUTHPIECE_MODELS_DIR": "/m",
        "MOUTHPIECE_TTS_TEMPERATURE": "0.7",
    }
    s = EngineSettings.from_env(env, lipsync_steps=5, tts=None)
    assert s.tts == "neutts" and s.lipsync_steps == 5 and s.watermark is False
    assert s.models_dir == Path("/m") and s.tts_temperature == 0.7


def test_bad_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="MOUTHPIECE_LIPSYNC_STEPS"):
        EngineSettings.from_env({"MOUTHPIECE_LIPSYNC_STEPS": "many"})
