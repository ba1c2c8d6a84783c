"""The shared language of the chat processes and the workers: what a job is (``jobs``: the
payload, the live record, every state and the transition table, delivery marks, Redis keys,
task names), the ports the layers above are handed (``ports``), chat events and actions
(``events``), errors, every sentence (``texts``) and each platform's wire codec (``wire``).
Imports nothing else of ``bot``."""

from __future__ import annotations

from bot.contract.errors import Busy, CoreError, MediaTooLarge
from bot.contract.jobs import (
    TRANSITIONS,
    CancelOutcome,
    DeliveryMark,
    IllegalTransition,
    JobRecord,
    JobState,
    Keys,
    RenderJob,
    Submission,
)

__all__ = [
    "Busy",
    "CoreError",
    "MediaTooLarge",
    "TRANSITIONS",
    "CancelOutcome",
    "DeliveryMark",
    "IllegalTransition",
    "JobRecord",
    "JobState",
    "Keys",
    "RenderJob",
    "Submission",
]
