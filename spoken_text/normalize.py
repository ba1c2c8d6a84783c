"""Make a script speakable: numbers, money, dates, abbreviations, symbols; drop emoji.

English, French, German, Spanish, Italian, Portuguese (Brazilian spelling) and Dutch have
their own rules: numbers in words (with each language's grammar, decimal comma and thousands
separators), money, percentages, dates, times, ordinals, abbreviations and symbols. Other
languages only get symbol, emoji and control-character cleaning (espeak-ng reads their
numbers itself). :func:`detect_language` tells the script's language: by its alphabet, and
for the Latin one by its function words and letters. Nothing here may raise on any input.

English's cost grows faster than the text on hostile input (a long run of digits is rescanned
from each of its digits): about 50 ms for 1,000 such characters, 1.3 s for 5,000. The other
six languages' rules stay linear (about 20 ms for 5,000 such characters, 200 ms for 50,000).
Callers bound the typed length before normalising (``engine.pipeline.check_script``, the
bot's script check).
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


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


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


def _clean(text: str, dash: str = " to ") -> str:
    """NFKC, emoji and control characters out, curly quotes straight; ``dash``: what an en
    dash becomes."""
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
        .replace("\u2013", dash)
    )
    return text


def _expander(full: str) -> Callable[[re.Match[str]], str]:
    """Replacement that keeps a capitalised abbreviation capitalised ("Dr." -> "Doctor")."""
    return lambda m: full.capitalize() if m.group(0)[0].isupper() else full


def normalize_text(text: str, lang: str = "en") -> str:
    """Return ``text`` made speakable for espeak-ng / phonemisation in ``lang``.

    English, French, German, Spanish, Italian, Portuguese and Dutch (a code, or an espeak-ng
    voice such as "fr-fr" or "pt-br") get their own rules; other languages only symbol, emoji
    and control-character cleaning."""
    rules = None if lang.startswith("en") else _RULES.get(re.split(r"[-_]", lang.lower())[0])
    if rules is not None:
        return rules.normalize(text)
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
#: per language, what a full stop closes without ending the sentence (lower case; "etc.",
#: "usw.", "enz." and "ecc." often end one, so they do not stop a split)
_NOT_AN_END_BY_LANG = {
    "en": _NOT_AN_END,
    "fr": _set("dr. pr. env. av. tél. cf. c.-à-d. p.ex."),
    "de": _set(
        "z.b. d.h. u.a. bzw. ca. dr. prof. hr. fr. nr. str. st. inkl. evtl. ggf. vgl. mio. "
        "mrd. tel."
    ),
    "es": _set(
        "sr. sres. sra. srta. dr. dra. prof. ud. uds. vd. dña. p.ej. aprox. núm. pág. avda. "
        "av. tel. ee."
    ),
    "it": _set("sig. sigg. dott. prof. ing. avv. pag. tel. ca. p.es."),
    "pt": _set("sr. srs. sra. srta. dr. dra. prof. profa. aprox. pág. av. tel. p.ex."),
    "nl": _set("dhr. mevr. mw. bijv. bv. ca. d.w.z. o.a. i.p.v. m.b.t. dr. prof. nr. zgn. blz."),
}
_NOT_AN_END_ANY = frozenset().union(*_NOT_AN_END_BY_LANG.values())
#: abbreviations of two words whose last word alone is not one ("p. ex.", "ad es.")
_RE_TWO_WORD_END = re.compile(r"(?:^|\s)(?:p\.\s?(?:ex|ej|es)|ad es)\.$", re.I)
_RE_GERMAN_DAY_END = re.compile(r"(?:^|\s)\d{1,2}\.$")
_RE_GERMAN_MONTH_START = re.compile(
    r"(?:Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember)\b"
)


def split_sentences(text: str, lang: str | None = None) -> list[str]:
    """Split at sentence ends (., !, ?, and their CJK/Arabic forms); never returns blanks.

    A full stop that closes a title or abbreviation ("Dr.", "e.g.", "z. B.", "Sra.") or an
    initial ("J.") does not end the sentence, nor does a German date's ("am 3. Mai").
    ``lang`` (a code): English's abbreviations and that language's; None: every language's.
    """
    code = re.split(r"[-_]", lang.lower())[0] if lang else None
    ends = _NOT_AN_END_ANY if code is None else _NOT_AN_END | _NOT_AN_END_BY_LANG.get(code, set())
    german = code in (None, "de")
    out: list[str] = []
    for piece in (s.strip() for s in _RE_SENTENCE.split(text) if s and s.strip()):
        if out and (
            _ends_with_abbreviation(out[-1], ends)
            or german
            and _RE_GERMAN_DAY_END.search(out[-1])
            and _RE_GERMAN_MONTH_START.match(piece)
        ):
            out[-1] += " " + piece
        else:
            out.append(piece)
    return out


_RE_CLAUSE = re.compile(r"(?<=[,;:、，；])\s+")


def split_clauses(sentence: str) -> list[str]:
    """Split a sentence after commas, semicolons and colons; never returns blanks."""
    return [c.strip() for c in _RE_CLAUSE.split(sentence) if c.strip()]


def _ends_with_abbreviation(sentence: str, ends: frozenset[str] = _NOT_AN_END) -> bool:
    last = sentence.rsplit(None, 1)[-1].lower()
    if last in ends or (len(last) == 2 and last[0].isalpha() and last[1] == "."):
        return True
    return ends is not _NOT_AN_END and bool(_RE_TWO_WORD_END.search(sentence))


def detect_language(text: str) -> str:
    """An espeak-ng voice for the script most letters of ``text`` are written in; for the
    Latin script, which of en, fr, de, es, it, pt and nl its words and letters say ("en"
    when the evidence is weak or tied: a short text, names only)."""
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
    voice = max(counts, key=lambda k: counts[k])
    return _latin_language(text) if voice == "en" else voice


# ----------------------------------------------------------------------------------------------
# French, German, Spanish, Italian, Portuguese (Brazilian spelling) and Dutch.
#
# Cost: every pattern that reads a number may start only where a run of digits starts (not
# inside one, and not just after "digit + separator": (?<!\d)(?<!\d[ .,])), so each pattern
# scans a run of digits and separators a bounded number of times and the cost stays linear in
# the text. Numbers longer than 15 digits are read digit by digit (no int() of a long run).
# ----------------------------------------------------------------------------------------------

#: numbers longer than this are read digit by digit in the languages below
_MAX_WHOLE = 15
#: where a number may start: at the start of a run of digits, not inside "1.000" or "1 000"
_START = r"(?<!\d)(?<!\d[ .,])"
_RE_DIGIT_RUN = re.compile(r"(?<!\d)\d+")
_RE_URL_LINEAR = re.compile(
    r"\bhttps?://([^\s/]+?)\.?(?=[\s/]|$)\S*|\bwww\.(\S+?)(?=[.,;:!?]?(?:\s|$))", re.I
)
_RE_EMAIL_LINEAR = re.compile(r"(?<![\w.+-])([\w.+-]+)@([\w-]+)\.([\w.]+)\b")
_RE_DEGREE_ORDINAL = re.compile(r"(?<![\w.,])(?P<n>\d{1,3})°(?=\s[^\W\d_])")
_RE_NEXT_WORD = re.compile(r"\s([^\W\d_]{2,})")
_QUOTES = str.maketrans({"«": '"', "»": '"', "„": '"', "‟": '"', "‹": '"', "›": '"'})
_CURRENCY_SIGNS = r"R\$|[€$£¥]"

#: (one, many, sub-unit one, sub-unit many, feminine) per currency sign
_Currency = tuple[str, str, str, str, bool]


def _last_word_index(words: str) -> int:
    return max(words.rfind(" "), words.rfind("-")) + 1


class _Lang:
    """How one language says numbers, money, dates, times, abbreviations and symbols.

    Subclasses give the words; this class holds the patterns and the order they run in.
    """

    code = ""
    digits: tuple[str, ...] = ()
    minus = ""
    point = ""  # the decimal comma, said
    whole_fraction = True  # "3,14": "… fourteen" (False: digit by digit, as German says it)
    number_word = ""  # "#5", "n° 5"
    to = ""  # "10–12"
    dot = ""  # in web and e-mail addresses
    at = ""
    group = r"\."  # the thousands separator (a regex)
    months: tuple[str, ...] = ()
    month_link = ""  # "1 de mayo"
    currencies: dict[str, _Currency] = {}
    money_link = ""  # between the units and the cents
    name_cents = False  # "cinco reais e cinquenta centavos"
    scale_link = ""  # "un million d'euros", "un millón de euros"
    time_words = ""  # a word after a time that its reading already says ("Uhr")
    abbreviations: dict[str, str] = {}
    titles: tuple[tuple[str, str], ...] = ()  # (pattern, words): abbreviations seen in context
    symbols: tuple[tuple[str, str], ...] = ()
    feminine_indicator = False  # "1.º", "1.ª" (Spanish, Portuguese, Italian)
    areas: tuple[str, str, str] = ("", "", "")  # m², km², m³
    #: articles before "2°" that make it an ordinal ("il 2° piano"), masculine and feminine
    articles: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())

    def __init__(self) -> None:
        g = self.group
        num = rf"\d{{1,3}}(?:{g}\d{{3}})+(?!\d)(?:,\d+)?|\d+(?:,\d+)?"
        money = rf"\d{{1,3}}(?:{g}\d{{3}})+(?!\d)(?:,\d{{1,2}})?(?!\d)|\d+(?:[,.]\d{{1,2}})?(?!\d)"
        neg = r"(?P<neg>(?<![\w.,])[-\u2212])?"
        cur = _CURRENCY_SIGNS
        self.re_money = re.compile(
            rf"{neg}(?:(?P<pre>{cur})\s?(?P<a>{money})"
            rf"|{_START}(?P<b>{money})\s?(?P<post>{cur})(?P<c>\d{{2}}(?!\d))?)"
        )
        self.re_number = re.compile(rf"{neg}{_START}(?P<num>{num})")
        months = "|".join(self.months)
        self.re_months = rf"(?i:{months})\b"
        self.re_date = re.compile(
            r"(?<![\d.,/-])(?:(?P<d>\d{1,2})(?P<s>[./-])(?P<m>\d{1,2})(?P=s)(?P<y>\d{4})"
            r"|(?P<Y>\d{4})-(?P<M>\d{1,2})-(?P<D>\d{1,2}))(?!\d|[./-]\d)"
        )
        unit = rf"(?:\s?(?:{self.time_words})\b)?" if self.time_words else ""
        self.re_time = re.compile(
            rf"(?<![\d.,:])(?P<h>\d{{1,2}})(?::(?P<m>\d{{2}})(?![\d:]){unit}{self.time_extra()})"
        )
        self.re_hash = re.compile(r"#(?=\s?\d)")
        self.re_range = re.compile(r"(?<=\d)\s?\u2013\s?(?=\d)")
        self.re_number_sign = re.compile(r"(?<![^\W\d_])[nN]\.?\s?[º°](?!\w)")
        self.re_area = re.compile(r"(?<![^\W\d_])(k?m)([²³])(?!\w)")
        self.re_indicator = re.compile(r"(?<!\w)(?P<n>\d{1,6})\.?(?P<i>[ºª])")
        self.re_abbreviation = _abbreviation_pattern(self.abbreviations)
        self.re_titles = tuple((re.compile(p), w) for p, w in self.titles)

    # -- numbers ------------------------------------------------------------------------------

    def cardinal(self, n: int, feminine: bool = False) -> str:
        raise NotImplementedError

    def ordinal(self, n: int, feminine: bool = False) -> str:
        raise NotImplementedError

    def before_noun(self, n: int, feminine: bool = False) -> str:
        """``n`` said before a noun ("un euro", "ein Euro")."""
        return self.cardinal(n, feminine)

    def year(self, n: int) -> str:
        return self.cardinal(n)

    def counting(self, n: int, noun: str) -> str:
        """``n`` said before the word ``noun``: the agreement each language makes ("une
        heure", "veintiún años", "duas horas", "eine Woche"), guessed from the noun's ending."""
        return self.cardinal(n)

    def spell(self, digits: str) -> str:
        return " ".join(self.digits[int(d)] for d in digits if d.isdigit())

    def integer(self, digits: str, feminine: bool = False) -> str:
        """Words for a run of digits (digit by digit when longer than 15)."""
        if len(digits) > _MAX_WHOLE:
            return self.spell(digits)
        return self.cardinal(int(digits or "0"), feminine)

    def fraction(self, digits: str) -> str:
        """What follows the decimal comma: "05" -> "zero five", "14" -> "fourteen"."""
        if not self.whole_fraction or len(digits) > 3:
            return self.spell(digits)
        rest = digits.lstrip("0")
        zeros = [self.digits[0]] * (len(digits) - len(rest))
        return " ".join([*zeros, self.cardinal(int(rest))] if rest else zeros)

    def decimal(self, whole: str, frac: str | None) -> str:
        out = self.integer(whole)
        return f"{out} {self.point} {self.fraction(frac)}" if frac is not None else out

    # -- dates and times ----------------------------------------------------------------------

    def day(self, n: int, before: str) -> str:
        return self.cardinal(n)

    def date(self, day: int, month: int, year: int, before: str) -> str:
        link = f" {self.month_link} " if self.month_link else " "
        return f"{self.day(day, before)}{link}{self.months[month - 1]}{link}{self.year(year)}"

    def time(self, hour: int, minute: int) -> str:
        raise NotImplementedError

    def time_extra(self) -> str:
        """More ways of writing a time: a regex alternative after the hour, its minutes in a
        group ``m2`` ("14h30")."""
        return ""

    # -- money --------------------------------------------------------------------------------

    def singular(self, value: int) -> bool:
        return value == 1

    def money(self, whole: str, cents: int, sign: str) -> str:
        one, many, sub_one, sub_many, feminine = self.currencies[sign]
        long = len(whole) > _MAX_WHOLE
        value = 0 if long else int(whole or "0")
        if cents and not value and not long:
            return f"{self.before_noun(cents)} {sub_one if cents == 1 else sub_many}"
        amount = self.spell(whole) if long else self.before_noun(value, feminine)
        unit = one if not long and self.singular(value) else many
        if self.scale_link and value >= 10**6 and value % 10**6 == 0:
            unit = self.link(unit)
        out = f"{amount} {unit}"
        if cents:
            link = f" {self.money_link}" if self.money_link else ""
            named = self.name_cents or cents == 1
            tail = f" {sub_one if cents == 1 else sub_many}" if named else ""
            said = self.before_noun(cents) if named else self.cardinal(cents)
            out += f"{link} {said}{tail}"
        return out

    def link(self, unit: str) -> str:
        return f"{self.scale_link} {unit}"

    # -- the passes ---------------------------------------------------------------------------

    def before_clean(self, text: str) -> str:
        """Rewrites that must see the text before NFKC (which makes "º" an "o")."""
        text = self.re_number_sign.sub(f" {self.number_word} ", text)
        text = self.re_area.sub(self._area, text)
        if self.feminine_indicator:
            text = self.re_indicator.sub(
                lambda m: _pad(m, self.ordinal(int(m["n"]), m["i"] == "ª")), text
            )
        text = self.re_range.sub(f" {self.to} ", text)
        return text

    def ordinals(self, text: str) -> str:
        """Ordinals written as such ("1er", "2e", "3. Mai"), and "1" before a month name."""
        return text

    def ordinal_number(self) -> str:
        """A regex for the number of an ordinal: up to 15 digits, thousands grouped or not."""
        return rf"\d{{1,3}}(?:{self.group}\d{{3}}){{1,4}}(?!\d)|\d{{1,9}}(?!\d)"

    def degree_ordinals(self, text: str) -> str:
        """An ordinal written with a degree sign after an article ("il 2° piano")."""
        masculine, feminine = self.articles

        def said(m: re.Match[str]) -> str:
            before = _word_before(m)
            if before not in masculine and before not in feminine:
                return m[0]
            return _pad(m, self.ordinal(int(m["n"]), before in feminine))

        return _RE_DEGREE_ORDINAL.sub(said, text)

    def _area(self, m: re.Match[str]) -> str:
        index = 2 if m[2] == "³" else 1 if m[1] == "km" else 0
        return f" {self.areas[index]} " if m[1] == "m" or index == 1 else m[0]

    def normalize(self, text: str) -> str:
        text = _clean(self.before_clean(text), dash=", ").translate(_QUOTES)
        dot = f" {self.dot} "
        text = _RE_URL_LINEAR.sub(lambda m: " " + (m[1] or m[2] or "").replace(".", dot), text)
        text = _RE_EMAIL_LINEAR.sub(
            lambda m: f"{m[1].replace('.', dot)} {self.at} {m[2]}{dot}{m[3].replace('.', dot)}",
            text,
        )
        text = self.re_hash.sub(f" {self.number_word} ", text)
        text = self.re_date.sub(self._date, text)
        text = self.re_time.sub(self._time, text)
        text = self.degree_ordinals(self.ordinals(text))
        text = self.re_money.sub(self._money, text)
        text = self.re_number.sub(self._number, text)
        text = _RE_DIGIT_RUN.sub(lambda m: _pad(m, self.integer(m[0])), text)
        text = self.re_abbreviation.sub(self._abbreviation, text)
        for pattern, words in self.re_titles:
            text = pattern.sub(words, text)
        for sign, words in self.symbols:
            text = text.replace(sign, f" {words} ")
        text = re.sub(r"[<>\[\]{}|\\^`*_]", " ", text)
        return re.sub(r"\s+([.,](?!\d))", r"\1", re.sub(r"\s+", " ", text)).strip()

    def _date(self, m: re.Match[str]) -> str:
        day, month, year = (m["d"], m["m"], m["y"]) if m["d"] else (m["D"], m["M"], m["Y"])
        if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
            return m[0]
        return _pad(m, self.date(int(day), int(month), int(year), _word_before(m)))

    def _time(self, m: re.Match[str]) -> str:
        hour = int(m["h"])
        minute = m["m"] or m.groupdict().get("m2") or "0"
        if hour > 23 or int(minute) > 59:
            return m[0]
        return _pad(m, self.time(hour, int(minute)))

    def _money(self, m: re.Match[str]) -> str:
        amount, sign = (m["a"], m["pre"]) if m["pre"] else (m["b"], m["post"])
        tail = re.search(r"[,.](\d{1,2})$", amount)  # groups of thousands have three digits
        cents = tail[1] if tail else (m["c"] or "")
        whole = re.sub(r"\D", "", amount[: tail.start()] if tail else amount)
        words = self.money(whole, int(cents.ljust(2, "0")) if cents else 0, sign)
        return _pad(m, f"{self.minus} {words}" if m["neg"] else words)

    def _number(self, m: re.Match[str]) -> str:
        num = m["num"]
        whole, comma, frac = num.partition(",")
        noun = _RE_NEXT_WORD.match(m.string, m.end())
        counts = noun is not None and not comma and noun[1].lower() not in _STOP
        if len(num) == 4 and num.isdigit() and not m["neg"]:
            value = int(num)  # a year, unless it counts something and reads the same
            if not counts or self.year(value) != self.cardinal(value):
                return _pad(m, self.year(value))
        digits = re.sub(r"\D", "", whole)
        if noun is not None and counts and len(digits) <= _MAX_WHOLE:
            words = self.counting(int(digits), noun[1])
            return _pad(m, f"{self.minus} {words}" if m["neg"] else words)
        words = self.decimal(digits, frac if comma else None)
        return _pad(m, f"{self.minus} {words}" if m["neg"] else words)

    def _abbreviation(self, m: re.Match[str]) -> str:
        key = re.sub(r"\.\s+", ".", re.sub(r"\s+", " ", m[0]))
        words = self.abbreviations.get(key)
        if words is None or _opens(m.string, m.start()):  # capitalised as written
            words = words or self.abbreviations.get(key[0].lower() + key[1:], key)
            words = words[0].upper() + words[1:] if key[0].isupper() else words
        return words + ("." if m.end() == len(m.string) and key.endswith(".") else "")


def _pad(m: re.Match[str], words: str) -> str:
    """``words`` for what ``m`` matched, kept apart from letters it was written against."""
    text = m.string
    before = " " if m.start() and text[m.start() - 1].isalnum() else ""
    after = " " if m.end() < len(text) and text[m.end()].isalnum() else ""
    return before + words + after


def _opens(text: str, start: int) -> bool:
    """Whether ``start`` opens a sentence: nothing but spaces, quotes or brackets before it,
    or those after a sentence's end (a bounded look back)."""
    before = text[max(0, start - 8) : start].rstrip(" \t\n\"'«(")
    return not before or before[-1] in ".!?¿¡:"


def _word_before(m: re.Match[str]) -> str:
    found = re.search(r"(\w+)\W*$", m.string[max(0, m.start() - 12) : m.start()])
    return found[1].lower() if found else ""


def _abbreviation_pattern(table: dict[str, str]) -> re.Pattern[str]:
    """One pattern for the keys of ``table``: "z.B." also as "z. B." and "Z. B."."""
    alternatives = []
    for key in sorted(table, key=len, reverse=True):
        body = "".join(
            re.escape(ch) + (r"\s?" if ch == "." and i < len(key) - 1 else "")
            for i, ch in enumerate(key)
        ).replace(r"\ ", r"\s")
        if key[0].islower():
            body = f"[{key[0]}{key[0].upper()}]" + body[len(re.escape(key[0])) :]
        alternatives.append(body)
    if not alternatives:
        return re.compile(r"(?!)")
    return re.compile(rf"(?<![\w.])(?:{'|'.join(alternatives)})(?!\w)")


_UPPER = "A-ZÀ-ÖØ-Ý"  # a capital letter (a name follows a title)

# -- French ------------------------------------------------------------------------------------

_FR_SMALL = (
    *("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix"),
    *("onze", "douze", "treize", "quatorze", "quinze", "seize", "dix-sept", "dix-huit"),
    "dix-neuf",
)
_FR_TENS = ("", "", "vingt", "trente", "quarante", "cinquante", "soixante")
_FR_SCALES = ((10**12, "billion"), (10**9, "milliard"), (10**6, "million"))
_FR_ROMAN = r"(?=[IVX])(?P<r>X{0,3}(?:IX|IV|V?I{0,3}))"


def _fr_below_100(n: int) -> str:
    if n < 20:
        return _FR_SMALL[n]
    tens, ones = divmod(n, 10)
    if tens in (7, 9):  # soixante-dix, quatre-vingt-dix: 60 or 80 and ten to nineteen
        base = "soixante" if tens == 7 else "quatre-vingt"
        return "soixante et onze" if n == 71 else f"{base}-{_FR_SMALL[10 + ones]}"
    if tens == 8:
        return f"quatre-vingt-{_FR_SMALL[ones]}" if ones else "quatre-vingts"
    if ones == 1:
        return f"{_FR_TENS[tens]} et un"
    return _FR_TENS[tens] + (f"-{_FR_SMALL[ones]}" if ones else "")


def _fr_below_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    if not hundreds:
        return _fr_below_100(rest)
    head = "cent" if hundreds == 1 else f"{_FR_SMALL[hundreds]} cent" + ("" if rest else "s")
    return f"{head} {_fr_below_100(rest)}" if rest else head


#: French nouns whose gender their ending does not tell, often counted
_FR_FEMININE = _set(
    "fois heure minute seconde semaine nuit personne fille femme mère sœur page chose place "
    "maison ville voiture photo vidéo langue classe chambre fleur porte table main voix clé "
    "bouteille tasse pomme équipe histoire étoile image lettre"
)
_FR_FEMININE_ENDINGS = ("tion", "sion", "té", "ette", "ence", "ance", "ure", "ée", "ie", "ade")
_FR_MASCULINE = _set("musée lycée incendie génie parapluie")


def _fr_feminine(noun: str) -> bool:
    word = noun.lower()
    if word in _FR_FEMININE:
        return True
    word = word[:-1] if word.endswith(("s", "x")) and len(word) > 3 else word
    if word in _FR_MASCULINE:
        return False
    return word in _FR_FEMININE or word.endswith(_FR_FEMININE_ENDINGS)


def _roman(text: str) -> int:
    values = {"I": 1, "V": 5, "X": 10}
    total = 0
    for i, ch in enumerate(text):
        value = values[ch]
        total += -value if i + 1 < len(text) and values[text[i + 1]] > value else value
    return total


class _French(_Lang):
    code = "fr"
    digits = _FR_SMALL[:10]
    minus, point, number_word, to, dot, at = "moins", "virgule", "numéro", "à", "point", "arobase"
    group = "[ .]"  # "1 000", "1.000"; NFKC made the no-break spaces ("1 000") plain ones
    months = (
        *("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août"),
        *("septembre", "octobre", "novembre", "décembre"),
    )
    currencies = {
        "€": ("euro", "euros", "centime", "centimes", False),
        "$": ("dollar", "dollars", "cent", "cents", False),
        "£": ("livre", "livres", "penny", "pence", True),
        "¥": ("yen", "yens", "sen", "sen", False),
        "R$": ("réal", "réaux", "centavo", "centavos", False),
    }
    scale_link = "de"
    areas = ("mètres carrés", "kilomètres carrés", "mètres cubes")
    abbreviations = {
        "Mme": "Madame",
        "Mmes": "Mesdames",
        "Mlle": "Mademoiselle",
        "Mlles": "Mesdemoiselles",
        "Dr": "Docteur",
        "Dr.": "Docteur",
        "Pr": "Professeur",
        "Pr.": "Professeur",
        "Mgr": "Monseigneur",
        "St": "Saint",
        "Ste": "Sainte",
        "etc.": "et cetera",
        "p.ex.": "par exemple",
        "c.-à-d.": "c'est-à-dire",
        "env.": "environ",
        "av.": "avenue",
        "bd": "boulevard",
        "tél.": "téléphone",
        "cf.": "confer",
        "svp": "s'il vous plaît",
        "km/h": "kilomètres heure",
        "km": "kilomètres",
        "kg": "kilos",
    }
    titles = (
        (rf"\bMM\.(?=\s?[{_UPPER}])", "Messieurs"),
        (rf"\bM\.(?=\s?[{_UPPER}])", "Monsieur"),
    )
    symbols = (
        ("°C", "degrés Celsius"),
        ("°F", "degrés Fahrenheit"),
        ("&", "et"),
        ("@", "arobase"),
        ("%", "pour cent"),
        ("+", "plus"),
        ("=", "égale"),
        ("°", "degrés"),
        ("×", "fois"),
        ("~", "environ"),
        ("/", " "),
        ("#", "hashtag"),
        ("€", "euros"),
        ("$", "dollars"),
        ("£", "livres"),
    )

    def __init__(self) -> None:
        super().__init__()
        suffix = r"(?P<s>ers|er|res|re|ères|ère|èmes|ème|emes|eme|es|e|è|nds|nd|ndes|nde)"
        self.re_ordinal = re.compile(
            rf"(?<![\w.,]){_START}(?P<n>{self.ordinal_number()}){suffix}(?!\w)"
        )
        self.re_roman = re.compile(rf"(?<![\w-]){_FR_ROMAN}(?P<s>er|re|ère|ème|e|es)(?!\w)")
        self.re_first = re.compile(rf"(?<![\d.,])1(?=\s+{self.re_months})")

    def cardinal(self, n: int, feminine: bool = False) -> str:
        if n == 0:
            return "zéro"
        parts = []
        for value, name in _FR_SCALES:
            high, n = divmod(n, value)
            if high:
                parts.append(f"{self.cardinal(high)} {name}" + ("s" if high > 1 else ""))
        high, n = divmod(n, 1000)
        if high:  # "mille" never takes a plural, nor do "cents" and "vingts" before it
            words = self.cardinal(high)
            parts.append(
                "mille" if high == 1 else re.sub(r"(cent|vingt)s$", r"\1", words) + " mille"
            )
        if n:
            parts.append(_fr_below_1000(n))
        words = " ".join(parts)
        if feminine and words.endswith("un") and _last_word_index(words) == len(words) - 2:
            words += "e"
        return words

    def ordinal(self, n: int, feminine: bool = False) -> str:
        if n == 1:
            return "première" if feminine else "premier"
        words = self.cardinal(n)
        if n >= 10**6 and words.startswith("un "):  # "millionième"
            words = words[3:]
        cut = _last_word_index(words)
        head, last = words[:cut], words[cut:]
        last = (
            last[:-1] if last in ("vingts", "cents", "millions", "milliards", "billions") else last
        )
        if last == "cinq":
            last = "cinquième"
        elif last == "neuf":
            last = "neuvième"
        else:
            last = last.removesuffix("e") + "ième"
        return head + last

    def counting(self, n: int, noun: str) -> str:
        return self.cardinal(n, _fr_feminine(noun))

    def singular(self, value: int) -> bool:
        return value < 2

    def link(self, unit: str) -> str:
        return f"d'{unit}" if unit[0] in "aeiouyéh" else f"de {unit}"

    def day(self, n: int, before: str) -> str:
        return "premier" if n == 1 else self.cardinal(n)

    def time(self, hour: int, minute: int) -> str:
        out = f"{self.cardinal(hour, True)} heure" + ("s" if hour > 1 else "")
        return f"{out} {self.cardinal(minute, True)}" if minute else out

    def time_extra(self) -> str:
        return r"|\s?h(?:\s?(?P<m2>\d{2}))?(?![\w:])"

    def ordinals(self, text: str) -> str:
        text = self.re_ordinal.sub(self._ordinal, text)
        text = self.re_roman.sub(
            lambda m: _pad(m, self._said(_roman(m["r"]), m["s"])) if m["r"] else m[0], text
        )
        return self.re_first.sub("premier", text)

    def _ordinal(self, m: re.Match[str]) -> str:
        return _pad(m, self._said(int(re.sub(r"\D", "", m["n"])), m["s"]))

    def _said(self, n: int, suffix: str) -> str:
        plural = "s" if suffix.endswith("s") else ""
        if suffix.startswith("nd"):
            return ("seconde" if "e" in suffix else "second") + plural
        return self.ordinal(n, feminine=suffix.startswith(("re", "ère", "res"))) + plural


# -- German ------------------------------------------------------------------------------------

_DE_SMALL = (
    *("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"),
    *("zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn"),
    *("achtzehn", "neunzehn"),
)
_DE_TENS = (
    *("", "", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig"),
    "neunzig",
)
_DE_SCALES = (
    (10**12, "Billion", "Billionen"),
    (10**9, "Milliarde", "Milliarden"),
    (10**6, "Million", "Millionen"),
)
_DE_ORDINAL = {1: "erste", 3: "dritte", 7: "siebte", 8: "achte"}
#: the word before a date decides its ending: "der dritte Mai", "am dritten Mai", "dritter Mai"
_DE_WEAK = frozenset({"der", "die", "das"})
_DE_DATIVE = frozenset({"am", "vom", "zum", "im", "beim", "den", "dem", "des", "ab", "bis", "seit"})


def _de_below_100(n: int) -> str:
    if n < 20:
        return _DE_SMALL[n]
    tens, ones = divmod(n, 10)
    if not ones:
        return _DE_TENS[tens]
    return ("ein" if ones == 1 else _DE_SMALL[ones]) + "und" + _DE_TENS[tens]


def _de_below_1000(n: int, leading: bool) -> str:
    """``n`` < 1000; ``leading``: it starts the number ("hundert", not "einhundert")."""
    hundreds, rest = divmod(n, 100)
    head = ""
    if hundreds:
        head = ("" if leading else "ein") if hundreds == 1 else _DE_SMALL[hundreds]
        head += "hundert"
    return head + (_de_below_100(rest) if rest else "")


_DE_FEMININE = _set("Frau Nacht Stadt Zeit Welt Hand Person Uhr Tür Maus Kuh")
_DE_FEMININE_ENDINGS = ("e", "ung", "heit", "keit", "schaft", "ion", "tät", "ei", "ik", "in")
_DE_MASCULINE = _set("Name Junge Käse Kunde Kollege Affe Löwe Hase Gedanke Euro")


def _de_feminine(noun: str) -> bool:
    if noun in _DE_MASCULINE or noun.endswith(("chen", "lein")):
        return False
    return noun in _DE_FEMININE or noun.endswith(_DE_FEMININE_ENDINGS)


def _de_ein(words: str) -> str:
    """ "eins" becomes "ein" before a noun or "tausend" ("einundzwanzig" stays)."""
    return words[:-1] if words.endswith("eins") else words


class _German(_Lang):
    code = "de"
    digits = _DE_SMALL[:10]
    minus, point, number_word, to, dot, at = "minus", "Komma", "Nummer", "bis", "Punkt", "ät"
    whole_fraction = False
    months = (
        *("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September"),
        *("Oktober", "November", "Dezember"),
    )
    currencies = {
        "€": ("Euro", "Euro", "Cent", "Cent", False),
        "$": ("Dollar", "Dollar", "Cent", "Cent", False),
        "£": ("Pfund", "Pfund", "Penny", "Pence", False),
        "¥": ("Yen", "Yen", "Sen", "Sen", False),
        "R$": ("Real", "Real", "Centavo", "Centavos", False),
    }
    time_words = "Uhr"
    areas = ("Quadratmeter", "Quadratkilometer", "Kubikmeter")
    abbreviations = {
        "z.B.": "zum Beispiel",
        "d.h.": "das heißt",
        "u.a.": "unter anderem",
        "usw.": "und so weiter",
        "bzw.": "beziehungsweise",
        "ca.": "circa",
        "Dr.": "Doktor",
        "Prof.": "Professor",
        "Hr.": "Herr",
        "Nr.": "Nummer",
        "Str.": "Straße",
        "St.": "Sankt",
        "inkl.": "inklusive",
        "evtl.": "eventuell",
        "ggf.": "gegebenenfalls",
        "vgl.": "vergleiche",
        "Mio.": "Millionen",
        "Mrd.": "Milliarden",
        "Tel.": "Telefon",
        "km/h": "Kilometer pro Stunde",
        "km": "Kilometer",
        "kg": "Kilogramm",
    }
    titles = ((rf"\bFr\.(?=\s?[{_UPPER}])", "Frau"),)
    symbols = (
        ("°C", "Grad Celsius"),
        ("°F", "Grad Fahrenheit"),
        ("&", "und"),
        ("@", "ät"),
        ("%", "Prozent"),
        ("+", "plus"),
        ("=", "gleich"),
        ("°", "Grad"),
        ("×", "mal"),
        ("~", "etwa"),
        ("/", " "),
        ("#", "Hashtag"),
        ("€", "Euro"),
        ("$", "Dollar"),
        ("£", "Pfund"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.re_day = re.compile(rf"(?<![\d.,])(?P<d>\d{{1,2}})\.(?=\s?{self.re_months})")
        self.re_one_oclock = re.compile(r"(?<![\d.,])1(?=\s?Uhr\b)")

    def cardinal(self, n: int, feminine: bool = False) -> str:
        if n == 0:
            return "null"
        parts = []
        for value, one, many in _DE_SCALES:
            high, n = divmod(n, value)
            if high:
                parts.append(f"eine {one}" if high == 1 else f"{self.cardinal(high)} {many}")
        if n:
            high, low = divmod(n, 1000)
            words = ""
            if high:
                words = ("" if high == 1 else _de_ein(_de_below_1000(high, True))) + "tausend"
            parts.append(words + (_de_below_1000(low, not high) if low else ""))
        return " ".join(parts)

    def before_noun(self, n: int, feminine: bool = False) -> str:
        return _de_ein(self.cardinal(n))

    def counting(self, n: int, noun: str) -> str:
        if n != 1 or not noun[0].isupper():  # a German noun is capitalised
            return self.cardinal(n)
        return "eine" if _de_feminine(noun) else "ein"

    def ordinal(self, n: int, feminine: bool = False) -> str:
        """The weak form ("dritte"); dates add "n" or "r"."""
        low = n % 100
        if 1 <= low <= 19:
            head = self.cardinal(n - low) if n > low else ""
            return head + _DE_ORDINAL.get(low, _DE_SMALL[low] + "te")
        return self.cardinal(n) + "ste"

    def year(self, n: int) -> str:
        if 1100 <= n < 2000:  # "neunzehnhundertneunundneunzig"
            high, low = divmod(n, 100)
            return _de_below_100(high) + "hundert" + (_de_below_100(low) if low else "")
        return self.cardinal(n)

    def day(self, n: int, before: str) -> str:
        ending = "" if before in _DE_WEAK else "n" if before in _DE_DATIVE else "r"
        return self.ordinal(n) + ending

    def time(self, hour: int, minute: int) -> str:
        out = f"{_de_ein(self.cardinal(hour))} Uhr"
        return f"{out} {self.cardinal(minute)}" if minute else out

    def time_extra(self) -> str:
        return r"|\.(?P<m2>\d{2})(?=\s?Uhr\b)\s?Uhr\b"

    def ordinals(self, text: str) -> str:
        text = self.re_day.sub(lambda m: _pad(m, self.day(int(m["d"]), _word_before(m))), text)
        return self.re_one_oclock.sub("ein", text)


# -- Dutch -------------------------------------------------------------------------------------

_NL_SMALL = (
    *("nul", "een", "twee", "drie", "vier", "vijf", "zes", "zeven", "acht", "negen", "tien"),
    *("elf", "twaalf", "dertien", "veertien", "vijftien", "zestien", "zeventien", "achttien"),
    "negentien",
)
_NL_TENS = (
    *("", "", "twintig", "dertig", "veertig", "vijftig", "zestig", "zeventig", "tachtig"),
    "negentig",
)
_NL_SCALES = ((10**12, "biljoen"), (10**9, "miljard"), (10**6, "miljoen"))
_NL_ORDINAL = {1: "eerste", 3: "derde", 8: "achtste"}


def _nl_below_100(n: int) -> str:
    if n < 20:
        return _NL_SMALL[n]
    tens, ones = divmod(n, 10)
    if not ones:
        return _NL_TENS[tens]
    unit = _NL_SMALL[ones]
    return unit + ("ën" if unit.endswith("e") else "en") + _NL_TENS[tens]  # tweeëntwintig


def _nl_below_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    head = "" if not hundreds else ("" if hundreds == 1 else _NL_SMALL[hundreds]) + "honderd"
    return head + (_nl_below_100(rest) if rest else "")


def _nl_words(n: int) -> str:
    """Cardinal words, "een" for one (the caller writes "één" where it stands alone)."""
    if n == 0:
        return "nul"
    parts = []
    for value, name in _NL_SCALES:
        high, n = divmod(n, value)
        if high:
            parts.append(f"{_nl_words(high)} {name}")
    high, n = divmod(n, 1000)
    if high:  # a space after "duizend" (the Taalunie's rule)
        parts.append(("" if high == 1 else _nl_below_1000(high)) + "duizend")
    if n:
        parts.append(_nl_below_1000(n))
    return " ".join(parts)


class _Dutch(_Lang):
    code = "nl"
    digits = _NL_SMALL[:10]
    minus, point, number_word, to, dot, at = "min", "komma", "nummer", "tot", "punt", "apenstaartje"
    months = (
        *("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus"),
        *("september", "oktober", "november", "december"),
    )
    currencies = {
        "€": ("euro", "euro", "cent", "cent", False),
        "$": ("dollar", "dollar", "cent", "cent", False),
        "£": ("pond", "pond", "penny", "pence", False),
        "¥": ("yen", "yen", "sen", "sen", False),
        "R$": ("real", "real", "centavo", "centavo", False),
    }
    time_words = "uur"
    areas = ("vierkante meter", "vierkante kilometer", "kubieke meter")
    abbreviations = {
        "dhr.": "de heer",
        "mevr.": "mevrouw",
        "mw.": "mevrouw",
        "bijv.": "bijvoorbeeld",
        "bv.": "bijvoorbeeld",
        "enz.": "enzovoort",
        "ca.": "circa",
        "d.w.z.": "dat wil zeggen",
        "o.a.": "onder andere",
        "i.p.v.": "in plaats van",
        "m.b.t.": "met betrekking tot",
        "t/m": "tot en met",
        "dr.": "doctor",
        "prof.": "professor",
        "nr.": "nummer",
        "zgn.": "zogenaamd",
        "blz.": "bladzijde",
        "km/h": "kilometer per uur",
        "km": "kilometer",
        "kg": "kilo",
    }
    symbols = (
        ("°C", "graden Celsius"),
        ("°F", "graden Fahrenheit"),
        ("&", "en"),
        ("@", "apenstaartje"),
        ("%", "procent"),
        ("+", "plus"),
        ("=", "is gelijk aan"),
        ("°", "graden"),
        ("×", "keer"),
        ("~", "ongeveer"),
        ("/", " "),
        ("#", "hashtag"),
        ("€", "euro"),
        ("$", "dollar"),
        ("£", "pond"),
    )

    def __init__(self) -> None:
        super().__init__()
        number = self.ordinal_number()
        self.re_ordinal = re.compile(rf"(?<![\w.,]){_START}(?P<n>{number})(?:ste|de|e)(?!\w)")

    def cardinal(self, n: int, feminine: bool = False) -> str:
        words = _nl_words(n)  # one said alone is "één" (not the article "een")
        return words[:-3] + "één" if words == "een" or words.endswith(" een") else words

    def ordinal(self, n: int, feminine: bool = False) -> str:
        low = n % 100
        if 1 <= low <= 19:
            head = _nl_words(n - low) if n > low else ""
            return head + _NL_ORDINAL.get(low, _NL_SMALL[low] + "de")
        return _nl_words(n) + "ste"

    def year(self, n: int) -> str:
        if 1100 <= n < 2000:  # "negentienhonderdnegenennegentig"
            high, low = divmod(n, 100)
            return _nl_below_100(high) + "honderd" + (_nl_below_100(low) if low else "")
        return self.cardinal(n)

    def time(self, hour: int, minute: int) -> str:
        out = f"{self.cardinal(hour)} uur"
        return f"{out} {self.cardinal(minute)}" if minute else out

    def time_extra(self) -> str:
        return r"|\.(?P<m2>\d{2})(?=\s?uur\b)\s?uur\b"

    def ordinals(self, text: str) -> str:
        return self.re_ordinal.sub(
            lambda m: _pad(m, self.ordinal(int(re.sub(r"\D", "", m["n"])))), text
        )


# -- Spanish -----------------------------------------------------------------------------------

_ES_SMALL = (
    *("cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez"),
    *("once", "doce", "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho"),
    *("diecinueve", "veinte", "veintiuno", "veintidós", "veintitrés", "veinticuatro"),
    *("veinticinco", "veintiséis", "veintisiete", "veintiocho", "veintinueve"),
)
_ES_TENS = (
    *("", "", "", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta"),
    "noventa",
)
_ES_HUNDREDS = (
    *("", "ciento", "doscientos", "trescientos", "cuatrocientos", "quinientos", "seiscientos"),
    *("setecientos", "ochocientos", "novecientos"),
)
_ES_ORDINAL_UNITS = (
    *("", "primero", "segundo", "tercero", "cuarto", "quinto", "sexto", "séptimo", "octavo"),
    "noveno",
)
_ES_ORDINAL_TENS = (
    *("", "décimo", "vigésimo", "trigésimo", "cuadragésimo", "quincuagésimo", "sexagésimo"),
    *("septuagésimo", "octogésimo", "nonagésimo"),
)
_ES_SCALES = ((10**12, "un billón", "billones"), (10**6, "un millón", "millones"))


def _es_below_1000(n: int, form: str) -> str:
    """``form``: "" said alone ("uno"), "m" before a masculine noun ("un"), "f" ("una")."""
    hundreds, rest = divmod(n, 100)
    words = []
    if hundreds:
        head = "cien" if n == 100 else _ES_HUNDREDS[hundreds]
        words.append(head[:-2] + "as" if form == "f" and hundreds > 1 else head)
    if rest:
        tens, ones = divmod(rest, 10)
        words.append(
            _ES_SMALL[rest]
            if rest < 30
            else _ES_TENS[tens] + (f" y {_ES_SMALL[ones]}" if ones else "")
        )
    out = " ".join(words)
    if form and out.endswith("uno"):
        out = out[:-1] + "a" if form == "f" else out[:-1]
        out = out[:-2] + "ún" if out.endswith("veintiun") else out
    return out


def _es_below_million(n: int, form: str) -> str:
    high, low = divmod(n, 1000)
    parts = []
    if high:
        parts.append("mil" if high == 1 else _es_below_1000(high, form or "m") + " mil")
    if low:
        parts.append(_es_below_1000(low, form))
    return " ".join(parts)


def _es_words(n: int, form: str) -> str:
    if n == 0:
        return "cero"
    parts = []
    for value, one, many in _ES_SCALES:
        high, n = divmod(n, value)
        if high:
            parts.append(one if high == 1 else f"{_es_below_million(high, 'm')} {many}")
    if n:
        parts.append(_es_below_million(n, form))
    return " ".join(parts)


#: nouns ending in -a that are masculine (Spanish, Portuguese, Italian), and the other way
_ROMANCE_MASCULINE_A = _set(
    "día dia mapa problema programa programma sistema tema idioma clima planeta pianeta poema "
    "cinema poeta"
)
_ROMANCE_FEMININE = {
    "es": _set("mano vez noche tarde parte madre mujer gente calle clase"),
    "pt": _set("vez mulher mãe noite tarde parte gente classe"),
    "it": _set("mano volta notte parte madre gente classe"),
}
_ROMANCE_FEMININE_ENDINGS = {
    "es": ("a", "ión", "dad", "tud"),
    "pt": ("a", "ção", "dade", "gem"),
    "it": ("a", "ione", "tà"),
}
_ROMANCE_PLURALS = {"es": ("es", "s"), "pt": ("ões", "ães", "ns", "es", "s"), "it": ()}
_ROMANCE_SINGULAR = {"ões": "ão", "ães": "ão", "ns": "m"}


def _romance_feminine(noun: str, lang: str) -> bool:
    """Whether ``noun`` looks feminine: its ending, a few exceptions either way."""
    word = noun.lower()
    for plural in _ROMANCE_PLURALS[lang]:
        if word.endswith(plural) and len(word) > len(plural) + 2:
            singular = word[: -len(plural)] + _ROMANCE_SINGULAR.get(plural, "")
            if plural != "es" or singular.endswith(("ion", "dad", "tud", "r", "l", "z", "n")):
                word = singular.replace("ion", "ión") if lang == "es" else singular
                break
    if word in _ROMANCE_MASCULINE_A or noun.lower() in _ROMANCE_MASCULINE_A:
        return False
    if word in _ROMANCE_FEMININE[lang] or noun.lower() in _ROMANCE_FEMININE[lang]:
        return True
    return word.endswith(_ROMANCE_FEMININE_ENDINGS[lang])


class _Spanish(_Lang):
    code = "es"
    digits = _ES_SMALL[:10]
    minus, point, number_word, to, dot, at = "menos", "coma", "número", "a", "punto", "arroba"
    months = (
        *("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto"),
        *("septiembre", "octubre", "noviembre", "diciembre"),
    )
    month_link = "de"
    currencies = {
        "€": ("euro", "euros", "céntimo", "céntimos", False),
        "$": ("dólar", "dólares", "centavo", "centavos", False),
        "£": ("libra", "libras", "penique", "peniques", True),
        "¥": ("yen", "yenes", "sen", "sen", False),
        "R$": ("real", "reales", "centavo", "centavos", False),
    }
    money_link = "con"
    scale_link = "de"
    time_words = "h|hs|horas"
    feminine_indicator = True
    areas = ("metros cuadrados", "kilómetros cuadrados", "metros cúbicos")
    articles = (_set("el del al un este ese"), _set("la una esta esa"))
    abbreviations = {
        "Sr.": "señor",
        "Sres.": "señores",
        "Sra.": "señora",
        "Srta.": "señorita",
        "Dr.": "doctor",
        "Dra.": "doctora",
        "Prof.": "profesor",
        "Ud.": "usted",
        "Uds.": "ustedes",
        "Vd.": "usted",
        "Dña.": "doña",
        "etc.": "etcétera",
        "p.ej.": "por ejemplo",
        "aprox.": "aproximadamente",
        "núm.": "número",
        "pág.": "página",
        "Avda.": "avenida",
        "Av.": "avenida",
        "tel.": "teléfono",
        "EE.UU.": "Estados Unidos",
        "km/h": "kilómetros por hora",
        "km": "kilómetros",
        "kg": "kilos",
    }
    symbols = (
        ("°C", "grados Celsius"),
        ("°F", "grados Fahrenheit"),
        ("&", "y"),
        ("@", "arroba"),
        ("%", "por ciento"),
        ("+", "más"),
        ("=", "igual a"),
        ("°", "grados"),
        ("×", "por"),
        ("~", "aproximadamente"),
        ("/", " "),
        ("#", "hashtag"),
        ("€", "euros"),
        ("$", "dólares"),
        ("£", "libras"),
    )

    def __init__(self) -> None:
        super().__init__()
        suffix = r"(?P<s>er|era|ero|ro|ra|do|da|to|ta|mo|ma|vo|va|no|na)"
        self.re_ordinal = re.compile(rf"(?<![\w.,])(?P<n>\d{{1,2}})\.?{suffix}(?!\w)")
        self.re_first = re.compile(rf"(?<![\d.,])1°?(?=\s+de\s+{self.re_months})")

    def cardinal(self, n: int, feminine: bool = False) -> str:
        return _es_words(n, "f" if feminine else "")

    def before_noun(self, n: int, feminine: bool = False) -> str:
        return _es_words(n, "f" if feminine else "m")

    def counting(self, n: int, noun: str) -> str:
        return self.before_noun(n, _romance_feminine(noun, "es"))

    def time_extra(self) -> str:
        return r"|\s?h(?P<m2>\d{2})?(?![\w:])"

    def ordinal(self, n: int, feminine: bool = False) -> str:
        if not 1 <= n <= 100:
            return self.cardinal(n, feminine)
        tens, ones = divmod(n, 10)
        if n in (11, 12, 100):
            words = {11: "undécimo", 12: "duodécimo", 100: "centésimo"}[n]
        elif tens == 1 and ones:  # "decimotercero", "decimoctavo"
            words = ("decim" if ones == 8 else "decimo") + _ES_ORDINAL_UNITS[ones]
        else:
            words = f"{_ES_ORDINAL_TENS[tens]} {_ES_ORDINAL_UNITS[ones]}".strip()
        return " ".join(w[:-1] + "a" for w in words.split()) if feminine else words

    def day(self, n: int, before: str) -> str:
        return "primero" if n == 1 else self.cardinal(n)

    def time(self, hour: int, minute: int) -> str:
        out = self.cardinal(hour, True)
        return f"{out} y {self.cardinal(minute)}" if minute else out

    def ordinals(self, text: str) -> str:
        text = self.re_ordinal.sub(self._ordinal, text)
        return self.re_first.sub("primero", text)

    def _ordinal(self, m: re.Match[str]) -> str:
        suffix = m["s"]
        words = self.ordinal(int(m["n"]), suffix.endswith("a"))
        if suffix == "er":  # "1.er": "primer", "3.er": "tercer"
            words = words.removesuffix("o")
        return _pad(m, words)


# -- Italian -----------------------------------------------------------------------------------

_IT_SMALL = (
    *("zero", "uno", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove", "dieci"),
    *("undici", "dodici", "tredici", "quattordici", "quindici", "sedici", "diciassette"),
    *("diciotto", "diciannove"),
)
_IT_TENS = (
    *("", "", "venti", "trenta", "quaranta", "cinquanta", "sessanta", "settanta", "ottanta"),
    "novanta",
)
_IT_ORDINAL = (
    *("", "primo", "secondo", "terzo", "quarto", "quinto", "sesto", "settimo", "ottavo", "nono"),
    "decimo",
)
_IT_SCALES = (
    (10**12, "un bilione", "bilioni"),
    (10**9, "un miliardo", "miliardi"),
    (10**6, "un milione", "milioni"),
)


def _it_below_100(n: int) -> str:
    if n < 20:
        return _IT_SMALL[n]
    tens, ones = divmod(n, 10)
    head = _IT_TENS[tens][:-1] if ones in (1, 8) else _IT_TENS[tens]  # "ventuno", "ventotto"
    return head + (_IT_SMALL[ones] if ones else "")


def _it_below_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    if not hundreds:
        return _it_below_100(rest)
    head = "cento" if hundreds == 1 else _IT_SMALL[hundreds] + "cento"
    head = head[:-1] if 80 <= rest < 90 else head  # "centottanta"
    return head + (_it_below_100(rest) if rest else "")


def _it_below_million(n: int) -> str:
    high, low = divmod(n, 1000)
    head = ""
    if high == 1:
        head = "mille"
    elif high:
        words = _it_below_1000(high)
        head = (words[:-1] if high % 100 > 20 and high % 10 == 1 else words) + "mila"
    return head + (_it_below_1000(low) if low else "")


def _it_words(n: int) -> str:
    """Cardinal words without the written accent of a final "tre" ("ventitre")."""
    if n == 0:
        return "zero"
    parts = []
    for value, one, many in _IT_SCALES:
        high, n = divmod(n, value)
        if high:
            parts.append(one if high == 1 else f"{_it_words(high)} {many}")
    if n:
        parts.append(_it_below_million(n))
    return " ".join(parts)


def _it_accent(words: str) -> str:
    """A compound ending in "tre" is written "tré" ("ventitré", "centotré")."""
    return " ".join(w[:-1] + "é" if w.endswith("tre") and len(w) > 3 else w for w in words.split())


class _Italian(_Lang):
    code = "it"
    digits = _IT_SMALL[:10]
    minus, point, number_word, to, dot, at = "meno", "virgola", "numero", "a", "punto", "chiocciola"
    months = (
        *("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto"),
        *("settembre", "ottobre", "novembre", "dicembre"),
    )
    currencies = {
        "€": ("euro", "euro", "centesimo", "centesimi", False),
        "$": ("dollaro", "dollari", "centesimo", "centesimi", False),
        "£": ("sterlina", "sterline", "penny", "pence", True),
        "¥": ("yen", "yen", "sen", "sen", False),
        "R$": ("real", "real", "centavo", "centavos", False),
    }
    money_link = "e"
    scale_link = "di"
    feminine_indicator = True
    areas = ("metri quadrati", "chilometri quadrati", "metri cubi")
    articles = (
        _set("il lo l al del nel dal sul allo dello nello dallo sullo un questo"),
        _set("la alla della nella dalla sulla una questa"),
    )
    abbreviations = {
        "Sig.": "signor",
        "Sigg.": "signori",
        "Sig.ra": "signora",
        "Sig.na": "signorina",
        "Dott.": "dottor",
        "Dott.ssa": "dottoressa",
        "Prof.": "professor",
        "Prof.ssa": "professoressa",
        "Ing.": "ingegner",
        "Avv.": "avvocato",
        "ecc.": "eccetera",
        "p.es.": "per esempio",
        "ad es.": "ad esempio",
        "pag.": "pagina",
        "tel.": "telefono",
        "ca.": "circa",
        "km/h": "chilometri orari",
        "km": "chilometri",
        "kg": "chili",
    }
    symbols = (
        ("°C", "gradi Celsius"),
        ("°F", "gradi Fahrenheit"),
        ("&", "e"),
        ("@", "chiocciola"),
        ("%", "per cento"),
        ("+", "più"),
        ("=", "uguale a"),
        ("°", "gradi"),
        ("×", "per"),
        ("~", "circa"),
        ("/", " "),
        ("#", "hashtag"),
        ("€", "euro"),
        ("$", "dollari"),
        ("£", "sterline"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.re_first = re.compile(rf"(?<![\d.,])1°?(?=\s+{self.re_months})")

    def cardinal(self, n: int, feminine: bool = False) -> str:
        words = _it_words(n)
        if feminine and words.endswith("uno"):
            words = words[:-1] + "a"
        return _it_accent(words)

    def before_noun(self, n: int, feminine: bool = False) -> str:
        return ("una" if feminine else "un") if n == 1 else self.cardinal(n, feminine)

    def counting(self, n: int, noun: str) -> str:
        if n != 1:
            return self.cardinal(n)
        if _romance_feminine(noun, "it"):
            return "una"
        return "uno" if re.match(r"(?i)s[^aeiouàèéìòù]|z|gn|ps|x|y", noun) else "un"

    def ordinal(self, n: int, feminine: bool = False) -> str:
        if 1 <= n <= 10:
            words = _IT_ORDINAL[n]
        else:
            words = _it_words(n)
            if words.endswith(("tre", "sei")):  # "ventitreesimo", "ventiseiesimo"
                words += "esimo"
            elif words.endswith("mila"):  # "duemillesimo"
                words = words[:-4] + "millesimo"
            else:
                words = words[:-1] + "esimo"
        return words[:-1] + "a" if feminine else words

    def day(self, n: int, before: str) -> str:
        return "primo" if n == 1 else self.cardinal(n)

    def time(self, hour: int, minute: int) -> str:
        out = self.cardinal(hour, True)
        return f"{out} e {self.cardinal(minute)}" if minute else out

    def ordinals(self, text: str) -> str:
        return self.re_first.sub("primo", text)


# -- Portuguese (Brazilian spelling) -----------------------------------------------------------

_PT_SMALL = (
    *("zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove", "dez"),
    *("onze", "doze", "treze", "quatorze", "quinze", "dezesseis", "dezessete", "dezoito"),
    "dezenove",
)
_PT_TENS = (
    *("", "", "vinte", "trinta", "quarenta", "cinquenta", "sessenta", "setenta", "oitenta"),
    "noventa",
)
_PT_HUNDREDS = (
    *("", "cento", "duzentos", "trezentos", "quatrocentos", "quinhentos", "seiscentos"),
    *("setecentos", "oitocentos", "novecentos"),
)
_PT_ORDINAL_UNITS = (
    *("", "primeiro", "segundo", "terceiro", "quarto", "quinto", "sexto", "sétimo", "oitavo"),
    "nono",
)
_PT_ORDINAL_TENS = (
    *("", "décimo", "vigésimo", "trigésimo", "quadragésimo", "quinquagésimo", "sexagésimo"),
    *("septuagésimo", "octogésimo", "nonagésimo"),
)
_PT_SCALES = (
    (10**12, "um trilhão", "trilhões"),
    (10**9, "um bilhão", "bilhões"),
    (10**6, "um milhão", "milhões"),
)


def _pt_unit(n: int, feminine: bool) -> str:
    if feminine and n in (1, 2):
        return "uma" if n == 1 else "duas"
    return _PT_SMALL[n]


def _pt_below_1000(n: int, feminine: bool) -> str:
    hundreds, rest = divmod(n, 100)
    words = []
    if hundreds:
        head = "cem" if n == 100 else _PT_HUNDREDS[hundreds]
        words.append(head[:-2] + "as" if feminine and hundreds > 1 else head)
    if rest:
        tens, ones = divmod(rest, 10)
        if rest < 20:
            words.append(_pt_unit(rest, feminine))
        else:
            words.append(_PT_TENS[tens] + (f" e {_pt_unit(ones, feminine)}" if ones else ""))
    return " e ".join(words)


class _Portuguese(_Lang):
    code = "pt"
    digits = _PT_SMALL[:10]
    minus, point, number_word, to, dot, at = "menos", "vírgula", "número", "a", "ponto", "arroba"
    months = (
        *("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto"),
        *("setembro", "outubro", "novembro", "dezembro"),
    )
    month_link = "de"
    currencies = {
        "€": ("euro", "euros", "centavo", "centavos", False),
        "$": ("dólar", "dólares", "centavo", "centavos", False),
        "£": ("libra", "libras", "pence", "pence", True),
        "¥": ("iene", "ienes", "sen", "sen", False),
        "R$": ("real", "reais", "centavo", "centavos", False),
    }
    money_link = "e"
    name_cents = True
    scale_link = "de"
    time_words = "h|horas"
    feminine_indicator = True
    areas = ("metros quadrados", "quilômetros quadrados", "metros cúbicos")
    articles = (_set("o do no ao pelo um este esse"), _set("a da na à pela uma esta essa"))
    abbreviations = {
        "Sr.": "senhor",
        "Srs.": "senhores",
        "Sra.": "senhora",
        "Srta.": "senhorita",
        "Dr.": "doutor",
        "Dra.": "doutora",
        "Prof.": "professor",
        "Profa.": "professora",
        "etc.": "etcétera",
        "p.ex.": "por exemplo",
        "aprox.": "aproximadamente",
        "pág.": "página",
        "Av.": "avenida",
        "tel.": "telefone",
        "km/h": "quilômetros por hora",
        "km": "quilômetros",
        "kg": "quilos",
    }
    symbols = (
        ("°C", "graus Celsius"),
        ("°F", "graus Fahrenheit"),
        ("&", "e"),
        ("@", "arroba"),
        ("%", "por cento"),
        ("+", "mais"),
        ("=", "igual a"),
        ("°", "graus"),
        ("×", "vezes"),
        ("~", "aproximadamente"),
        ("/", " "),
        ("#", "hashtag"),
        ("€", "euros"),
        ("$", "dólares"),
        ("£", "libras"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.re_first = re.compile(rf"(?<![\d.,])1°?(?=\s+de\s+{self.re_months})")

    def cardinal(self, n: int, feminine: bool = False) -> str:
        if n == 0:
            return "zero"
        groups: list[tuple[int, str]] = []
        for value, one, many in _PT_SCALES:
            high, n = divmod(n, value)
            if high:
                groups.append((high, one if high == 1 else f"{_pt_below_1000(high, False)} {many}"))
        high, n = divmod(n, 1000)
        if high:
            groups.append((high, "mil" if high == 1 else f"{_pt_below_1000(high, feminine)} mil"))
        if n:
            groups.append((n, _pt_below_1000(n, feminine)))
        # "e" before the last group when it is below a hundred or whole hundreds
        last, words = groups[-1]
        head = " ".join(w for _, w in groups[:-1])
        if not head:
            return words
        return f"{head} {'e ' if last < 100 or last % 100 == 0 else ''}{words}"

    def counting(self, n: int, noun: str) -> str:
        return self.cardinal(n, _romance_feminine(noun, "pt"))

    def time_extra(self) -> str:
        return r"|\s?h(?P<m2>\d{2})?(?![\w:])"

    def ordinal(self, n: int, feminine: bool = False) -> str:
        if not 1 <= n <= 100:
            return self.cardinal(n, feminine)
        tens, ones = divmod(n, 10)
        words = "centésimo" if n == 100 else f"{_PT_ORDINAL_TENS[tens]} {_PT_ORDINAL_UNITS[ones]}"
        words = words.strip()
        return " ".join(w[:-1] + "a" for w in words.split()) if feminine else words

    def day(self, n: int, before: str) -> str:
        return "primeiro" if n == 1 else self.cardinal(n)

    def time(self, hour: int, minute: int) -> str:
        out = self.cardinal(hour, True)
        if not minute:
            return f"{out} hora" + ("s" if hour > 1 else "")
        return f"{out} e {self.cardinal(minute)}"

    def ordinals(self, text: str) -> str:
        return self.re_first.sub("primeiro", text)


_RULES: dict[str, _Lang] = {
    rules.code: rules
    for rules in (_French(), _German(), _Spanish(), _Italian(), _Portuguese(), _Dutch())
}


# -- Which Latin-script language ---------------------------------------------------------------

#: very frequent function words per language (the first list of each pair), and frequent
#: words of short scripts (greetings, common verbs); a word in several lists counts for each
#: a share of one
_FUNCTION_WORDS = {
    "en": "the and is are was were of to in it you that this with for on have has i my we they "
    "he she be not at but what from your will would can do does how just about there their our "
    "me an if so all been or by which who when where why yes",
    "fr": "le la les un une des du de et est sont je tu il elle nous vous ils elles on ne pas "
    "que qui quoi dans pour avec sur ce cette ces mais ou où au aux mon ma mes ton ta ses son sa "
    "leur très bien oui non suis être avoir ai fait comme tout plus aussi en était moi toi ça "
    "vous",
    "de": "der die das und ist sind ich du er sie wir ihr es nicht ein eine einen mit von zu den "
    "dem auf für im in an auch wie was wo noch nur aber oder so sehr ja nein mein meine dein "
    "dir mir mich dich uns wenn dass über bei nach aus war bin bist hat habe haben wird kann "
    "zum zur vom",
    "es": "el la los las un una unos unas y es son está están estoy de del que en por para con "
    "no se lo le les me mi su sus tu te yo él ella nosotros pero muy más como qué cómo dónde "
    "cuándo sí también este esta esto hay tiene tengo soy eres al todo ya porque cuando donde",
    "it": "il lo la i gli le un una uno e è di da in con su per che non mi ti si ci sono sei "
    "siamo ho hai ha ma anche come cosa questo questa quello molto più sì del della dei delle "
    "al alla nel nella sto stai sta io tu lui lei noi voi loro chi dove quando mio mia tuo",
    "pt": "o a os as um uma e é de do da dos das em no na nos nas que não com para por se eu "
    "você ele ela nós mas muito mais como está estou isso isto este esta meu minha seu sua ao "
    "à pelo pela são tem tenho sou vai foi aqui onde quando porque já",
    "nl": "de het een en van is in ik je jij u we wij ze zij hij niet op te dat die met voor zijn "
    "was er aan om ook als maar bij of naar nog wat hoe heb hebt heeft ben bent mijn jouw uw "
    "ons onze deze dit kan wil moet hier daar wel geen al",
}
_CONTENT_WORDS = {
    "en": "hello hi thanks thank please good today new more said like think know",
    "fr": "bonjour salut merci beaucoup aujourd'hui voilà appelle bonsoir habite vais fait",
    "de": "hallo danke bitte heute geht gut guten tag morgen heiße schön gerne tschüss wohne",
    "es": "hola gracias buenos buenas días hoy bien gusta llamo adiós mucho mucha muchos "
    "muchas hace vivo vamos",
    "it": "ciao grazie buongiorno bene oggi tutto perché fare piace buonasera chiamo vivo fa "
    "domani andiamo va",
    "pt": "olá oi obrigado obrigada sim também hoje tudo bem bom dia chamo moro vivo",
    "nl": "hallo hoi dank bedankt ja nee vandaag gaat goed dag graag woon heet erg veel",
}
_WORD_SHARES: dict[str, dict[str, float]] = {}
for _table in (_FUNCTION_WORDS, _CONTENT_WORDS):
    for _code, _words in _table.items():
        for _word in _words.split():
            _WORD_SHARES.setdefault(_word, {})[_code] = 1.0
for _shares in _WORD_SHARES.values():
    for _code in _shares:
        _shares[_code] = 1.0 / len(_shares)
#: words after a number that are not what it counts ("21 de mayo")
_STOP = frozenset(w for words in _FUNCTION_WORDS.values() for w in words.split())

#: what a word's letters say: (letters, {language: share}); a word counts each feature once
_LETTERS: tuple[tuple[str, dict[str, float]], ...] = (
    ("ß", {"de": 2.0}),
    ("ñ", {"es": 2.0}),
    ("ãõ", {"pt": 2.0}),
    ("äöü", {"de": 1.0}),
    ("ìò", {"it": 1.0}),
    ("îû", {"fr": 1.0}),
    ("ç", {"fr": 0.5, "pt": 0.5}),
    ("èù", {"fr": 0.5, "it": 0.5}),
    ("êâô", {"fr": 0.5, "pt": 0.5}),
    ("à", {"fr": 1 / 3, "it": 1 / 3, "pt": 1 / 3}),
    ("ëï", {"fr": 0.5, "nl": 0.5}),
    ("áíóú", {"es": 0.5, "pt": 0.5}),
    ("é", {"fr": 0.4, "es": 0.2, "pt": 0.2, "it": 0.1, "nl": 0.1}),
)
#: endings of one language's words ("estación", "stazione", "vrijheid"), and Dutch "ij"
_ENDINGS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("ción", "ciones"), "es"),
    (("zione", "zioni"), "it"),
    (("heid",), "nl"),
)
#: "l'", "qu'" (French and Italian elisions) and English contractions ("it's", "don't")
_ELISIONS = {
    **dict.fromkeys(("j", "m", "t", "s", "n", "qu", "jusqu", "lorsqu", "puisqu"), ("fr",)),
    **dict.fromkeys(("l", "d", "c"), ("fr", "it")),
    **dict.fromkeys(("un", "dell", "all", "dall", "nell", "sull", "quest", "po"), ("it",)),
    "aujourd": ("fr",),
}
_CONTRACTIONS = frozenset({"s", "t", "re", "ve", "ll", "m", "d"})
_RE_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
#: a language needs this much evidence, and more than any other, to win over English
_MIN_EVIDENCE = 1.5


def _add(scores: dict[str, float], shares: dict[str, float] | tuple[str, ...]) -> None:
    if isinstance(shares, tuple):
        shares = {code: 1.0 / len(shares) for code in shares}
    for code, share in shares.items():
        scores[code] = scores.get(code, 0.0) + share


def _score_word(word: str, scores: dict[str, float], name: bool) -> None:
    """Add what ``word`` (lower case) says; ``name``: it was capitalised inside a sentence,
    so it is no function word ("São Paulo", "Las Vegas") and its letters count half."""
    if "'" in word:
        head, _, tail = word.partition("'")
        if head in _ELISIONS:
            _add(scores, _ELISIONS[head])
            word = tail
        elif tail in _CONTRACTIONS:
            _add(scores, ("en",))
            word = head
    shares = None if name else _WORD_SHARES.get(word)
    if shares:
        _add(scores, shares)
    for letters, weights in _LETTERS:
        if any(ch in word for ch in letters):
            _add(scores, {k: v / 2 for k, v in weights.items()} if name else weights)
    for endings, code in _ENDINGS:
        if word.endswith(endings):
            _add(scores, (code,))
    if "ij" in word:
        _add(scores, ("nl",))


def _latin_language(text: str) -> str:
    """en, fr, de, es, it, pt or nl, by function words and letters; "en" when unsure."""
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'")
    scores: dict[str, float] = {}
    for found in _RE_WORD.finditer(text):
        word = found[0]
        _score_word(word.lower(), scores, word[0].isupper() and not _opens(text, found.start()))
    marks = text.count("¿") + text.count("¡")
    if marks:
        _add(scores, {"es": float(min(marks, 3))})
    english = scores.pop("en", 0.0)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if not ranked:
        return "en"
    best, score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if score < _MIN_EVIDENCE or score <= english or score <= runner_up:
        return "en"
    return best
