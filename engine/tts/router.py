"""``tts = auto``: the speech backend that speaks the script's language, chosen per render.

NeuTTS Air for English when its weights are here and the voice note's words are known (it
needs them), Pocket TTS for the languages it has weights for, espeak-ng + WORLD otherwise
(:func:`engine.backends.choose_tts` says which and why). Each backend is built the first time
a script needs it and kept for the next.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from engine.settings import EngineSettings
from engine.tts.base import SpeechBackend
from engine.types import CancelCheck, Speech, VoiceRef
from spoken_text.languages import resolve

__all__ = ["AutoSpeech"]

log = logging.getLogger(__name__)


class AutoSpeech:
    """A :class:`SpeechBackend` that hands each script to the backend for its language."""

    name = "auto"
    #: never required up front: without the voice note's words, English goes to another voice
    needs_transcript = False

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self._backends: dict[str, SpeechBackend] = {}
        self._lock = threading.Lock()

    def backend(self, name: str) -> SpeechBackend:
        """The backend ``name``, built on first use."""
        from engine.backends import create_tts

        with self._lock:
            if name not in self._backends:
                self._backends[name] = create_tts(replace(self.settings, tts=name))
            return self._backends[name]

    def synthesize(
        self,
        script: str,
        voice: VoiceRef,
        *,
        language: str | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Speech:
        from engine.backends import choose_tts

        lang = language or resolve(None, script)
        choice = choose_tts(self.settings, lang, transcript=bool(voice.transcript))
        log.info("speech in %s: %s (%s)", lang, choice.name, choice.reason)
        return self.backend(choice.name).synthesize(
            script, voice, language=lang, should_cancel=should_cancel
        )
