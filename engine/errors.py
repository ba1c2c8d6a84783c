"""The engine's exceptions.

One root, :class:`EngineError`; each subclass tells the caller what to do:

* :class:`InvalidInput`: tell the user (``reason`` is one user-facing line); never retry.
* :class:`BackendUnavailable`: alert the operator (a model or library is missing).
* :class:`TransientError`: retry later (out of memory on a batch, a busy device).
* :class:`Cancelled`: the caller asked to stop; nothing to report.
"""

from __future__ import annotations

__all__ = ["EngineError", "InvalidInput", "BackendUnavailable", "TransientError", "Cancelled"]


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""


class InvalidInput(EngineError):
    """The user's input cannot be rendered; ``reason`` says what to change.

    ``field`` names the input at fault (``script``, ``voice``, ``photo``, ``options``).
    """

    def __init__(self, reason: str, *, field: str = "input") -> None:
        reason = " ".join(reason.split())  # always one line
        super().__init__(reason)
        self.reason = reason
        self.field = field


class BackendUnavailable(EngineError):
    """A backend cannot run here (library missing, model files absent or corrupt)."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(f"{message} ({hint})" if hint else message)
        self.hint = hint


class TransientError(EngineError):
    """A failure worth retrying (GPU out of memory, a resource briefly unavailable)."""


class Cancelled(EngineError):
    """The render was cancelled through ``should_cancel``."""
