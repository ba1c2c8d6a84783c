"""Make a script speakable: numbers, money, dates, abbreviations, symbols; drop emoji.

English rules are table-driven; other languages only get symbol, emoji and control-character
cleaning (espeak-ng reads their numbers itself). Nothing here may raise on any input.

Its cost grows faster than the text on hostile input (a long run of digits is rescanned from
each of its digits): about 50 ms for 1,000 such characters, 1.3 s for 5,000. Callers bound the
typed length before normalising (``engine.pipeline.check_script``, the bot's script check).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

__all__ = [
    "normalize_text",
    "split_sentences",
    "split_clauses",
    "detect_language",
    "number_to_words",
]

_ONES = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
    *("eighteen", "nineteen"),
)
_TENS = ("_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}

_ABBREVIATIONS = {
    "dr.": "doctor",
    "mr.": "mister",
    "mrs.": "missus",
    "ms.": "miz",
    "st.": "saint",
    "prof.": "professor",
    "jr.": "junior",
    "sr.": "senior",
    "vs.": "versus",
    "etc.": "et cetera",
    "e.g.": "for example",
    "i.e.": "that is",
    "approx.": "approximately",
    "no.": "number",
    "mt.": "mount",
    "ft.": "feet",
    "km": "kilometres",
    "kg": "kilograms",
    "min.": "minutes",
}
_SYMBOLS = {
    "&": " and ",
    "@": " at ",
    "%": " percent",
    "+": " plus ",
    "=": " equals ",
    "#": " number ",
    "°": " degrees",
    "×": " times ",
    "/": " slash ",
    "~": " about ",
}
_CURRENCY = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", "sen", "sen"),
    "₹": ("rupee", "rupees", "paisa", "paise"),
}
#: longer runs of digits are read digit by digit wherever they stand: Python turns at most
#: 4,300 digits into an int (its default ``sys.int_info.default_max_str_digits``)
_MAX_DIGITS = 4300
_MONTHS = (
    *("January", "February", "March", "April", "May", "June", "July", "August"),
    *("September", "October", "November", "December"),
)

# Unicode script -> espeak-ng voice; checked against `espeak-ng --voices` on Debian 12.
_SCRIPTS: tuple[tuple[str, str], ...] = (
    ("CYRILLIC", "ru"),
    ("GREEK", "el"),
    ("ARABIC", "ar"),
    ("HEBREW", "he"),
    ("DEVANAGARI", "hi"),
    ("BENGALI", "bn"),
    ("TAMIL", "ta"),
    ("TELUGU", "te"),
    ("GUJARATI", "gu"),
    ("GURMUKHI", "pa"),
    ("KANNADA", "kn"),
    ("MALAYALAM", "ml"),
    ("THAI", "th"),
    ("HANGUL", "ko"),
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("CJK", "cmn"),
    ("GEORGIAN", "ka"),
    ("ARMENIAN", "hy"),
    ("ETHIOPIC", "am"),
    ("SINHALA", "si"),
    ("MYANMAR", "my"),
)


def number_to_words(n: int) -> str:
    """Cardinal English words for a non-negative integer."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("-" + _ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + (" and " + number_to_words(rest) if rest else "")
    for value, name in _SCALES:
        if n >= value:
            high, rest = divmod(n, value)
            tail = ""
            if rest:
                tail = (" and " if rest < 100 else " ") + number_to_words(rest)
            return number_to_words(high) + " " + name + tail
    return str(n)  # unreachable


def _ordinal(n: int) -> str:
    return _ordinal_words(number_to_words(n))


def _ordinal_words(words: str) -> str:
    """``words`` with its last word made ordinal ("twenty-one" -> "twenty-first")."""
    head, sep, last = words.rpartition("-") if "-" in words.split()[-1] else words.rpartition(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def _plural(words: str) -> str:
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _year(n: int) -> str:
    if 2000 <= n < 2010:
        return number_to_words(n)
    high, low = divmod(n, 100)
    if low == 0:
        return number_to_words(high) + " hundred"
    return number_to_words(high) + " " + ("oh " + _ONES[low] if low < 10 else number_to_words(low))


def _digits(text: str) -> str:
    """The digits of ``text`` one by one ("four two")."""
    return " ".join(_ONES[int(d)] for d in text if d.isdigit())


def _whole(text: str) -> str:
    """Words for a whole number written with digits and commas (digit by digit when long)."""
    digits = text.replace(",", "")
    return _digits(digits) if len(digits) > _MAX_DIGITS else number_to_words(int(digits or 0))


def _decimal(text: str) -> str:
    whole, _, frac = text.partition(".")
    out = _whole(whole)
    if frac:
        out += " point " + " ".join(_ONES[int(d)] for d in frac)
    return out


def _money(match: re.Match[str]) -> str:
    one, many, sub_one, sub_many = _CURRENCY[match["cur"]]
    digits = match["whole"].replace(",", "")
    cents = int((match["cents"] or "0").ljust(2, "0")[:2])
    scale = f" {match['scale']}" if match["scale"] else ""
    single = len(digits) <= _MAX_DIGITS and int(digits) == 1
    parts = [f"{_whole(digits)}{scale} {many if (not single or scale) else one}"]
    if cents:
        parts.append(f"{number_to_words(cents)} {sub_many if cents != 1 else sub_one}")
    return " and ".join(parts)


def _date(match: re.Match[str]) -> str:
    year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return match.group(0)
    return f"{_MONTHS[month - 1]} {_ordinal(day)}, {_year(year)}"


def _time(match: re.Match[str]) -> str:
    hour, minute = int(match["h"]), int(match["min"])
    if hour > 23 or minute > 59:
        return match.group(0)
    suffix = f" {match['ampm'][0].upper()} M" if match["ampm"] else ""
    if minute == 0:
        return number_to_words(hour) + (" o'clock" if not suffix else "") + suffix
    mins = ("oh " + _ONES[minute]) if minute < 10 else number_to_words(minute)
    return f"{number_to_words(hour)} {mins}{suffix}"


def _number(match: re.Match[str]) -> str:
    text = match.group(0)
    if match["ord"] == "s":  # decades and plurals: "1990s" -> "nineteen nineties"
        return _plural(_RE_NUMBER.sub(_number, match["num"]))
    if match["ord"]:  # "21st"; also "2.5th" ("two point fifth") and very long runs
        return _ordinal_words(_decimal(match["num"]))
    plain = match["num"]
    if "." in plain:
        return _decimal(plain)
    if len(plain.replace(",", "")) > 15:
        return _digits(plain)
    value = int(plain.replace(",", ""))
    if len(plain) == 4 and "," not in plain and 1100 <= value <= 2099:
        return _year(value)
    return number_to_words(value) if text else text


_RE_URL = re.compile(r"\bhttps?://([^\s/]+)\S*|\bwww\.(\S+?)(?=[\s,;!?]|$)", re.I)
_RE_EMAIL = re.compile(r"\b([\w.+-]+)@([\w-]+)\.([\w.]+)\b")
_RE_MONEY = re.compile(
    r"(?P<cur>[$€£¥₹])\s?(?P<whole>\d[\d,]*)(?:\.(?P<cents>\d{1,2}))?(?:\s?(?P<scale>million|billion|thousand))?"
)
_RE_DATE = re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b")
_RE_TIME = re.compile(
    r"\b(?P<h>\d{1,2}):(?P<min>\d{2})(?:\s?(?P<ampm>[ap])(?:\.m\.|m\b))?(?![\d:])", re.I
)
_RE_PERCENT = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?%")
_RE_NUMBER = re.compile(r"(?P<num>\d[\d,]*(?:\.\d+)?)(?P<ord>st|nd|rd|th|s)?\b")
_RE_HOUR = re.compile(r"\b(?P<h>\d{1,2})\s?(?P<ampm>[ap])(?:\.m\.|m\b)", re.I)
_RE_MINUS = re.compile(r"(?<![\w.])[-\u2212](?=\d)")


def _is_pictograph(ch: str) -> bool:
    cat = unicodedata.category(ch)
    if cat in ("So", "Sk", "Cs", "Co", "Cn") and ord(ch) > 0x2000:
        return True
    return ord(ch) in (0x200D, 0xFE0F, 0xFE0E, 0x20E3) or 0x1F3FB <= ord(ch) <= 0x1F3FF


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    out = []
    for ch in text:
        if _is_pictograph(ch) or unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\n\t":
            out.append(" ")
        else:
            out.append(ch)
    text = "".join(out).replace("\u2019", "'").replace("\u2018", "'")
    text = (
        text.replace("\u201c", '"')
        .replace("\u201d", '"')
        .replace("\u2014", ", ")
        .replace("\u2013", " to ")
    )
    return text


def _expander(full: str) -> Callable[[re.Match[str]], str]:
    """Replacement that keeps a capitalised abbreviation capitalised ("Dr." -> "Doctor")."""
    return lambda m: full.capitalize() if m.group(0)[0].isupper() else full


def normalize_text(text: str, lang: str = "en") -> str:
    """Return ``text`` made speakable for espeak-ng / phonemisation in ``lang``."""
    text = _clean(text)
    if lang.startswith("en"):
        text = _RE_URL.sub(
            lambda m: " " + (m.group(1) or m.group(2) or "").replace(".", " dot ") + " ", text
        )
        text = _RE_EMAIL.sub(lambda m: f"{m[1]} at {m[2]} dot {m[3].replace('.', ' dot ')}", text)
        text = _RE_MONEY.sub(_money, text)
        text = _RE_DATE.sub(_date, text)
        text = _RE_TIME.sub(_time, text)
        text = _RE_HOUR.sub(
            lambda m: f"{_RE_NUMBER.sub(_number, m['h'])} {m['ampm'].upper()} M", text
        )
        text = _RE_MINUS.sub("minus ", text)
        text = _RE_PERCENT.sub(lambda m: _RE_NUMBER.sub(_number, m[1]) + " percent", text)
        text = _RE_NUMBER.sub(_number, text)
        for abbr, full in _ABBREVIATIONS.items():
            text = re.sub(
                rf"(?<![\w.]){re.escape(abbr)}(?=\s|$|[,;:])", _expander(full), text, flags=re.I
            )
    for sym, word in _SYMBOLS.items():
        text = text.replace(sym, word)
    text = re.sub(r"[<>\[\]{}|\\^`*_]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


_RE_SENTENCE = re.compile(r"(?<=[.!?。！？؟])[\"')\]]*\s+|(?<=[。！？])")


_NOT_AN_END = frozenset(a for a in _ABBREVIATIONS if a.endswith(".") and a != "etc.")


def split_sentences(text: str) -> list[str]:
    """Split at sentence ends (., !, ?, and their CJK/Arabic forms); never returns blanks.

    A full stop that closes a title or abbreviation ("Dr.", "e.g.") or an initial ("J.")
    does not end the sentence.
    """
    out: list[str] = []
    for piece in (s.strip() for s in _RE_SENTENCE.split(text) if s and s.strip()):
        if out and _ends_with_abbreviation(out[-1]):
            out[-1] += " " + piece
        else:
            out.append(piece)
    return out


_RE_CLAUSE = re.compile(r"(?<=[,;:、，；])\s+")


def split_clauses(sentence: str) -> list[str]:
    """Split a sentence after commas, semicolons and colons; never returns blanks."""
    return [c.strip() for c in _RE_CLAUSE.split(sentence) if c.strip()]


def _ends_with_abbreviation(sentence: str) -> bool:
    last = sentence.rsplit(None, 1)[-1].lower()
    return last in _NOT_AN_END or (len(last) == 2 and last[0].isalpha() and last[1] == ".")


def detect_language(text: str) -> str:
    """An espeak-ng voice for the script most letters of ``text`` are written in."""
    counts: dict[str, int] = {}
    for ch in text:
        if not ch.isalpha():
            continue
        name = unicodedata.name(ch, "")
        for script, voice in _SCRIPTS:
            if name.startswith(script) or (script == "CJK" and "IDEOGRAPH" in name):
                counts[voice] = counts.get(voice, 0) + 1
                break
        else:
            counts["en"] = counts.get("en", 0) + 1
    if not counts:
        return "en"
    if counts.get("ja") and counts.get("cmn"):  # kana alongside kanji is Japanese
        counts["ja"] += counts.pop("cmn")
    return max(counts, key=lambda k: counts[k])
