"""Safety policy as pure decisions: consent modes, rate limits, script blocklist, phrases.

Nothing here does I/O. The store counts usage inside its write transaction and asks
:func:`decide_limits`; the guard asks :func:`blocked` and :func:`phrase_matches`; moderators'
per-server overrides are merged over the operator's settings by :meth:`ServerPolicy.merge`,
which never lets a server loosen what the operator set (:func:`tighter`).
"""

from __future__ import annotations

import difflib
import functools
import itertools
import re
import secrets
import unicodedata
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bot.contract.jobs import LABEL_POSITIONS
from bot.safety.authority import Staff
from bot.safety.phrase_words import WORDS, spelled_numbers

__all__ = [
    "CONSENT_MODES",
    "LIMIT_NAMES",
    "SERVER_LIMIT_NAMES",
    "RateLimits",
    "Usage",
    "Denial",
    "LimitExceeded",
    "ServerPolicy",
    "ListBounds",
    "Safety",
    "decide_limits",
    "UploadLimits",
    "UploadUsage",
    "decide_upload",
    "blocked",
    "normalise",
    "make_phrase",
    "phrase_language",
    "phrase_matches",
    "phrase_score",
    "phrase_words",
    "PHRASE_LANGUAGES",
    "scope_of",
    "tighter",
    "stricter_mode",
    "DAY",
    "HOUR",
]

CONSENT_MODES = ("attest", "phrase", "review")
#: moderator-facing limit names -> RateLimits fields
LIMIT_NAMES = {
    "day": "user_per_day",
    "concurrent": "user_concurrent",
    "hour": "server_per_hour",
    "queue": "queue_max",
}
#: the limits a server's moderators may set (tighter than the operator's); the queue cap is
#: the whole bot's and only the operator's
SERVER_LIMIT_NAMES = ("day", "concurrent", "hour")
_SERVER_FIELDS = {LIMIT_NAMES[name] for name in SERVER_LIMIT_NAMES}
DAY, HOUR = 86_400.0, 3_600.0


def scope_of(guild_id: str | None) -> str:
    """Policy scope: the Discord server / Telegram group, or "" for direct messages."""
    return guild_id or ""


def tighter(value: int, cap: int) -> int:
    """The stricter of a server's count and the operator's (negative: no limit)."""
    if cap < 0:
        return value
    if value < 0:
        return cap
    return min(value, cap)


def stricter_mode(mode: str, floor: str) -> str:
    """The stricter of two consent modes (attest < phrase < review); unknown: the floor."""
    if mode not in CONSENT_MODES:
        return floor
    return max(mode, floor, key=CONSENT_MODES.index)


# ---- rate limits ---------------------------------------------------------------------
@dataclass(frozen=True)
class RateLimits:
    """Counts allowed; 0 means "no renders", a negative number means "no limit"."""

    user_per_day: int = 20
    user_concurrent: int = 2
    server_per_hour: int = 30
    queue_max: int = 50
    # the queue's shares: what one server, and a platform's direct messages (every account
    # together), may hold of it; the operator's alone, like queue_max
    queue_per_server: int = 20
    queue_dm: int = 10


@dataclass(frozen=True)
class Usage:
    """What the store counted, inside the same transaction that would insert the job."""

    user_day: tuple[float, ...] = ()  # created times of the user's jobs in the last day
    user_open: int = 0  # queued, running or awaiting review
    server_hour: tuple[float, ...] = ()  # created times of the server's jobs in the last hour
    queue_open: int = 0  # queued or running, everywhere
    scope_open: int = 0  # queued or running in this scope (the server; or the platform's DMs)


@dataclass(frozen=True)
class Denial:
    """Which limit said no, and when a retry can succeed (None: when something finishes)."""

    # one of LIMIT_NAMES' keys, "queue_server" / "queue_dm" (the queue's shares), or
    # "uploads" / "upload_bytes" / "upload_bytes_total" (decide_upload)
    limit: str
    allowed: int
    retry_at: float | None = None

    def retry_in(self, now: float) -> float | None:
        return None if self.retry_at is None else max(0.0, self.retry_at - now)


class LimitExceeded(Exception):
    """Raised by the store's atomic count-and-insert when a limit refuses a job."""

    def __init__(self, denial: Denial) -> None:
        super().__init__(f"limit {denial.limit} ({denial.allowed}) reached")
        self.denial = denial


def _full(count: int, allowed: int) -> bool:
    return allowed >= 0 and count >= allowed


def _window_retry(times: tuple[float, ...], allowed: int, window: float) -> float | None:
    """When enough counted jobs leave the sliding window for one more to fit."""
    if allowed <= 0:
        return None  # nothing is allowed: no time to promise
    ordered = sorted(times)
    return ordered[len(ordered) - allowed] + window


def decide_limits(limits: RateLimits, usage: Usage, *, server: bool) -> Denial | None:
    """The first limit that refuses one more job, or None. Windows slide: a day/hour-limited
    user may retry when the oldest counted jobs leave the window."""
    if _full(len(usage.user_day), limits.user_per_day):
        at = _window_retry(usage.user_day, limits.user_per_day, DAY)
        return Denial("day", limits.user_per_day, at)
    if server and _full(len(usage.server_hour), limits.server_per_hour):
        at = _window_retry(usage.server_hour, limits.server_per_hour, HOUR)
        return Denial("hour", limits.server_per_hour, at)
    if _full(usage.user_open, limits.user_concurrent):
        return Denial("concurrent", limits.user_concurrent)
    if _full(usage.queue_open, limits.queue_max):
        return Denial("queue", limits.queue_max)
    if server and _full(usage.scope_open, limits.queue_per_server):
        return Denial("queue_server", limits.queue_per_server)
    if not server and _full(usage.scope_open, limits.queue_dm):
        return Denial("queue_dm", limits.queue_dm)
    return None


# ---- uploads: rate and byte quota per person, and the service's daily byte budget -------
@dataclass(frozen=True)
class UploadLimits:
    """What one person may hand over: files per hour, bytes per day; and what everyone
    together may hand over per day (negative: no limit)."""

    per_hour: int = 30
    bytes_per_day: int = 200_000_000
    total_bytes_per_day: int = 5_000_000_000


@dataclass(frozen=True)
class UploadUsage:
    """The person's recent uploads, and everyone's bytes of the last day, counted inside the
    transaction that would add one."""

    times: tuple[float, ...] = ()  # when each upload of the last hour came
    sizes: tuple[tuple[float, int], ...] = ()  # (time, bytes) of each upload of the last day
    total: int = 0  # bytes everyone uploaded in the last day


def decide_upload(limits: UploadLimits, usage: UploadUsage, size: int) -> Denial | None:
    """The limit that refuses an upload of ``size`` bytes now, or None.

    Denials name "uploads" (files per hour) or "upload_bytes" (bytes per day); their retry
    time is when enough earlier uploads leave the sliding window (None: never, the file alone
    is over the daily quota). "upload_bytes_total": the service's daily budget is spent
    (everyone's uploads together; no retry time: tomorrow)."""
    if _full(len(usage.times), limits.per_hour):
        return Denial("uploads", limits.per_hour, _window_retry(usage.times, limits.per_hour, HOUR))
    personal = _personal_bytes(limits.bytes_per_day, usage, size)
    if personal is not None:
        return personal
    budget = limits.total_bytes_per_day
    if budget >= 0 and usage.total + size > budget:
        return Denial("upload_bytes_total", budget)
    return None


def _personal_bytes(quota: int, usage: UploadUsage, size: int) -> Denial | None:
    if quota < 0:
        return None
    used = sum(b for _, b in usage.sizes)
    if used + size <= quota:
        return None
    if size > quota:
        return Denial("upload_bytes", quota)
    # The oldest uploads leave the window first; once all have, the file fits (size <= quota).
    ordered = sorted(usage.sizes)
    freed = itertools.accumulate(b for _, b in ordered)
    at = next(t for (t, _), f in zip(ordered, freed, strict=True) if used - f + size <= quota)
    return Denial("upload_bytes", quota, at + DAY)


# ---- per-server policy ---------------------------------------------------------------
@dataclass(frozen=True)
class ServerPolicy:
    """Everything moderators can set for one server (or for direct messages)."""

    consent_mode: str = "attest"
    limits: RateLimits = field(default_factory=RateLimits)
    blocklist: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()  # allowed channel ids; empty: everywhere
    label_position: str = LABEL_POSITIONS[0]
    label_off: bool = False  # honoured only where the label is not required
    reviews_channel: str = ""  # where review requests are posted for moderators; "": nowhere

    def merge(self, overrides: dict[str, Any]) -> ServerPolicy:
        """These (the operator's) settings with a server's stored overrides on top.

        The operator's limits and consent mode bound the server's: a looser value counts as
        the operator's (an override stored before the operator tightened a setting, or by an
        older version), and the queue cap is never a server's. Unknown keys are ignored."""
        limits = replace(
            self.limits,
            **{
                field_name: tighter(int(value), getattr(self.limits, field_name))
                for field_name, value in (overrides.get("limits") or {}).items()
                if field_name in _SERVER_FIELDS
            },
        )
        known = {f.name for f in fields(ServerPolicy)} - {"limits"}
        simple = {k: v for k, v in overrides.items() if k in known}
        for key in ("blocklist", "channels"):
            if key in simple:
                simple[key] = tuple(simple[key])
        if "consent_mode" in simple:
            simple["consent_mode"] = stricter_mode(str(simple["consent_mode"]), self.consent_mode)
        return replace(self, limits=limits, **simple)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["blocklist"], data["channels"] = list(self.blocklist), list(self.channels)
        return data


@dataclass(frozen=True)
class ListBounds:
    """How far a server's lists may grow (the operator's alone): phrases on its blocklist,
    each of at most ``phrase_chars`` characters, and channels on its channel list."""

    blocklist: int = 200
    phrase_chars: int = 100
    channels: int = 50


# ---- script blocklist ----------------------------------------------------------------
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalise(text: str) -> list[str]:
    """Lower-case words without accents or punctuation, (English) number words joined into
    digits."""
    return phrase_words(text, "en")


def blocked(script: str, blocklist: tuple[str, ...]) -> bool:
    """True when any blocked word or phrase occurs in the script as whole words."""
    words = normalise(script)
    joined = " " + " ".join(words) + " "
    for entry in blocklist:
        needle = " ".join(normalise(entry))
        if needle and f" {needle} " in joined:
            return True
    return False


# ---- spoken consent phrase -----------------------------------------------------------
#: the languages consent phrases are made in (others get English's)
PHRASE_LANGUAGES: tuple[str, ...] = tuple(WORDS)


def phrase_language(code: str) -> str:
    """The language a phrase for a script in ``code`` is made in: ``code`` where there is a
    word list for it, else English."""
    return code if code in WORDS else "en"


def make_phrase(rng: secrets.SystemRandom | None = None, language: str = "en") -> str:
    """Three common words of ``language`` and a two-digit number, unguessable (``secrets``),
    e.g. "copper meadow lantern 47", "citron forêt bougie 47". Easy to say; hard to have
    said by chance."""
    r = rng or secrets.SystemRandom()
    words = r.sample(WORDS[phrase_language(language)], 3)
    return f"{words[0]} {words[1]} {words[2]} {r.randint(21, 99)}"


def _similar(a: str, b: str) -> float:
    if a.isdigit() or b.isdigit():
        return 1.0 if a == b else 0.0  # numbers must be heard exactly
    return difflib.SequenceMatcher(None, a, b).ratio()


def _plain(text: str) -> list[str]:
    """Lower-case words without accents or punctuation (hyphens split words)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return [w for w in _NON_WORD.sub(" ", plain.replace("_", " ")).split() if w]


@functools.cache
def _number_words(language: str) -> tuple[dict[tuple[str, ...], str], int]:
    """``language``'s numbers 0-99 as plain word sequences -> their digits, and the longest
    sequence's length."""
    table = {
        tuple(_plain(spelling)): str(n)
        for n, spellings in spelled_numbers(phrase_language(language)).items()
        for spelling in spellings
    }
    return table, max(len(k) for k in table)


def phrase_words(text: str, language: str = "en") -> list[str]:
    """A phrase or a transcript as its words are compared: lower case, accents and
    punctuation gone, numbers written in ``language``'s words as digits ("quarante-sept",
    "siebenundvierzig" -> "47"; the longest spelling first)."""
    words = _plain(text)
    table, longest = _number_words(language)
    out: list[str] = []
    i = 0
    while i < len(words):
        for size in range(min(longest, len(words) - i), 0, -1):
            digits = table.get(tuple(words[i : i + size]))
            if digits is not None:
                out.append(digits)
                i += size
                break
        else:
            out.append(words[i])
            i += 1
    return out


def phrase_score(phrase: str, transcript: str, language: str = "en") -> float:
    """How well the transcript contains the phrase's words in order (0..1), both read in
    ``language`` (the phrase's: its number may be heard as words). Extra words in between
    (fillers, a name) are free; each phrase word takes its best in-order match."""
    want, heard = phrase_words(phrase, language), phrase_words(transcript, language)
    if not want or not heard:
        return 0.0
    best = 0.0
    for start in range(len(heard)):
        pos, total = start, 0.0
        for word in want:
            window = heard[pos : pos + 3]  # tolerate up to two inserted words
            if not window:
                break
            scores = [_similar(word, h) for h in window]
            k = max(range(len(scores)), key=scores.__getitem__)
            total += scores[k]
            pos += k + 1
        best = max(best, total / len(want))
    return best


def phrase_matches(
    phrase: str, transcript: str, threshold: float = 0.8, language: str = "en"
) -> bool:
    """True when the transcript says the phrase, allowing ASR spelling noise ("kopper"),
    accents and case ("Forêt", "foret"), but requiring the number exactly (as digits or as
    ``language``'s words)."""
    return phrase_score(phrase, transcript, language) >= threshold


@dataclass(frozen=True)
class Safety:
    """The bot's safety configuration (from settings), handed to the service."""

    defaults: ServerPolicy = field(default_factory=ServerPolicy)  # the operator's: caps too
    label_required: bool = True
    asr: bool = False  # workers can transcribe voice notes (MOUTHPIECE_ASR_MODEL is set)
    out_dir: Path | None = None  # where rendered videos lie, for /forget (shared volume)
    staff: Staff = field(default_factory=Staff)  # operators and moderator roles
    list_bounds: ListBounds = field(default_factory=ListBounds)  # a server's lists

    def dm_moderated(self, platform: str) -> bool:
        """Whether someone can approve a review asked for in a direct message: only the
        platform's operators act there (DMs belong to no server)."""
        return bool(self.staff.operators_of(platform))
