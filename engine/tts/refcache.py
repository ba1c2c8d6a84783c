"""The on-disk cache of what a speech backend derives from a reference voice (NeuTTS: its
codec codes), keyed by content, and indexed by the voice *file* it was made from.

Entries are ``<folder>/<key>.npz``; the key is the backend's (a hash of the decoded audio and
the model), so one voice decoded from two files is encoded once. Each file that led to an
entry leaves a marker ``<folder>/sources/<source>.<key>`` where ``source`` is the SHA-256 of
the file's bytes: the same hash a caller that stores uploads by content already knows. So a
caller can delete every entry made from one person's voice file (:meth:`forget`) without
keeping the file to decode it again, list what it could delete (:meth:`sources`), and
expire entries nobody used for a while (:meth:`expire`; reading an entry refreshes it).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

__all__ = ["ReferenceCache", "file_sha256"]

_HEX = re.compile(r"^[0-9a-f]{16,64}$")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (the ``source`` of cache entries made from it)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ReferenceCache:
    """Cache entries under one folder. Stateless: any number of instances may share it."""

    #: the file ending of an entry (a subclass for another format sets its own)
    suffix = ".npz"

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        """Where the entry for ``key`` lives (the backend reads and writes it)."""
        _check(key)
        return self.folder / f"{key}{self.suffix}"

    def used(self, key: str, source: str | None) -> None:
        """Record that the entry ``key`` was made from (or read for) the voice file whose
        SHA-256 is ``source``, and refresh the entry's age."""
        entry = self.path(key)
        if entry.is_file():
            os.utime(entry)
        if source is None:
            return
        _check(source)
        marker = self.folder / "sources" / f"{source}.{key}"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()

    def sources(self) -> set[str]:
        """Hashes of the voice files that entries here were made from."""
        markers = self.folder / "sources"
        if not markers.is_dir():
            return set()
        return {p.name.split(".")[0] for p in markers.iterdir()}

    def forget(self, source: str) -> int:
        """Delete every entry made from the voice file ``source`` (and its markers); how
        many files were removed. Entries are content-keyed, so another file with the same
        audio loses its entry too: it is encoded again when next used."""
        _check(source)
        removed = 0
        markers = self.folder / "sources"
        for marker in list(markers.glob(f"{source}.*")):
            key = marker.name.split(".", 1)[1]
            removed += _unlink(self.path(key))
            removed += sum(_unlink(p) for p in markers.glob(f"*.{key}"))  # every file's marker
            removed += sum(_unlink(p) for p in self.folder.glob(f".{key}.*"))  # a killed write
        return removed

    def expire(self, max_age: float, now: float | None = None) -> int:
        """Delete entries (and their markers) not used for ``max_age`` seconds."""
        now = time.time() if now is None else now
        if not self.folder.is_dir():
            return 0
        removed = 0
        ending = self.suffix
        for entry in list(self.folder.glob(f"*{ending}")) + list(self.folder.glob(f".*{ending}")):
            try:
                old = now - entry.stat().st_mtime > max_age
            except FileNotFoundError:
                continue
            if old:
                removed += _unlink(entry)
        markers = self.folder / "sources"
        if markers.is_dir():
            for marker in markers.iterdir():
                key = marker.name.split(".", 1)[-1]
                if not (self.folder / f"{key}{ending}").exists():
                    removed += _unlink(marker)
        return removed


def _check(name: str) -> None:
    """Keys and sources are hex digests: nothing else may reach a path."""
    if not _HEX.match(name):
        raise ValueError(f"not a hex digest: {name!r}")


def _unlink(path: Path) -> int:
    try:
        path.unlink()
        return 1
    except FileNotFoundError:
        return 0
