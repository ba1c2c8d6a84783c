"""Exceptions that cross into the conversation core from its collaborators.

Adapters and gateways raise them; :class:`bot.conversation.service.Service` turns each into the one
line the user sees. The names say what the caller should do.
"""

from __future__ import annotations

__all__ = ["CoreError", "Busy", "MediaTooLarge"]


class CoreError(Exception):
    """Root of the exceptions the core understands."""


class Busy(CoreError):
    """Storage or the queue cannot take more right now (Redis out of memory or unreachable):
    tell the user to try again later; nothing they had is lost."""


class MediaTooLarge(CoreError):
    """A download stopped at its byte cap: the file is bigger than it said (``size``: bytes
    seen so far, at least the cap)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"download passed its cap at {size} bytes")
        self.size = size
