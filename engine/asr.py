"""Speech recognition for the spoken-consent check: what is said in a voice note.

A small protocol (:class:`Recognizer`) and one backend, faster-whisper (CTranslate2) with a
model folder on disk. It is optional (``pip install faster-whisper``) and never downloads:
the folder must already hold a converted model (``model.bin``, ``config.json``,
``tokenizer.json``, ``vocabulary.*``), e.g. one copied from the ``Systran/faster-whisper-*``
repositories. Models load once per worker process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from engine.errors import BackendUnavailable
from engine.media.audio import decode_audio
from engine.types import Audio

__all__ = ["Recognizer", "FasterWhisper", "transcribe_file", "SAMPLE_RATE", "MAX_SECONDS"]

SAMPLE_RATE = 16_000  # what Whisper models take
MAX_SECONDS = 60.0
_HINT = "pip install faster-whisper, and copy a converted model folder (model.bin ...) here"


class Recognizer(Protocol):
    def transcribe(self, audio: Audio, language: str | None = None) -> str:
        """The words heard in ``audio`` (16 kHz mono), in ``language`` (an ISO 639-1 code;
        None: the recognizer's own setting, else detected)."""
        ...


class FasterWhisper:
    """faster-whisper on CPU (int8) or CUDA, from a local model folder only.

    ``model`` may be injected (an object with faster-whisper's ``transcribe`` signature) so
    the decoding and joining around it can be tested without a model.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        language: str | None = None,
        model: Any = None,
    ) -> None:
        self.language = language
        if model is not None:
            self.model = model
            return
        model_dir = Path(model_dir)
        if not (model_dir / "model.bin").is_file():
            raise BackendUnavailable(
                f"no faster-whisper model in {model_dir} (model.bin missing)", hint=_HINT
            )
        try:
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise BackendUnavailable("faster-whisper is not installed", hint=_HINT) from e
        self.model = WhisperModel(
            str(model_dir), device=device, compute_type=compute_type, local_files_only=True
        )

    def transcribe(self, audio: Audio, language: str | None = None) -> str:
        if audio.sample_rate != SAMPLE_RATE:
            raise ValueError(f"audio must be {SAMPLE_RATE} Hz, got {audio.sample_rate}")
        segments, _info = self.model.transcribe(
            audio.samples,
            language=language or self.language,
            beam_size=1,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments).strip()


def transcribe_file(recognizer: Recognizer, path: Path, language: str | None = None) -> str:
    """Decode any voice note (first minute) and transcribe it (in ``language``)."""
    audio = decode_audio(path, sample_rate=SAMPLE_RATE, max_seconds=MAX_SECONDS)
    return recognizer.transcribe(audio, language)
