"""Word and phoneme timings for speech a backend made without them (Pocket TTS, say): what
espeak-ng says of the same text in the same language, its timings scaled onto the span the
backend's audio took. The warp lip sync shapes the mouth from these phonemes, so a French
script gets French visemes (nasal vowels, rounded front vowels) rather than English ones.

The scaling is linear: a rough alignment, good for mouth shapes (the audio's energy then opens
and closes the mouth frame by frame), not for subtitles.
"""

from __future__ import annotations

import logging

from engine.types import Segment
from spoken_text.languages import LANGUAGES

__all__ = ["espeak_timing", "espeak_voice"]

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
    from engine.tts._espeak_lib import EspeakLib, Event

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

    def at(seconds: float) -> float:
        return start + min(max(seconds, 0.0), total) * scale

    def label(e: Event) -> str:
        if e.kind == "word":
            return text[e.text_position - 1 : e.text_position - 1 + e.length].strip()
        return e.phoneme

    words: list[Segment] = []
    phonemes: list[Segment] = []
    for kind, out in (("word", words), ("phoneme", phonemes)):
        # only marks that say something; each lasts until the next one (the last: the end)
        these = [(e, label(e)) for e in events if e.kind == kind]
        these = [(e, name) for e, name in these if name and (kind != "word" or _says(name))]
        for i, (e, name) in enumerate(these):
            stop = these[i + 1][0].seconds if i + 1 < len(these) else total
            out.append(Segment(at(e.seconds), at(max(stop, e.seconds)), name))
    return words, phonemes
