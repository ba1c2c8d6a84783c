"""The /talk conversation as a state table of small, pure step functions.

``step(draft, input, rules) -> (draft, effects)``: no I/O. The service validates media and
talks to storage and the queue; this module only decides what to say and what to keep.
The same table is drawn in ``flow.mmd``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.contract import texts
from bot.contract.events import ButtonSpec, Reply
from spoken_text import SPOKEN_CHARS_PER_SECOND, normalize_text
from spoken_text.languages import LANGUAGES, SUPPORTED, chars_per_second, resolve

__all__ = [
    "ScriptMeasure",
    "measure_script",
    "Draft",
    "Rules",
    "Start",
    "Stop",
    "TextIn",
    "ScriptIn",
    "BatchIn",
    "LangIn",
    "VoiceIn",
    "PhotoIn",
    "Press",
    "Refuse",
    "Ready",
    "Enqueue",
    "Effect",
    "FlowInput",
    "step",
    "UNNAMED",
    "TABLE",
    "STATES",
    "missing",
    "speech_seconds",
    "CHARS_PER_SECOND",
    "language_choice",
    "script_language",
]

STATES = ("none", "collect", "transcript", "consent", "confirm")
#: the id of a draft the table started without /talk, until the service names it
UNNAMED = ""


@dataclass(frozen=True)
class Draft:
    """What one user has handed over so far for one video."""

    id: str
    state: str = "collect"
    script: str | None = None
    voice_hash: str | None = None
    voice_seconds: float = 0.0
    voice_text: str | None = None
    transcript_asked: bool = False
    photo_hash: str | None = None
    photo_warnings: tuple[str, ...] = ()
    consent: bool = False
    voice_forwarded: bool = False  # from someone else's message (bot.safety.rights)
    # a batch (a file of several scripts): each script one video, with its title ("" none);
    # ``script`` is then the first of them. Empty for a draft of one script.
    scripts: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    # a batch whose Render met a limit that frees by itself: the scripts not queued yet are
    # queued as room frees up (bot.conversation.holds). Any change to the draft ends it.
    held: bool = False
    # the language the video is spoken in (a code of spoken_text.languages); "": detected
    # from the script
    language: str = ""


@dataclass(frozen=True)
class Rules:
    needs_transcript: bool = False


# ---- inputs (already validated by the service) --------------------------------------
@dataclass(frozen=True)
class Start:
    draft_id: str
    language: str = ""  # chosen with /talk ("": detected from the script)


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class TextIn:
    text: str


@dataclass(frozen=True)
class ScriptIn:
    text: str


@dataclass(frozen=True)
class BatchIn:
    """Several scripts from one file (each already checked), one video each."""

    scripts: tuple[str, ...]
    titles: tuple[str, ...] = ()


@dataclass(frozen=True)
class LangIn:
    """The draft's language, chosen (a supported code, already checked; "": detected)."""

    code: str


@dataclass(frozen=True)
class VoiceIn:
    digest: str
    seconds: float
    transcript: str | None = None  # a saved voice comes with its transcript
    forwarded: bool = False  # the platform says it came from someone else's message


@dataclass(frozen=True)
class PhotoIn:
    digest: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Press:
    action: str


@dataclass(frozen=True)
class Refuse:
    reason: str


@dataclass(frozen=True)
class Ready:
    """A whole draft made in one go (``/say`` with an avatar: its photo, voice and transcript
    and the script). With ``draft.consent`` (the avatar's consent counts here) it renders at
    once; otherwise the open question is asked, after ``note``."""

    draft: Draft
    note: str = ""


FlowInput = (
    Start | Stop | TextIn | ScriptIn | BatchIn | LangIn | VoiceIn | PhotoIn | Press | Refuse | Ready
)


# ---- effects -------------------------------------------------------------------------
@dataclass(frozen=True)
class Enqueue:
    draft: Draft


Effect = Reply | Enqueue
Result = tuple[Draft | None, list[Effect]]


#: characters of the script as spoken (spoken_text.spoken) said in a second, roughly
CHARS_PER_SECOND = SPOKEN_CHARS_PER_SECOND


@dataclass(frozen=True)
class ScriptMeasure:
    """A script's length as typed and as the voice will say it (numbers and symbols as
    words), its speech time, and the one-line reason the limits refuse it ("": it fits)."""

    chars: int
    spoken: int
    seconds: float
    reason: str = ""


def language_choice(code: str) -> str | None:
    """A person's language choice as a draft keeps it: a supported code, "" for auto (none
    given, or "auto"); None for a code that is not supported. Case and a region are ignored
    ("FR", "pt-BR")."""
    key = code.strip().lower()
    if key in ("", "auto"):
        return ""
    key = key.replace("_", "-").split("-")[0]
    return key if key in SUPPORTED else None


def script_language(choice: str | None, script: str) -> str:
    """The language ``script`` is spoken in: the draft's choice, or ("" / None) the one it is
    detected to be written in (which may be a language outside the supported ones)."""
    try:
        return resolve(choice or None, script)
    except ValueError:  # a choice no longer supported (a draft kept by another version)
        return resolve(None, script)


def measure_script(
    clean: str, max_chars: int, max_seconds: float, language: str | None = None
) -> ScriptMeasure:
    """What the limits make of a script (whitespace already collapsed) spoken in ``language``
    (the draft's choice; ""/None: detected), at that language's speaking rate: chat's check
    and the web studio's live counter. The typed length is checked first: it also bounds the
    cost of normalising hostile text."""
    chars = len(clean)
    if chars > max_chars:
        reason = texts.SCRIPT_TOO_LONG.format(chars=chars, limit=max_chars)
        return ScriptMeasure(chars, 0, chars / chars_per_second(language or "en"), reason)
    code = script_language(language, clean)
    rate = chars_per_second(code)
    said = len(normalize_text(clean, code))  # spoken_text.spoken, in that language
    seconds = said / rate
    if said > max_chars:
        reason = texts.SCRIPT_SPOKEN_TOO_LONG.format(
            chars=chars, spoken=said, seconds=seconds, limit=max_chars
        )
        return ScriptMeasure(chars, said, seconds, reason)
    if seconds > max_seconds:
        typed_fits = chars / rate <= max_seconds
        template = texts.SCRIPT_SPOKEN_TOO_SLOW if typed_fits else texts.SCRIPT_TOO_SLOW
        reason = template.format(chars=chars, seconds=seconds, limit=max_seconds)
        return ScriptMeasure(chars, said, seconds, reason)
    return ScriptMeasure(chars, said, seconds)


def speech_seconds(script: str, language: str | None = None) -> float:
    """Rough spoken length in ``language`` (""/None: detected): the script as the voice will
    say it, numbers and symbols written out as words ("1234567": 77 characters, 5 s, not
    0.5 s), at that language's speaking rate (English: about 15 characters a second).
    Normalising costs more than the length on hostile text: bound the typed length first."""
    code = script_language(language, script)
    return len(normalize_text(script, code)) / chars_per_second(code)


def _language_note(choice: str, script: str) -> str:
    """GOT_SCRIPT's mention of the language the script is spoken in ("" for a detected
    language the bot has no name for)."""
    lang = LANGUAGES.get(script_language(choice, script))
    if lang is None:
        return ""
    template = texts.SCRIPT_LANGUAGE if choice else texts.SCRIPT_LANGUAGE_DETECTED
    return template.format(name=lang.name)


def missing(d: Draft) -> list[str]:
    return [
        k
        for k, v in (("script", d.script), ("voice", d.voice_hash), ("photo", d.photo_hash))
        if not v
    ]


def _next(d: Draft, rules: Rules, said: list[Effect]) -> Result:
    """Move the draft to the first state whose question is still open, and ask it."""
    if d.voice_hash and not d.transcript_asked and d.voice_text is None:
        d = replace(d, state="transcript", transcript_asked=True)
        if rules.needs_transcript:
            return d, [*said, Reply(texts.ASK_TRANSCRIPT)]
        return d, [
            *said,
            Reply(
                texts.ASK_TRANSCRIPT_OPTIONAL, (ButtonSpec(texts.SKIP_BUTTON, "skip_transcript"),)
            ),
        ]
    if d.state == "transcript" and rules.needs_transcript and not d.voice_text:
        return d, [*said, Reply(texts.ASK_TRANSCRIPT)]
    gaps = missing(d)
    if gaps:
        names = ", ".join(texts.MISSING_NAMES[g] for g in gaps)
        return replace(d, state="collect"), [*said, Reply(texts.NEED.format(missing=names))]
    if not d.consent:
        return replace(d, state="consent"), [
            *said,
            Reply(texts.CONSENT, (ButtonSpec(texts.CONSENT_BUTTON, "consent"),)),
        ]
    return replace(d, state="confirm"), [*said, _summary(d)]


def _summary(d: Draft) -> Reply:
    warn = (" (" + " ".join(d.photo_warnings) + ")") if d.photo_warnings else ""
    voice = f"{d.voice_seconds:.0f} s"
    if d.scripts:
        seconds = sum(speech_seconds(s, d.language) for s in d.scripts)
        text = texts.SUMMARY_BATCH.format(
            count=len(d.scripts), seconds=seconds, voice=voice, warnings=warn
        )
    else:
        text = texts.SUMMARY.format(
            seconds=speech_seconds(d.script or "", d.language), voice=voice, warnings=warn
        )
    return Reply(
        text, (ButtonSpec(texts.RENDER_BUTTON, "render"), ButtonSpec(texts.CANCEL_BUTTON, "cancel"))
    )


# ---- step functions ------------------------------------------------------------------
def _start(d: Draft | None, i: Start, rules: Rules) -> Result:
    said = texts.START
    if i.language:
        said += " " + texts.LANG_SET.format(name=LANGUAGES[i.language].name)
    return Draft(id=i.draft_id, language=i.language), [Reply(said)]


def _lang(d: Draft, i: LangIn, rules: Rules) -> Result:
    """A language chosen for the draft under way; the open question is asked again."""
    d = replace(d, language=i.code)
    said = texts.LANG_SET.format(name=LANGUAGES[i.code].name) if i.code else texts.LANG_AUTO
    return _next(d, rules, [Reply(said)])


def _idle_lang(d: Draft | None, i: LangIn, rules: Rules) -> Result:
    return None, [Reply(texts.LANG_NO_DRAFT)]


def _stop(d: Draft | None, i: Stop, rules: Rules) -> Result:
    return None, [Reply(texts.CANCELLED if d else texts.NOTHING_TO_CANCEL)]


def _idle_text(d: Draft | None, i: FlowInput, rules: Rules) -> Result:
    return None, [Reply(texts.IDLE_TEXT)]


def _idle_button(d: Draft | None, i: FlowInput, rules: Rules) -> Result:
    return None, [Reply(texts.NO_DRAFT_BUTTON)]


def _script(d: Draft, i: ScriptIn | TextIn, rules: Rules) -> Result:
    text = " ".join(i.text.split())
    d = replace(d, script=text, scripts=(), titles=(), consent=False)
    said = Reply(
        texts.GOT_SCRIPT.format(
            chars=len(text),
            seconds=speech_seconds(text, d.language),
            language=_language_note(d.language, text),
        )
    )
    return _next(d, rules, [said])


def _batch(d: Draft, i: BatchIn, rules: Rules) -> Result:
    titles = tuple(i.titles[n] if n < len(i.titles) else "" for n in range(len(i.scripts)))
    d = replace(d, script=i.scripts[0], scripts=i.scripts, titles=titles, consent=False)
    seconds = sum(speech_seconds(s, d.language) for s in i.scripts)
    return _next(d, rules, [Reply(texts.GOT_BATCH.format(count=len(i.scripts), seconds=seconds))])


def _transcript(d: Draft, i: TextIn, rules: Rules) -> Result:
    d = replace(d, voice_text=" ".join(i.text.split()), state="collect", consent=False)
    return _next(d, rules, [Reply(texts.GOT_TRANSCRIPT)])


def _voice(d: Draft, i: VoiceIn, rules: Rules) -> Result:
    d = replace(
        d,
        voice_hash=i.digest,
        voice_seconds=i.seconds,
        voice_text=i.transcript,
        voice_forwarded=i.forwarded,
        transcript_asked=i.transcript is not None,
        consent=False,
        state="collect" if d.state == "transcript" else d.state,
    )
    said = texts.GOT_VOICE.format(seconds=i.seconds)
    if i.forwarded:  # accepted only where the phrase check applies
        said += " " + texts.FORWARDED_VOICE_PHRASE
    return _next(d, rules, [Reply(said)])


def _photo(d: Draft, i: PhotoIn, rules: Rules) -> Result:
    d = replace(d, photo_hash=i.digest, photo_warnings=i.warnings, consent=False)
    return _next(d, rules, [Reply(texts.GOT_PHOTO + "".join(" " + w for w in i.warnings))])


def _refuse(d: Draft | None, i: Refuse, rules: Rules) -> Result:
    return d, [Reply(i.reason)]


def _press(d: Draft, i: Press, rules: Rules) -> Result:
    if i.action == "cancel":
        return _stop(d, Stop(), rules)
    if i.action == "skip_transcript" and d.state == "transcript" and not rules.needs_transcript:
        return _next(replace(d, state="collect"), rules, [])
    if i.action == "consent" and d.state == "consent":
        return _next(replace(d, consent=True), rules, [])
    if i.action == "render" and d.state == "confirm":
        return None, [Enqueue(d)]
    return _next(d, rules, [])  # a stale button: repeat the open question


def _ready(d: Draft | None, i: Ready, rules: Rules) -> Result:
    """A whole draft replaces any other: it renders at once when nothing is open (its consent
    counts here and no transcript is missing), else the open question is asked."""
    # the transcript was asked when the avatar's video was made (typed or skipped); asked
    # again only where the voice model needs one and there is none
    unsettled = rules.needs_transcript and not i.draft.voice_text
    draft = replace(i.draft, state="collect", transcript_asked=not unsettled)
    said: list[Effect] = [Reply(i.note)] if i.note else []
    if not missing(draft) and draft.consent and not unsettled:
        return None, [Enqueue(replace(draft, state="confirm"))]
    return _next(draft, rules, said)


def _media_in_idle(
    d: Draft | None, i: VoiceIn | PhotoIn | ScriptIn | BatchIn, rules: Rules
) -> Result:
    """Media sent without /talk starts a draft (a Telegram DM with a photo, say). Its id is
    left empty for the service to fill with a fresh random one (:data:`UNNAMED`): never one
    made from what was sent, so the same photo twice makes two drafts, and two jobs."""
    draft = Draft(id=UNNAMED)
    return TABLE[("collect", type(i))](draft, i, rules)


Step = Callable[..., Result]

#: (state, input type) -> step. "none" is the state without a draft.
TABLE: dict[tuple[str, type], Step] = {
    **{(s, Start): _start for s in STATES},
    **{(s, Stop): _stop for s in STATES},
    **{(s, Refuse): _refuse for s in STATES},
    **{(s, Ready): _ready for s in STATES},
    ("none", TextIn): _idle_text,
    ("none", Press): _idle_button,
    ("none", LangIn): _idle_lang,
    **{(s, LangIn): _lang for s in STATES[1:]},
    **{("none", t): _media_in_idle for t in (VoiceIn, PhotoIn, ScriptIn, BatchIn)},
    **{(s, ScriptIn): _script for s in STATES[1:]},
    **{(s, BatchIn): _batch for s in STATES[1:]},
    **{(s, TextIn): _script for s in ("collect", "consent", "confirm")},
    ("transcript", TextIn): _transcript,
    **{(s, VoiceIn): _voice for s in STATES[1:]},
    **{(s, PhotoIn): _photo for s in STATES[1:]},
    **{(s, Press): _press for s in STATES[1:]},
}


def step(draft: Draft | None, event: FlowInput, rules: Rules) -> Result:
    """Apply one input to a draft; return the new draft (None: no draft) and effects."""
    state = draft.state if draft else "none"
    new, effects = TABLE[(state, type(event))](draft, event, rules)
    if new is not None and new.held and new != draft:  # changed: not what Render was for
        new = replace(new, held=False)
    return new, effects
