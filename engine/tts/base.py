"""The speech backend protocol: script + reference voice -> :class:`Speech`."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from engine.types import CancelCheck, Speech, VoiceRef

__all__ = ["SpeechBackend"]


@runtime_checkable
class SpeechBackend(Protocol):
    """Turns a script into speech in (or toward) the reference voice.

    Implementations load their models in ``__init__`` (once per process) and keep
    ``synthesize`` free of file I/O other than caches.
    """

    name: str
    #: True when the backend cannot work without the reference transcript.
    needs_transcript: bool

    def synthesize(
        self,
        script: str,
        voice: VoiceRef,
        *,
        language: str | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Speech:
        """Speak ``script`` (already validated, non-empty) in ``voice``, in ``language`` (a
        code of :mod:`spoken_text.languages`, resolved by the caller; None: detect it)."""
        ...
