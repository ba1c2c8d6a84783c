import unicodedata

import pytest

from spoken_text.normalize import detect_language, normalize_text, number_to_words, split_sentences


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("$5.50", "five dollars and fifty cents"),
        ("$1", "one dollar"),
        ("€3 million", "three million euros"),
        ("Dr. Smith", "Doctor Smith"),
        ("see Mrs. Jones vs. them, etc.", "see Missus Jones versus them, et cetera"),
        ("in 1999", "in nineteen ninety-nine"),
        ("in 2007", "in two thousand and seven"),
        ("the 3rd and 21st", "the third and twenty-first"),
        ("50%", "fifty percent"),
        ("at 10:30", "at ten thirty"),
        ("on 2024-05-01", "on May first, twenty twenty-four"),
        ("pi is 3.14", "pi is three point one four"),
        ("cats & dogs", "cats and dogs"),
        ("1,234", "one thousand two hundred and thirty-four"),
        ("hi 😀👍🏽 there", "hi there"),
        ("e.g. this", "for example this"),
        ("born in the 1990s", "born in the nineteen nineties"),
        ("at 5pm or 9:15 a.m. ok", "at five P M or nine fifteen A M ok"),
        ("it was -5 out", "it was minus five out"),
        ("£2 or ¥300", "two pounds or three hundred yen"),
        ("mail bob@example.com", "mail bob at example dot com"),
        ("see https://www.example.com/x?y=1 now", "see www dot example dot com now"),
        ("a\x00b\u200bc  \n d", "a b c d"),
    ],
)
def test_english_normalisation(text: str, spoken: str) -> None:
    assert normalize_text(text) == spoken


def test_numbers() -> None:
    assert number_to_words(0) == "zero"
    assert number_to_words(115) == "one hundred and fifteen"
    assert number_to_words(2_000_001) == "two million and one"


@pytest.mark.parametrize("text", ["😀", "\x00\x07", "   ", "🇺🇸👨‍👩‍👧"])
def test_nothing_speakable_gives_empty(text: str) -> None:
    assert normalize_text(text).strip() == ""


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("\ud800", ""),  # a lone surrogate: nothing to say, and nothing espeak-ng cannot take
        ("9" * 40, " ".join(["nine"] * 40)),  # too long for a number: read digit by digit
        ("<<>>{}[]", ""),
        ("$", None),
        ("12:99", None),
        ("2024-13-45", None),
        ("1st" * 100, None),
    ],
)
def test_odd_input_gives_text_espeak_can_take(text: str, spoken: str | None) -> None:
    """Odd input never raises, and what comes out is plain text for espeak-ng: valid UTF-8,
    no control characters, one line, not blown up in length (and exact where it is clear)."""
    out = normalize_text(text)
    out.encode("utf-8")  # raises on lone surrogates
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Cf") for c in out), repr(out)
    assert len(out) <= 8 * len(text) + 16
    if spoken is not None:
        assert out == spoken


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Hello", "en"),
        ("Привет мир", "ru"),
        ("नमस्ते दुनिया", "hi"),
        ("你好世界", "cmn"),
        ("مرحبا بالعالم", "ar"),
        ("こんにちは世界", "ja"),
        ("Bonjour, je m'appelle Marie.", "fr"),  # Latin script: by its words (more in
        ("Hallo, wie geht es dir?", "de"),  # tests/test_spoken_languages.py)
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_split_sentences() -> None:
    assert split_sentences("One. Two? Three! 四。五") == ["One.", "Two?", "Three!", "四。", "五"]


def test_titles_and_initials_do_not_end_sentences() -> None:
    text = "Dr. Smith met J. R. Jones, e.g. at noon. Then they left, etc. Fine!"
    assert split_sentences(text) == [
        "Dr. Smith met J. R. Jones, e.g. at noon.",
        "Then they left, etc.",
        "Fine!",
    ]
