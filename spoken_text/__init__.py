"""The script as it will be spoken: numbers, money, dates, abbreviations and symbols written
out as words (:mod:`spoken_text.normalize`), and :func:`spoken`, which the limits on a script
(its length, its estimated speech, a render's timeout) count instead of the typed text: "1234567"
is seven characters typed and 77 spoken.

Pure Python, standard library only, importing nothing else of ours: the engine's speech
backends and the chat process (which never imports ``engine``) both import it.
"""

from __future__ import annotations

from spoken_text.normalize import (
    detect_language,
    normalize_text,
    number_to_words,
    split_clauses,
    split_sentences,
)

__all__ = [
    "spoken",
    "normalize_text",
    "split_sentences",
    "split_clauses",
    "detect_language",
    "number_to_words",
]


def spoken(script: str) -> str:
    """``script`` as the speech backends say it: normalised in the language most of its letters
    are written in, whitespace collapsed. Its cost grows faster than its length on hostile
    input (see :mod:`spoken_text.normalize`): bound the typed length first."""
    return normalize_text(script, detect_language(script))
