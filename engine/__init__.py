"""Mouthpiece engine: script + voice note + portrait photo -> lip-synced talking MP4.

A pure library: no chat, no queue. Heavy libraries load inside the backends that need
them, so ``import engine`` stays light.
"""

from engine.errors import BackendUnavailable, Cancelled, EngineError, InvalidInput, TransientError
from engine.pipeline import Engine
from engine.settings import EngineSettings
from engine.types import (
    Audio,
    PhotoIntake,
    Portrait,
    Progress,
    RenderOptions,
    RenderRequest,
    RenderResult,
    Segment,
    Speech,
    VoiceIntake,
    VoiceRef,
)

__all__ = [
    "Engine",
    "EngineSettings",
    "RenderRequest",
    "RenderOptions",
    "RenderResult",
    "Progress",
    "PhotoIntake",
    "VoiceIntake",
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
