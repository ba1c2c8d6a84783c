"""Word and phoneme timings for speech a backend made without them (Pocket TTS, say): what
espeak-ng says of the same text in the same language, its timings scaled onto the span the
backend's audio took. The warp lip sync shapes the mouth from these phonemes, so a French
script gets French visemes (nasal vowels, rounded front vowels) rather than English ones.

The scaling is linear: a rough alignment, good for mouth shapes (the audio's energy then opens
and closes the mouth frame by frame), not for subtitles.
"""

from __future__ import annotations

import logging

from engine.tts._espeak_lib import EspeakLib, Event
from engine.types import Segment
from spoken_text.languages import LANGUAGES

__all__ = ["espeak_timing", "espeak_voice", "word_segments", "phoneme_segments"]

log = logging.getLogger(__name__)


def espeak_voice(lang: str) -> str:
    """The espeak-ng voice for a language code (a supported one's, else the code itself)."""
    known = LANGUAGES.get(lang)
    return known.espeak if known else lang


def _says(word: str) -> bool:
    return any(ch.isalnum() for ch in word)


def espeak_timing(
    text: str, lang: str, start: float, end: float
) -> tuple[list[Segment], list[Segment]]:
    """(words, phonemes) of ``text`` as espeak-ng says it in ``lang``, scaled into
    [``start``, ``end``] seconds. Empty lists when espeak-ng is missing or says nothing."""
    if end <= start or not _says(text):
        return [], []
    try:
        lib = EspeakLib.get()
    except OSError as why:
        log.debug("no espeak-ng for phoneme timings: %s", why)
        return [], []
    try:
        samples, events = lib.synthesize(text, voice=espeak_voice(lang))
    except ValueError:  # no voice for this language here
        samples, events = lib.synthesize(text, voice="en-us")
    total = len(samples) / lib.sample_rate
    if total <= 0:
        return [], []
    scale = (end - start) / total

    def scaled(segments: list[Segment]) -> list[Segment]:
        def at(seconds: float) -> float:
            return start + min(max(seconds, 0.0), total) * scale

        return [Segment(at(g.start), at(g.end), g.text) for g in segments]

    return scaled(word_segments(text, events, 0.0, total)), scaled(
        phoneme_segments(events, 0.0, total)
    )


def word_segments(text: str, events: list[Event], offset: float, total: float) -> list[Segment]:
    """The words espeak-ng said of ``text`` (its events), from ``offset`` seconds: each lasts
    until the next word that says something, the last until ``total``."""
    marks = [e for e in events if e.kind == "word" and _says(_event_text(text, e))]
    out = []
    for i, e in enumerate(marks):
        end = marks[i + 1].seconds if i + 1 < len(marks) else total
        out.append(Segment(offset + e.seconds, offset + max(end, e.seconds), _event_text(text, e)))
    return out


def _event_text(text: str, event: Event) -> str:
    """The words an event covers (espeak counts characters from 1)."""
    return text[event.text_position - 1 : event.text_position - 1 + event.length].strip()


def phoneme_segments(events: list[Event], offset: float, total: float) -> list[Segment]:
    """The phonemes espeak-ng said (its events), from ``offset`` seconds: each lasts until the
    next, the last until ``total``."""
    marks = [e for e in events if e.kind == "phoneme" and e.phoneme]
    out = []
    for i, e in enumerate(marks):
        end = marks[i + 1].seconds if i + 1 < len(marks) else total
        out.append(Segment(offset + e.seconds, offset + max(end, e.seconds), e.phoneme))
    return out
