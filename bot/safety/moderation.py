"""The ``/mod`` commands as neutral, pure logic: parse, validate, edit a server's overrides,
and word the answers. :mod:`bot.safety.desk` checks authority first and does the I/O
(store, queue); adapters only turn their platform's syntax into ``Command(who, "mod", ...)``.

``everywhere`` after a user (``ban 123 everywhere spam``) or anywhere in a view
(``audit 20 everywhere``, ``audit find 3f9c0d everywhere``) asks for the operator-wide
form; the desk refuses it to a server's moderators.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from bot.contract import texts
from bot.contract.jobs import LABEL_POSITIONS, SCOPE_WIDTH
from bot.safety.policy import (
    CONSENT_MODES,
    LIMIT_NAMES,
    SERVER_LIMIT_NAMES,
    ListBounds,
    ServerPolicy,
    stricter_mode,
    tighter,
)

__all__ = [
    "ModCommand",
    "AuditFind",
    "AUDIT_FIND",
    "audit_find",
    "SUBCOMMANDS",
    "POLICY_EDITS",
    "parse",
    "apply",
    "beyond_caps",
    "describe",
    "user_ref",
    "short",
    "age",
    "where",
    "scope_name",
]

SUBCOMMANDS = (
    "limits",
    "consent",
    "ban",
    "unban",
    "purge",
    "queue",
    "reviews",
    "audit",
    "log",
    "takedown",
    "channels",
    "label",
    "block",
    "reviews-channel",
    "verify",
)
#: subcommands that edit the server's stored overrides (the rest act on users and jobs)
POLICY_EDITS = ("limits", "consent", "channels", "label", "block", "reviews-channel")
#: subcommands acting on one user: ``SUB USER [everywhere] [reason]``
USER_SUBS = ("ban", "unban", "purge")
#: views that take ``everywhere`` (operators: every server and the direct messages); a
#: ``verify`` looks up the jobs a file's marks map to in the same scope
VIEWS = ("queue", "reviews", "audit", "log", "verify")
EVERYWHERE_WORD = "everywhere"
_MENTION = re.compile(r"^<[@#]!?(\d+)>$|^(\d+)$")
_JOB_REF = re.compile(r"^[0-9a-f]{6,40}$")
#: ``/mod audit find TERM``: the word, and what a TERM may be (see :func:`audit_find`)
AUDIT_FIND = "find"
_FIND_MAX_CHARS = 64  # a whole SHA-256 fingerprint
_FIND_PREFIX = re.compile(r"^[0-9a-f]{6,}$")  # a job id's or a fingerprint's first characters
_FIND_MARK = re.compile(r"^0x([0-9a-f]{1,8})$")  # a speech token, as `mouthpiece verify` prints


@dataclass(frozen=True)
class ModCommand:
    sub: str
    verb: str = ""  # "" shows; "set", "reset", "add", "remove", "clear", a mode, a position
    args: tuple[str, ...] = ()
    everywhere: bool = False  # operator-wide: direct messages and every server

    @property
    def edits(self) -> bool:
        return self.sub in POLICY_EDITS and self.verb not in ("", "list")


@dataclass(frozen=True)
class AuditFind:
    """What ``/mod audit find TERM`` looks for; a render matches any one that is set."""

    term: str  # the term as the answer echoes it (lowercase; a mention's id)
    user: str | None = None  # the requester's id, exactly
    prefix: str | None = None  # how the job id, or the voice or photo fingerprint, starts
    mark: int | None = None  # the job token its video's speech carries


def audit_find(term: str) -> AuditFind | None:
    """The search a ``/mod audit find`` TERM asks for, or None when it is none of: a user id
    (or mention), at least 6 hex characters starting a job id or fingerprint, or a mark
    (``0x`` and the token's hex). Case does not matter; at most 64 characters."""
    term = term.strip().lower()
    if not term.isascii() or len(term) > _FIND_MAX_CHARS:
        return None
    user = user_ref(term)
    prefix = term if _FIND_PREFIX.match(term) else None
    mark = _FIND_MARK.match(term)
    if user is None and prefix is None and mark is None:
        return None
    return AuditFind(
        user or term, user, prefix, int(mark.group(1), 16) if mark is not None else None
    )


def user_ref(text: str) -> str | None:
    """An id from "123" or a Discord mention ("<@123>" a user, "<#123>" a channel)."""
    m = _MENTION.match(text.strip())
    return (m.group(1) or m.group(2)) if m else None


def parse(args: str, *, label_required: bool) -> ModCommand | str:
    """``"limits set day 5"`` -> ModCommand, or the sentence saying what is wrong."""
    words = args.split()
    if not words or words[0] not in SUBCOMMANDS:
        return texts.MOD_HELP
    sub = words[0]
    rest, everywhere = _everywhere(sub, words[1:])
    checker = _CHECKS.get(sub, _check_user)
    problem = checker(rest, label_required)
    if problem is not None:
        return problem
    verb = rest[0].lower() if rest else ""
    if sub in USER_SUBS:
        return ModCommand(sub, "", (user_ref(rest[0]) or "", " ".join(rest[1:])), everywhere)
    if sub == "takedown":
        return ModCommand(sub, "", (rest[0].lower(), " ".join(rest[1:])))
    if sub in VIEWS:  # only ``audit find TERM`` has a word after the verb
        return ModCommand(sub, verb, tuple(rest[1:]), everywhere)
    return ModCommand(sub, verb, tuple(rest[1:]))


def _everywhere(sub: str, rest: list[str]) -> tuple[list[str], bool]:
    """The words without the ``everywhere`` flag, and whether it was given: right after the
    user for user subcommands, anywhere in a view."""
    if sub in USER_SUBS and len(rest) > 1 and rest[1].lower() == EVERYWHERE_WORD:
        return [rest[0], *rest[2:]], True
    if sub in VIEWS:
        kept = [w for w in rest if w.lower() != EVERYWHERE_WORD]
        return kept, len(kept) < len(rest)
    return rest, False


def _bad(usage: str) -> str:
    return texts.MOD_BAD.format(usage=usage)


def _check_limits(rest: list[str], label_required: bool) -> str | None:
    usage = "/mod limits set day|concurrent|hour N (-1: no limit), or /mod limits reset"
    if not rest or rest == ["reset"]:
        return None
    if len(rest) >= 2 and rest[0] == "set" and rest[1] == "queue":
        return texts.MOD_QUEUE_OPERATORS
    if len(rest) == 3 and rest[0] == "set" and rest[1] in SERVER_LIMIT_NAMES:
        try:
            if int(rest[2]) >= -1:
                return None
        except ValueError:
            pass
    return _bad(usage)


def _check_consent(rest: list[str], label_required: bool) -> str | None:
    if not rest or (len(rest) == 1 and rest[0].lower() in CONSENT_MODES):
        return None
    return _bad(texts.MOD_USAGE["consent"])


def _check_user(rest: list[str], label_required: bool) -> str | None:
    if rest and user_ref(rest[0]):
        return None
    return _bad(texts.MOD_NAME_THE_USER)


def _check_audit(rest: list[str], label_required: bool) -> str | None:
    if not rest or (len(rest) == 1 and rest[0].isdigit() and 0 < int(rest[0]) <= 50):
        return None
    if len(rest) == 2 and rest[0].lower() == AUDIT_FIND and audit_find(rest[1]) is not None:
        return None
    return _bad(texts.MOD_USAGE["audit"])


def _check_log(rest: list[str], label_required: bool) -> str | None:
    if not rest or (len(rest) == 1 and rest[0].isdigit() and 0 < int(rest[0]) <= 50):
        return None
    return _bad(texts.MOD_USAGE["log"])


def _check_takedown(rest: list[str], label_required: bool) -> str | None:
    if rest and _JOB_REF.match(rest[0].lower()):
        return None
    return _bad(texts.MOD_USAGE["takedown"])


def _check_view(rest: list[str], label_required: bool) -> str | None:
    return None if not rest else _bad(texts.MOD_ONLY_EVERYWHERE)


def _check_verify(rest: list[str], label_required: bool) -> str | None:
    return None if not rest else _bad(texts.MOD_USAGE["verify"])


def _check_channels(rest: list[str], label_required: bool) -> str | None:
    if not rest or rest == ["clear"]:
        return None
    if len(rest) == 2 and rest[0] in ("add", "remove") and (rest[1] == "here" or user_ref(rest[1])):
        return None
    return _bad(texts.MOD_USAGE["channels"])


def _check_label(rest: list[str], label_required: bool) -> str | None:
    if not rest:
        return None
    if len(rest) == 1 and rest[0] in (*LABEL_POSITIONS, "on"):
        return None
    if rest == ["off"]:
        return texts.MOD_LABEL_REQUIRED if label_required else None
    return _bad(texts.MOD_USAGE["label"].format(positions="|".join(LABEL_POSITIONS)))


def _check_block(rest: list[str], label_required: bool) -> str | None:
    if not rest or rest == ["list"]:
        return None
    if rest[0] in ("add", "remove") and len(rest) >= 2:
        return None
    return _bad(texts.MOD_USAGE["block"])


def _check_reviews_channel(rest: list[str], label_required: bool) -> str | None:
    if not rest or (len(rest) == 1 and (rest[0].lower() in ("here", "off") or user_ref(rest[0]))):
        return None
    return _bad(texts.MOD_USAGE["reviews-channel"])


_CHECKS = {
    "limits": _check_limits,
    "consent": _check_consent,
    "queue": _check_view,
    "reviews": _check_view,
    "audit": _check_audit,
    "log": _check_log,
    "takedown": _check_takedown,
    "channels": _check_channels,
    "label": _check_label,
    "block": _check_block,
    "reviews-channel": _check_reviews_channel,
    "verify": _check_verify,
}


#: the bounds of a server's lists when the caller names none (the settings' defaults)
_DEFAULT_BOUNDS = ListBounds()


class ListFull(Exception):
    """An edit would grow a server's list past its bound; ``text`` says so in one line."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def apply(
    cmd: ModCommand,
    overrides: dict[str, Any],
    *,
    here: str,
    bounds: ListBounds = _DEFAULT_BOUNDS,
) -> dict[str, Any]:
    """A server's overrides after a (validated) policy edit. ``here``: the channel id.
    Raises :class:`ListFull` when an addition would pass a list's bound (``bounds``: the
    operator's)."""
    data = dict(overrides)
    if cmd.sub == "limits":
        if cmd.verb == "reset":
            data.pop("limits", None)
        else:
            data["limits"] = {**data.get("limits", {}), LIMIT_NAMES[cmd.args[0]]: int(cmd.args[1])}
    elif cmd.sub == "consent":
        data["consent_mode"] = cmd.verb
    elif cmd.sub == "channels":
        data["channels"] = _channels(list(data.get("channels", [])), cmd, here, bounds)
    elif cmd.sub == "label":
        if cmd.verb in ("on", "off"):
            data["label_off"] = cmd.verb == "off"
        else:
            data["label_position"] = cmd.verb
    elif cmd.sub == "block":
        data["blocklist"] = _blocklist(list(data.get("blocklist", [])), cmd, bounds)
    elif cmd.sub == "reviews-channel":
        if cmd.verb == "off":
            data.pop("reviews_channel", None)
        else:
            data["reviews_channel"] = here if cmd.verb == "here" else user_ref(cmd.verb) or ""
    return data


def _channels(chans: list[str], cmd: ModCommand, here: str, bounds: ListBounds) -> list[str]:
    if cmd.verb == "clear":
        return []
    target = here if cmd.args[0] == "here" else user_ref(cmd.args[0]) or ""
    chans = [c for c in chans if c != target]
    if cmd.verb == "add":
        if len(chans) >= bounds.channels:
            raise ListFull(texts.MOD_LIST_FULL.format(what="channel list", n=bounds.channels))
        chans.append(target)
    return chans


def _blocklist(entries: list[str], cmd: ModCommand, bounds: ListBounds) -> list[str]:
    phrase = " ".join(cmd.args).strip().casefold()
    entries = [e for e in entries if e != phrase]
    if cmd.verb == "add":
        if len(phrase) > bounds.phrase_chars:
            raise ListFull(texts.MOD_PHRASE_TOO_LONG.format(n=bounds.phrase_chars))
        if len(entries) >= bounds.blocklist:
            raise ListFull(texts.MOD_LIST_FULL.format(what="blocklist", n=bounds.blocklist))
        entries.append(phrase)
    return sorted(entries)


def beyond_caps(cmd: ModCommand, caps: ServerPolicy) -> str | None:
    """The refusal for an edit that would loosen what the operator set, or None: a server
    may tighten a limit or ask for stricter consent, never the reverse (operators too edit
    a server within the caps; they change the caps themselves in the settings)."""
    if cmd.sub == "limits" and cmd.verb == "set":
        name, value = cmd.args[0], int(cmd.args[1])
        cap = getattr(caps.limits, LIMIT_NAMES[name])
        if tighter(value, cap) != value:
            return texts.MOD_LIMIT_CAPPED.format(name=name, cap=cap)
    consent = cmd.verb if cmd.sub == "consent" else ""
    if consent and stricter_mode(consent, caps.consent_mode) != consent:
        return texts.MOD_CONSENT_FLOOR.format(mode=caps.consent_mode)
    return None


def describe(sub: str, policy: ServerPolicy, *, asr: bool = False) -> str:
    """How a policy topic stands now (after a show or an edit)."""
    if sub == "limits":
        lim = policy.limits
        return texts.MOD_LIMITS.format(
            day=lim.user_per_day,
            concurrent=lim.user_concurrent,
            hour=lim.server_per_hour,
            queue=lim.queue_max,
            share=lim.queue_per_server,
            dm=lim.queue_dm,
            width=SCOPE_WIDTH,
        )
    if sub == "consent":
        mode = policy.consent_mode
        note = texts.MOD_CONSENT_NO_ASR if mode == "phrase" and not asr else ""
        return texts.MOD_CONSENT.format(mode=f"{mode}: {texts.MOD_CONSENT_MODES[mode]}{note}")
    if sub == "channels":
        if not policy.channels:
            return texts.MOD_CHANNELS_ALL
        return texts.MOD_CHANNELS.format(channels=", ".join(f"<#{c}>" for c in policy.channels))
    if sub == "label":
        state = texts.MOD_LABEL_OFF_STATE if policy.label_off else ""
        return texts.MOD_LABEL.format(position=policy.label_position, state=state)
    if sub == "reviews-channel":
        if not policy.reviews_channel:
            return texts.MOD_REVIEWS_CHANNEL_NONE
        return texts.MOD_REVIEWS_CHANNEL.format(channel=policy.reviews_channel)
    if not policy.blocklist:
        return texts.MOD_BLOCKLIST_EMPTY
    return texts.MOD_BLOCKLIST.format(phrases="; ".join(f"“{p}”" for p in policy.blocklist))


def short(digest: str) -> str:
    return digest[:8]


def age(created: float, now: float | None = None) -> str:
    seconds = max(0.0, (time.time() if now is None else now) - created)
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def scope_name(scope: str) -> str:
    """ "server 123", or "the DMs" for "": where something was asked or given."""
    return texts.SCOPE_SERVER.format(scope=scope) if scope else texts.SCOPE_DMS


def where(scope: str | None) -> str:
    """ " · server 123" / " · DMs" / " · everywhere" for lines of an everywhere view; None:
    a view of one scope, where it goes without saying."""
    if scope is None:
        return ""
    if scope == "*":
        return texts.WHERE_EVERYWHERE
    return texts.WHERE_SERVER.format(scope=scope) if scope else texts.WHERE_DMS
