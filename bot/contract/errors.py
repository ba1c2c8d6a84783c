"""Exceptions that cross into the conversation core from its collaborators.

Adapters and gateways raise them; :class:`bot.conversation.service.Service` turns each into the one
line the user sees. The names say what the caller should do.
"""

from __future__ import annotations

import errno

__all__ = ["CoreError", "Busy", "DiskFull", "MediaTooLarge", "is_disk_full"]


class CoreError(Exception):
    """Root of the exceptions the core understands."""


class Busy(CoreError):
    """Storage or the queue cannot take more right now (Redis out of memory or unreachable):
    tell the user to try again later; nothing they had is lost."""


class DiskFull(CoreError):
    """The disk that holds the bot's data is full, or its free space is below the operator's
    floor (``MOUTHPIECE_MIN_FREE_BYTES``): refuse the upload, keep nothing of it."""


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` says the disk (or the user's quota on it) is full: the OS's ENOSPC or
    EDQUOT, and the database's "disk is full" (:class:`bot.db.DatabaseFull` is an OSError
    with ENOSPC)."""
    return isinstance(error, DiskFull) or (
        isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
    )


class MediaTooLarge(CoreError):
    """A download stopped at its byte cap: the file is bigger than it said (``size``: bytes
    seen so far, at least the cap)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"download passed its cap at {size} bytes")
        self.size = size
