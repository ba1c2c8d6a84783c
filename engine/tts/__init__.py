"""Speech backends: ``espeak`` (embedded CPU fallback, every language), ``pocket`` (Pocket TTS
cloning in seven languages), ``neutts`` (NeuTTS Air cloning, English), and ``auto``
(:mod:`engine.tts.router`: per language, the best of them usable here)."""

from engine.tts.base import SpeechBackend

__all__ = ["SpeechBackend"]
