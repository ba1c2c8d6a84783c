"""espeak-ng speech shaped toward the reference voice (pitch, range, timbre): a voice-matched fallback, not a clone.

Embedded CPU default: needs no model files. espeak-ng speaks the script sentence by sentence
with word and phoneme events (their timings drive the lip sync); WORLD resynthesis then moves
the result toward the reference voice's pitch level and range and its average timbre.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from engine.errors import BackendUnavailable, Cancelled, InvalidInput
from engine.settings import EngineSettings
from engine.tts.textnorm import detect_language, normalize_text, split_sentences
from engine.types import Audio, CancelCheck, Segment, Speech, VoiceRef

__all__ = ["EspeakBackend", "check", "OUTPUT_RATE"]

log = logging.getLogger(__name__)

OUTPUT_RATE = 24_000
_SENTENCE_GAP = 0.12  # seconds of silence between sentences
_MALE_BELOW_HZ = 165.0


def check(settings: EngineSettings) -> str | None:
    """Why this backend cannot run here, or None."""
    from engine.tts._espeak_lib import library_path

    if library_path() is None:
        return "libespeak-ng not found: apt-get install espeak-ng (or pip install espeakng-loader)"
    try:
        from engine.tts.voicematch import _pyworld

        _pyworld()
    except ImportError:
        return "pyworld is not installed: pip install pyworld"
    return None


class EspeakBackend:
    """Speech backend on espeak-ng + WORLD voice matching."""

    name = "espeak"
    needs_transcript = False

    def __init__(self, settings: EngineSettings) -> None:
        from engine.tts._espeak_lib import EspeakLib

        self.settings = settings
        try:
            self._lib = EspeakLib.get()
        except OSError as e:
            raise BackendUnavailable(f"espeak-ng cannot be loaded: {e}", hint="apt-get install espeak-ng") from e

    def synthesize(
        self, script: str, voice: VoiceRef, *, should_cancel: CancelCheck | None = None
    ) -> Speech:
        """Speak ``script`` with an espeak voice chosen and shaped after ``voice``."""
        from engine.tts.voicematch import analyse_reference, match_voice

        lang = detect_language(script)
        sentences = [s for s in (normalize_text(x, lang) for x in _pieces(script)) if _speakable(s)]
        if not sentences:
            raise InvalidInput("The script has nothing that can be spoken: send some words.", field="script")
        warnings: list[str] = []
        profile = analyse_reference(voice.audio)
        if profile is None:
            warnings.append("No voiced speech found in the voice note; using a default voice.")
        base = "en-us" if lang == "en" else lang
        variant = "+m3" if profile is None or profile.f0_median < _MALE_BELOW_HZ else "+f3"
        shape = (lambda a: match_voice(a, profile)) if profile is not None else (lambda a: a)
        raw, words, phonemes, chunks = self._speak(sentences, base + variant, shape, should_cancel)
        from engine.media.audio import normalize_loudness

        audio = normalize_loudness(Audio(raw, OUTPUT_RATE))
        return Speech(audio=audio, words=tuple(words), phonemes=tuple(phonemes), chunks=tuple(chunks),
                      backend=self.name, watermarked=False, warnings=tuple(warnings))

    def _speak(
        self,
        sentences: list[str],
        voice: str,
        shape: Callable[[Audio], Audio],
        should_cancel: CancelCheck | None,
    ) -> tuple[np.ndarray, list[Segment], list[Segment], list[Segment]]:
        """Speak and shape sentence by sentence: memory stays bounded by one sentence."""
        from engine.media.audio import resample

        rate = self._lib.sample_rate
        gap = np.zeros(int(_SENTENCE_GAP * OUTPUT_RATE), np.float32)
        pieces: list[np.ndarray] = []
        words: list[Segment] = []
        phonemes: list[Segment] = []
        chunks: list[Segment] = []
        offset = 0.0
        for sentence in sentences:
            if should_cancel and should_cancel():
                raise Cancelled("cancelled during speech")
            try:
                samples, events = self._lib.synthesize(sentence, voice=voice)
            except ValueError:  # no such voice for this language: fall back to English
                samples, events = self._lib.synthesize(sentence, voice="en-us" + voice[voice.index("+"):])
            audio = resample(shape(Audio(samples.astype(np.float32) / 32768.0, rate)), OUTPUT_RATE).samples
            seconds = len(audio) / OUTPUT_RATE
            words += _word_segments(sentence, events, offset, seconds)
            phonemes += _phoneme_segments(events, offset, seconds)
            chunks.append(Segment(offset, offset + seconds, sentence))
            pieces += [audio, gap]
            offset += seconds + _SENTENCE_GAP
        return np.concatenate(pieces[:-1]), words, phonemes, chunks


def _pieces(script: str, limit: int = 240) -> list[str]:
    """Sentences, with overlong ones cut at clause marks (or spaces) to bound memory."""
    out: list[str] = []
    for sentence in split_sentences(script):
        while len(sentence) > limit:
            head = sentence[:limit]
            cut = max(head.rfind(","), head.rfind(";"), head.rfind(":"))
            if cut < limit // 3:
                cut = head.rfind(" ")
            cut = cut if cut > 0 else limit - 1
            out.append(sentence[: cut + 1])
            sentence = sentence[cut + 1 :].strip()
        if sentence:
            out.append(sentence)
    return out


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _word_segments(text: str, events: list, offset: float, total: float) -> list[Segment]:
    marks = [e for e in events if e.kind == "word"]
    out = []
    for i, e in enumerate(marks):
        end = marks[i + 1].seconds if i + 1 < len(marks) else total
        word = text[e.text_position - 1 : e.text_position - 1 + e.length].strip() or "?"
        out.append(Segment(offset + e.seconds, offset + max(end, e.seconds), word))
    return out


def _phoneme_segments(events: list, offset: float, total: float) -> list[Segment]:
    marks = [e for e in events if e.kind == "phoneme" and e.phoneme]
    out = []
    for i, e in enumerate(marks):
        end = marks[i + 1].seconds if i + 1 < len(marks) else total
        out.append(Segment(offset + e.seconds, offset + max(end, e.seconds), e.phoneme))
    return out
