"""The script as it will be spoken: numbers, money, dates, abbreviations and symbols written
out as words (:mod:`spoken_text.normalize`), and :func:`spoken`, which the limits on a script
(its length, its estimated speech, a render's timeout) count instead of the typed text: "1234567"
is seven characters typed and 77 spoken.

Pure Python, standard library only, importing nothing else of ours: the engine's speech
backends and the chat process (which never imports ``engine``) both import it.
"""

from __future__ import annotations

from spoken_text.languages import LANGUAGES, SUPPORTED, chars_per_second, resolve
from spoken_text.normalize import (
    detect_language,
    normalize_text,
    number_to_words,
    split_clauses,
    split_sentences,
)

__all__ = [
    "spoken",
    "speech_seconds",
    "resolve",
    "chars_per_second",
    "LANGUAGES",
    "SUPPORTED",
    "opening",
    "SPOKEN_CHARS_PER_SECOND",
    "normalize_text",
    "split_sentences",
    "split_clauses",
    "detect_language",
    "number_to_words",
]


def spoken(script: str, lang: str | None = None) -> str:
    """``script`` as the speech backends say it: normalised in ``lang`` (None or "auto": the
    language it is detected to be written in), whitespace collapsed. Its cost grows faster than
    its length on hostile input (see :mod:`spoken_text.normalize`): bound the typed length
    first."""
    return normalize_text(script, resolve(lang, script))


def speech_seconds(script: str, lang: str | None = None) -> float:
    """Rough time ``script`` takes to say in ``lang`` (None: detected): its normalised length
    at that language's speaking rate (:func:`spoken_text.languages.chars_per_second`)."""
    code = resolve(lang, script)
    return len(normalize_text(script, code)) / chars_per_second(code)


#: characters of spoken text said in a second, roughly (the bot's speech-time estimate)
SPOKEN_CHARS_PER_SECOND = 15.0


def opening(script: str, seconds: float = 3.0) -> str:
    """The first words of ``script`` for a preview: its first sentence, or as many of its
    clauses or words as are said in about ``seconds`` (at least one word). The whole script
    when it is that short."""
    budget = seconds * SPOKEN_CHARS_PER_SECOND
    sentences = split_sentences(script)
    if not sentences:
        return script.strip()
    first = sentences[0]
    if len(spoken(first)) <= budget:
        return first
    taken = ""
    for piece in split_clauses(first):
        candidate = f"{taken} {piece}".strip()
        if taken and len(spoken(candidate)) > budget:
            return taken
        if not taken and len(spoken(candidate)) > budget:
            break  # the first clause alone is too long: cut it at a word
        taken = candidate
    if taken:
        return taken
    words: list[str] = []
    for word in first.split():
        if words and len(spoken(" ".join([*words, word]))) > budget:
            break
        words.append(word)
    return " ".join(words)
