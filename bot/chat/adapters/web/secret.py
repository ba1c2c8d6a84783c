"""A signing secret (the /web sign-in links', the media links'): the operator's, or a random
one made once and kept in the data folder (mode 0600, written atomically: a second process
starting at the same moment reads the first one's)."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

__all__ = ["web_secret"]


def web_secret(configured: str, path: Path) -> bytes:
    """``configured`` when set; else the secret kept at ``path``, created when missing."""
    if configured:
        return configured.encode()
    if not path.exists():
        _create(path)
    value = path.read_bytes().strip()
    if len(value) < 32:
        raise ValueError(f"{path} holds no usable secret: delete it to make a new one")
    return value


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".web_secret.", dir=path.parent)  # 0600 from the start
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_hex(32).encode())
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
