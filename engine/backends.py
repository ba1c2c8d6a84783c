"""Backends chosen by name. Each entry imports its module only when asked for."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import BackendUnavailable
from engine.lipsync.base import LipSyncBackend
from engine.settings import EngineSettings
from engine.tts.base import SpeechBackend

__all__ = [
    "TTS_BACKENDS",
    "LIPSYNC_BACKENDS",
    "create_tts",
    "create_lipsync",
    "Availability",
    "doctor",
]

# name -> "module:factory". A factory takes EngineSettings and returns the backend; the
# module's ``check(settings) -> str | None`` says why it cannot run here (None: it can).
TTS_BACKENDS: dict[str, str] = {
    "espeak": "engine.tts.espeak:EspeakBackend",
    "neutts": "engine.tts.neutts:NeuTTSBackend",
}
LIPSYNC_BACKENDS: dict[str, str] = {
    "warp": "engine.lipsync.warp:WarpBackend",
    "diff2lip": "engine.lipsync.diff2lip:Diff2LipBackend",
}


@dataclass(frozen=True)
class Availability:
    kind: str  # "tts" | "lipsync"
    name: str
    usable: bool
    reason: str  # why not, or a short description when usable


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
    """Build the configured speech backend (loads its models)."""
    _, factory = _load(TTS_BACKENDS, "tts", settings.tts)
    backend = factory(settings)
    assert isinstance(backend, SpeechBackend)
    return backend


def create_lipsync(settings: EngineSettings) -> LipSyncBackend:
    """Build the configured lip-sync backend (loads its models)."""
    _, factory = _load(LIPSYNC_BACKENDS, "lipsync", settings.lipsync)
    backend = factory(settings)
    assert isinstance(backend, LipSyncBackend)
    return backend


def doctor(settings: EngineSettings) -> list[Availability]:
    """Say, for every known backend, whether it can run on this machine and why not."""
    rows: list[Availability] = []
    for kind, table in (("tts", TTS_BACKENDS), ("lipsync", LIPSYNC_BACKENDS)):
        for name in table:
            try:
                module, _ = _load(table, kind, name)
                check = getattr(module, "check", None)
                reason = check(settings) if check else None
            except BackendUnavailable as e:
                rows.append(Availability(kind, name, False, str(e)))
                continue
            except Exception as e:  # a broken install must not break the report
                rows.append(Availability(kind, name, False, f"{type(e).__name__}: {e}"))
                continue
            usable = reason is None
            doc = (module.__doc__ or "").strip().splitlines()
            rows.append(Availability(kind, name, usable, reason or (doc[0] if doc else "ok")))
    return rows
