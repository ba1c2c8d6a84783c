"""Backends chosen by name. Each entry imports its module only when asked for."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import BackendUnavailable
from engine.lipsync.base import LipSyncBackend
from engine.settings import EngineSettings
from engine.tts.base import SpeechBackend

__all__ = [
    "TTS_BACKENDS",
    "LIPSYNC_BACKENDS",
    "LIPSYNC_PREFERENCE",
    "create_tts",
    "create_lipsync",
    "choose_lipsync",
    "choose_tts",
    "LipSyncChoice",
    "TtsChoice",
    "Availability",
    "doctor",
]
log = logging.getLogger(__name__)

# name -> "module:factory". A factory takes EngineSettings and returns the backend; the
# module's ``check(settings) -> str | None`` says why it cannot run here (None: it can).
TTS_BACKENDS: dict[str, str] = {
    "espeak": "engine.tts.espeak:EspeakBackend",
    "neutts": "engine.tts.neutts:NeuTTSBackend",
    "pocket": "engine.tts.pocket:PocketBackend",
}
#: ``tts = auto`` (engine.tts.router): per language, the backend that speaks it best here
AUTO_TTS = "engine.tts.router:AutoSpeech"
LIPSYNC_BACKENDS: dict[str, str] = {
    "warp": "engine.lipsync.warp:WarpBackend",
    "diff2lip": "engine.lipsync.diff2lip:Diff2LipBackend",
    "musetalk": "engine.lipsync.musetalk:MuseTalkBackend",
}
#: ``lipsync = auto`` takes the first usable backend in this order...
LIPSYNC_PREFERENCE = ("musetalk", "diff2lip", "warp")
#: ...but these only where a CUDA GPU runs them: on a CPU MuseTalk costs about half a minute
#: and Diff2Lip several minutes of compute per second of video (docs/models.md, "Choosing a
#: lip-sync backend"), so a CPU-only machine keeps the real-time warp unless one is named.
GPU_ONLY_FOR_AUTO = frozenset({"musetalk", "diff2lip"})


@dataclass(frozen=True)
class LipSyncChoice:
    """The lip-sync backend a render uses and why (``auto`` resolved)."""

    name: str
    reason: str
    passed_over: tuple[str, ...] = ()  # better backends that cannot run here


@dataclass(frozen=True)
class TtsChoice:
    """The speech backend a script in ``language`` gets and why (``auto`` resolved)."""

    language: str
    name: str
    reason: str


@dataclass(frozen=True)
class Availability:
    kind: str  # "tts" | "lipsync"
    name: str
    usable: bool
    reason: str  # why not, or a short description when usable

    @property
    def reason_not(self) -> str | None:
        """Why it cannot run here, or None when it can."""
        return None if self.usable else self.reason


def _load(table: dict[str, str], kind: str, name: str) -> tuple[object, Callable[..., object]]:
    if name not in table:
        known = ", ".join(sorted(table))
        raise ValueError(f"unknown {kind} backend {name!r} (known: {known})")
    module_name, _, attr = table[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise BackendUnavailable(
            f"the {kind} backend {name!r} cannot be imported: {e}",
            hint=f"install the extra: pip install 'mouthpiece[{name}]'",
        ) from e
    return module, getattr(module, attr)


def create_tts(settings: EngineSettings) -> SpeechBackend:
    """Build the configured speech backend (loads its models; ``auto``: each on first use)."""
    if settings.tts == "auto":
        _, factory = _load({"auto": AUTO_TTS}, "tts", "auto")
    else:
        _, factory = _load(TTS_BACKENDS, "tts", settings.tts)
    backend = factory(settings)
    assert isinstance(backend, SpeechBackend)
    return backend


def create_lipsync(settings: EngineSettings) -> LipSyncBackend:
    """Build the configured lip-sync backend (``auto``: the best usable one; loads models)."""
    choice = choose_lipsync(settings)
    log.info("lip sync: %s (%s)", choice.name, choice.reason)
    _, factory = _load(LIPSYNC_BACKENDS, "lipsync", choice.name)
    backend = factory(settings)
    assert isinstance(backend, LipSyncBackend)
    return backend


def choose_lipsync(settings: EngineSettings) -> LipSyncChoice:
    """The backend named in the settings, or for ``auto`` the first usable one of
    LIPSYNC_PREFERENCE (GPU_ONLY_FOR_AUTO ones only with a CUDA GPU). Loads no model."""
    if settings.lipsync != "auto":
        return LipSyncChoice(settings.lipsync, "named in the settings")
    gpu = _has_gpu(settings.device)
    passed: list[str] = []
    names: list[str] = []
    for name in LIPSYNC_PREFERENCE:
        reason = _availability("lipsync", LIPSYNC_BACKENDS, name, settings).reason_not
        if reason is None and name in GPU_ONLY_FOR_AUTO and not gpu:
            reason = "usable, but auto takes it only with a CUDA GPU (name it to use the CPU)"
        if reason is None:
            why = "the best usable" + (f"; passed over {'; '.join(passed)}" if passed else "")
            return LipSyncChoice(name, why, tuple(names))
        passed.append(f"{name} ({reason})")
        names.append(name)
    raise BackendUnavailable("no lip-sync backend can run here: " + "; ".join(passed))


def choose_tts(settings: EngineSettings, language: str, *, transcript: bool = True) -> TtsChoice:
    """The backend that speaks ``language``: the one named in the settings, or for ``auto``
    NeuTTS Air for English (when it can run here and ``transcript``: the voice note's words
    are known), Pocket TTS for a language it has weights for, espeak-ng otherwise. Loads no
    model."""
    if settings.tts != "auto":
        return TtsChoice(language, settings.tts, "named in the settings")
    passed: list[str] = []
    if language == "en":
        why_not = _availability("tts", TTS_BACKENDS, "neutts", settings).reason_not
        if why_not is None and not transcript:
            why_not = "it needs the voice note's words (--voice-text)"
        if why_not is None:
            return TtsChoice(language, "neutts", "NeuTTS Air speaks English")
        passed.append(f"neutts: {_first_line(why_not)}")
    pocket = _pocket_reason(settings, language)
    if pocket is None:
        return TtsChoice(language, "pocket", f"Pocket TTS has {language} weights")
    passed.append(f"pocket: {_first_line(pocket)}")
    return TtsChoice(language, "espeak", "the embedded voice; passed over " + "; ".join(passed))


def _pocket_reason(settings: EngineSettings, language: str) -> str | None:
    """Why Pocket TTS cannot speak ``language`` here (None: it can)."""
    from spoken_text.languages import LANGUAGES

    if language not in LANGUAGES:
        return f"it has no {language} model"
    try:
        module, _ = _load(TTS_BACKENDS, "tts", "pocket")
    except BackendUnavailable as e:
        return str(e)
    ready: dict[str, str | None] = module.languages_ready(settings)  # type: ignore[attr-defined]
    return ready.get(language, f"it has no {language} model")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _has_gpu(device: str) -> bool:
    if device == "cpu":
        return False
    if device.startswith("cuda"):
        return True
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def doctor(settings: EngineSettings) -> list[Availability]:
    """Say, for every known backend, whether it can run on this machine and why not, and
    which lip-sync backend ``auto`` takes."""
    rows: list[Availability] = []
    for kind, table in (("tts", TTS_BACKENDS), ("lipsync", LIPSYNC_BACKENDS)):
        rows += [_availability(kind, table, name, settings) for name in table]
    try:
        choice = choose_lipsync(settings)
        over = f" (passed over {', '.join(choice.passed_over)}: see above)"
        why = f"-> {choice.name}" + (over if choice.passed_over else f": {choice.reason}")
        rows.append(Availability("lipsync", settings.lipsync, True, why))
    except (BackendUnavailable, ValueError) as e:
        rows.append(Availability("lipsync", settings.lipsync, False, str(e)))
    rows += _speech_rows(settings)
    rows.append(_jail_row(settings))
    rows.append(_provenance_row(settings))
    return rows


def _speech_rows(settings: EngineSettings) -> list[Availability]:
    """Per supported language, the speech backend a script in it gets (``tts`` resolved)."""
    from spoken_text.languages import LANGUAGES

    rows = []
    for code, lang in LANGUAGES.items():
        try:
            choice = choose_tts(settings, code)
        except Exception as e:  # a broken install must not break the report
            rows.append(Availability("speech", code, False, f"{type(e).__name__}: {e}"))
            continue
        rows.append(
            Availability("speech", code, True, f"{lang.name} -> {choice.name}: {choice.reason}")
        )
    return rows


def _provenance_row(settings: EngineSettings) -> Availability:
    """Who signs this machine's videos (C2PA), until when, and the speech mark. Reads only:
    a local CA that does not exist yet is made by the first render, not here."""
    if not settings.provenance:
        return Availability(
            "marks", "off", False, "MOUTHPIECE_PROVENANCE is off: videos are not signed"
        )
    from engine.provenance.manifest import describe_signer
    from engine.provenance.payload import SCHEME

    try:
        signer = describe_signer(
            settings.signer_dir,
            cert=Path(settings.c2pa_cert) if settings.c2pa_cert else None,
        )
    except (OSError, ValueError) as e:
        return Availability("marks", "c2pa", False, f"{type(e).__name__}: {e}")
    return Availability("marks", "c2pa", True, f"{signer}; speech mark {SCHEME}")


def _jail_row(settings: EngineSettings) -> Availability:
    """Whether uploads are decoded in the jail here, and which protections this kernel gives."""
    if not settings.decode_jail:
        return Availability(
            "jail", "off", False, "MOUTHPIECE_DECODE_JAIL is off: uploads decode in-process"
        )
    from engine.jail import Jail, JailLimits
    from engine.jail.confine import Confinement

    try:
        answer = Jail(JailLimits.of(settings)).describe()
    except Exception as e:  # a broken install must not break the report
        return Availability("jail", "decode", False, f"{type(e).__name__}: {e}")
    protections = Confinement(**answer.confinement)
    bounds = f"{settings.jail_seconds:g} s CPU, {settings.jail_memory_mb} MB per decode"
    return Availability("jail", "decode", True, f"{bounds}; {protections.describe()}")


def _availability(
    kind: str, table: dict[str, str], name: str, settings: EngineSettings
) -> Availability:
    try:
        module, _ = _load(table, kind, name)
        check = getattr(module, "check", None)
        reason = check(settings) if check else None
    except BackendUnavailable as e:
        return Availability(kind, name, False, str(e))
    except Exception as e:  # a broken install must not break the report
        return Availability(kind, name, False, f"{type(e).__name__}: {e}")
    doc = (module.__doc__ or "").strip().splitlines()
    return Availability(kind, name, reason is None, reason or (doc[0] if doc else "ok"))
