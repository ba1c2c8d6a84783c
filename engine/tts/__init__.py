"""Speech backends: ``espeak`` (embedded CPU default) and ``neutts`` (NeuTTS Air cloning)."""

from engine.tts.base import SpeechBackend

__all__ = ["SpeechBackend"]
