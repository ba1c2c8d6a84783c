"""espeak-ng speech shaped toward the reference voice (pitch, timbre): a fallback, not a clone.

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
from engine.tts._espeak_lib import EspeakLib, library_path
from engine.tts.phonetimes import espeak_voice, phoneme_segments, word_segments
from engine.types import Audio, CancelCheck, Segment, Speech, VoiceRef
from spoken_text.languages import LANGUAGES
from spoken_text.normalize import detect_language, normalize_text, split_sentences

__all__ = ["EspeakBackend", "check", "OUTPUT_RATE"]

log = logging.getLogger(__name__)

OUTPUT_RATE = 24_000
_SENTENCE_GAP = 0.12  # seconds of silence between sentences
_MALE_BELOW_HZ = 165.0


def check(settings: EngineSettings) -> str | None:
    """Why this backend cannot run here, or None."""
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
        self.settings = settings
        try:
            self._lib = EspeakLib.get()
        except OSError as e:
            raise BackendUnavailable(
                f"espeak-ng cannot be loaded: {e}", hint="apt-get install espeak-ng"
            ) from e

    def synthesize(
        self,
        script: str,
        voice: VoiceRef,
        *,
        language: str | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Speech:
        """Speak ``script`` in ``language`` (None: detected) with an espeak voice chosen and
        shaped after ``voice``."""
        from engine.tts.voicematch import analyse_reference, match_voice

        sentences = _prepare(script, language)
        if not sentences:
            raise InvalidInput(
                "The script has nothing that can be spoken: send some words.", field="script"
            )
        warnings: list[str] = []
        profile = analyse_reference(voice.audio)
        if profile is None:
            warnings.append("No voiced speech found in the voice note; using a default voice.")
        variant = "+m3" if profile is None or profile.f0_median < _MALE_BELOW_HZ else "+f3"
        shape = (lambda a: match_voice(a, profile)) if profile is not None else (lambda a: a)
        raw, words, phonemes, chunks = self._speak(sentences, variant, shape, should_cancel)
        from engine.media.audio import normalize_loudness

        audio = normalize_loudness(Audio(raw, OUTPUT_RATE))
        return Speech(
            audio=audio,
            words=tuple(words),
            phonemes=tuple(phonemes),
            chunks=tuple(chunks),
            backend=self.name,
            watermarked=False,
            warnings=tuple(warnings),
        )

    def _speak(
        self,
        sentences: list[tuple[str, str]],
        variant: str,
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
        for sentence, lang in sentences:
            if should_cancel and should_cancel():
                raise Cancelled("cancelled during speech")
            try:
                samples, events = self._lib.synthesize(sentence, voice=_voice_name(lang) + variant)
            except ValueError:  # no such voice for this language: fall back to English
                samples, events = self._lib.synthesize(sentence, voice="en-us" + variant)
            audio = resample(
                shape(Audio(samples.astype(np.float32) / 32768.0, rate)), OUTPUT_RATE
            ).samples
            seconds = len(audio) / OUTPUT_RATE
            words += word_segments(sentence, events, offset, seconds)
            phonemes += phoneme_segments(events, offset, seconds)
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


def _prepare(script: str, language: str | None = None) -> list[tuple[str, str]]:
    """(normalised sentence, language) pairs; sentences with nothing to say dropped. Every
    sentence in the script's alphabet is spoken in ``language`` (None: the detected one)."""
    script_lang = language or detect_language(script)
    out = []
    for piece in _pieces(script):
        lang = _sentence_language(piece, script_lang)
        text = normalize_text(piece, lang)
        if _speakable(text):
            out.append((text, lang))
    return out


def _sentence_language(sentence: str, script_lang: str) -> str:
    """A sentence in another alphabet (Cyrillic in a French script) gets that alphabet's voice;
    the others, and letterless ones, keep the script's language (a short French sentence is
    not re-guessed as Spanish)."""
    if not any(ch.isalpha() for ch in sentence):
        return script_lang
    own = detect_language(sentence)
    return script_lang if own in LANGUAGES and script_lang in LANGUAGES else own


def _voice_name(lang: str) -> str:
    return espeak_voice(lang)


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)
