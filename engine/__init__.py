"""Mouthpiece engine: script + voice note + portrait photo -> lip-synced talking MP4.

A pure library: no chat, no queue. Heavy libraries load inside the backends that need
them, so ``import engine`` stays light.
"""

from engine.errors import BackendUnavailable, Cancelled, EngineError, InvalidInput, TransientError
from engine.pipeline import Engine, PhotoReport, VoiceReport
from engine.settings import EngineSettings
from engine.types import (
    Audio,
    Portrait,
    Progress,
    RenderOptions,
    RenderRequest,
    RenderResult,
    Segment,
    Speech,
    VoiceRef,
)

__all__ = [
    "Engine",
    "EngineSettings",
    "RenderRequest",
    "RenderOptions",
    "RenderResult",
    "Progress",
    "PhotoReport",
    "VoiceReport",
    "Audio",
    "Portrait",
    "Speech",
    "Segment",
    "VoiceRef",
    "EngineError",
    "InvalidInput",
    "BackendUnavailable",
    "TransientError",
    "Cancelled",
]
