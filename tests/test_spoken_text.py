"""spoken_text: the script as it will be spoken, which the script limits count (engine and bot
alike). The normaliser's own rules are tested in tests/engine/test_textnorm.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spoken_text import normalize_text, spoken

ROOT = Path(__file__).resolve().parents[1]

#: what the English rules look at, drawn often: digits and their punctuation, currencies,
#: ordinal and decade suffixes, abbreviations, URLs, e-mail addresses, symbols, emoji
_WORDS = ("st", "th", "s", "am", "p.m.", "Dr.", "e.g.", "www.", "http://", "km", "million")
_PIECES = st.sampled_from([*"0123456789,.:-−–%$€£¥₹@&/#+=~° \n", *_WORDS, "😀", "Привет"])


#: numbers as people write them: signs, thousands, decimals, ordinal and plural suffixes
_NUMBERS = st.from_regex(r"[-$]?\d{1,7}(,\d{3})*(\.\d{1,3})?(st|nd|th|s|%|am)?", fullmatch=True)


@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(_PIECES | _NUMBERS, max_size=30).map("".join),
    st.sampled_from(["en", "ru", "fr", "de", "es", "it", "pt", "nl"]),
)
def test_normalising_never_raises(text: str, lang: str) -> None:
    out = normalize_text(text, lang)
    assert out == out.strip() and "  " not in out


def test_what_used_to_raise_is_read_out() -> None:
    """Decimal ordinals, and runs of digits longer than Python turns into an int (4,300)."""
    assert normalize_text("the 2.5th time") == "the two point fifth time"
    assert normalize_text("7" * 4301) == " ".join(["seven"] * 4301)
    assert normalize_text("$" + "7" * 4301).endswith("seven seven dollars")
    assert normalize_text("7" * 4301 + ".5").endswith("seven point five")
    assert normalize_text("7" * 4301 + "th").endswith("seven seventh")
    # up to the limit, the words stay what they were
    assert normalize_text("7" * 20) == " ".join(["seven"] * 20)
    assert normalize_text("$1,000,000.01") == "one million dollars and one cent"


def test_spoken_is_the_script_in_its_own_language() -> None:
    assert spoken("  Call\n 5555   now. ") == "Call five thousand five hundred and fifty-five now."
    assert spoken("Позвони 5555") == "Позвони 5555"  # espeak-ng reads Russian numbers itself
    assert len(spoken(("7777777 " * 125)[:994])) == 10_801  # issue 22: 994 typed characters


def test_the_chat_process_can_import_it_without_the_engine() -> None:
    code = (
        "import sys, spoken_text, bot.conversation.service\n"
        "heavy = {'engine', 'numpy', 'torch'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
