"""The languages a script may be written in and how each is spoken.

One table (:data:`LANGUAGES`) says, per supported language, its espeak-ng voice (speech on the
embedded backend, and the phonemes the warp lip sync shapes the mouth from), its Pocket TTS
model, and how many characters of its normalised text are said in a second (the speech-time
estimate). ``resolve`` turns a choice (``--lang``, the ``/talk`` option) or its absence into a
code: ``None``, ``""`` and ``"auto"`` detect the language from the script.

The speaking rates come from parallel text: the same message takes about the same time in
these languages (Pellegrino, Coupé and Marsico 2011: faster syllables carry less each), so a
language that needs more characters for it says more characters a second. English's 15 is the
product's earlier measure; the others scale it by the length of Kyutai's parallel sample
sentences (the ``pocket-tts`` wheel's default texts) against the English one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Language", "LANGUAGES", "SUPPORTED", "language", "resolve", "chars_per_second"]


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1, what --lang and /talk take
    name: str  # in English, for logs, doctor and the docs
    native: str  # in itself, for choice lists
    espeak: str  # espeak-ng voice name (each checked to load in espeak-ng 1.51, Debian 12)
    pocket: str  # Pocket TTS configuration (a YAML in the pocket-tts wheel)
    chars_per_second: float


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("en", "English", "English", "en-us", "english", 15.0),
        Language("fr", "French", "Français", "fr", "french", 20.9),
        Language("de", "German", "Deutsch", "de", "german", 19.5),
        Language("es", "Spanish", "Español", "es", "spanish", 18.6),
        Language("it", "Italian", "Italiano", "it", "italian", 17.6),
        Language("pt", "Portuguese", "Português", "pt-br", "portuguese", 18.8),
        Language("nl", "Dutch", "Nederlands", "nl", "dutch", 18.6),
    )
}
#: the codes --lang and /talk accept, English first
SUPPORTED: tuple[str, ...] = tuple(LANGUAGES)

_AUTO = {"", "auto"}


def language(code: str) -> Language:
    """The supported language ``code`` names (case and a region ignored: ``pt-BR`` is ``pt``);
    ValueError naming the supported ones otherwise."""
    key = code.strip().lower().replace("_", "-").split("-")[0]
    if key not in LANGUAGES:
        known = ", ".join(SUPPORTED)
        raise ValueError(f"unknown language {code!r}: use one of {known}, or auto")
    return LANGUAGES[key]


def resolve(choice: str | None, script: str) -> str:
    """The code a script is spoken in: ``choice`` when given (checked), else detected from the
    script. Detection may name a language outside :data:`SUPPORTED` (a script in Cyrillic, say:
    its espeak-ng voice); a choice never does."""
    if choice is None or choice.strip().lower() in _AUTO:
        from spoken_text.normalize import detect_language

        return detect_language(script)
    return language(choice).code


def chars_per_second(code: str) -> float:
    """Characters of normalised text said in a second in ``code`` (English's for the others)."""
    lang = LANGUAGES.get(code)
    return lang.chars_per_second if lang else LANGUAGES["en"].chars_per_second
