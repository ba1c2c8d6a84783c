"""The faster-whisper recognizer: refuses to start without a local model (never downloads),
names what is missing, and joins the segments of real decoded speech."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.asr import SAMPLE_RATE, FasterWhisper, transcribe_file
from engine.errors import BackendUnavailable
from engine.types import Audio


def test_a_missing_model_folder_is_an_operator_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="model.bin missing") as e:
        FasterWhisper(tmp_path / "nowhere")
    assert "faster-whisper" in e.value.hint


def test_without_the_library_it_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # as if it were not installed
    (tmp_path / "model.bin").write_bytes(b"\0")
    with pytest.raises(BackendUnavailable, match="not installed") as e:
        FasterWhisper(tmp_path)
    assert "pip install faster-whisper" in e.value.hint


def test_a_converted_model_loads_and_transcribes_through_faster_whisper(
    tiny_whisper: Path, speech_wav: Path
) -> None:
    """The real path: a model folder from CTranslate2's converter, loaded by faster-whisper's
    WhisperModel from local files only, language detected, speech decoded. The tiny random
    model hears nonsense; that it hears it this way is the point."""
    from faster_whisper import WhisperModel

    recognizer = FasterWhisper(tiny_whisper)
    assert isinstance(recognizer.model, WhisperModel)
    assert recognizer.model.model.is_multilingual  # language detection runs, as with real models
    heard = transcribe_file(recognizer, speech_wav)
    assert isinstance(heard, str) and heard.strip() == heard and heard
    assert transcribe_file(recognizer, speech_wav) == heard  # greedy: the same every time


class _Model:
    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, dict[str, Any]]] = []

    def transcribe(self, samples: np.ndarray, **options: Any) -> tuple[list[Any], None]:
        self.calls.append((samples, options))
        seg = type("Segment", (), {})
        first, second = seg(), seg()
        first.text, second.text = " Copper meadow", " lantern 47. "
        return [first, second], None


def test_decoded_speech_goes_in_at_16_khz_and_segments_are_joined(speech_wav: Path) -> None:
    model = _Model()
    recognizer = FasterWhisper(Path("unused"), model=model, language="en")
    assert transcribe_file(recognizer, speech_wav) == "Copper meadow lantern 47."
    ((samples, options),) = model.calls
    assert samples.dtype == np.float32 and samples.ndim == 1 and len(samples) > SAMPLE_RATE
    assert options["language"] == "en" and options["condition_on_previous_text"] is False
    with pytest.raises(ValueError, match="16000 Hz"):
        recognizer.transcribe(Audio(np.zeros(800, np.float32), 8000))
    # a consent phrase in French is heard in French, whatever the recognizer's own setting
    transcribe_file(recognizer, speech_wav, "fr")
    assert model.calls[-1][1]["language"] == "fr"
