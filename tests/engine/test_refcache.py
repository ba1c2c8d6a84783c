"""The reference-voice cache (engine.tts.refcache): entries by content key, indexed by the
voice file they were made from, so a person's entries can be deleted by their file's hash."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from engine.tts.refcache import ReferenceCache, file_sha256

A, B = "a" * 64, "b" * 64


def _entry(cache: ReferenceCache, key: str, data: bytes = b"codes") -> Path:
    path = cache.path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_forget_by_source_and_expire_by_use(tmp_path: Path) -> None:
    cache = ReferenceCache(tmp_path / "neutts")
    assert cache.sources() == set() and cache.forget(A) == 0
    one, two = "1" * 32, "2" * 32
    first, second = _entry(cache, one), _entry(cache, two)
    cache.used(one, A)
    cache.used(one, B)  # the same audio, from another file: one entry, two sources
    cache.used(two, B)
    leftover = cache.folder / f".{one}.x1y2.npz"  # a write that was killed half-way
    leftover.write_bytes(b"half")
    assert cache.sources() == {A, B}
    # the entry, both files' markers of it, and the half-written copy
    assert cache.forget(A) == 4 and not first.exists() and not leftover.exists()
    assert second.exists() and cache.sources() == {B}
    # unused entries age out; a read refreshes the age
    old = time.time() - 3600
    os.utime(second, (old, old))
    assert cache.expire(1800) == 2 and not second.exists()  # the entry and its marker
    assert cache.sources() == set()
    third = _entry(cache, one)
    os.utime(third, (old, old))
    cache.used(one, None)
    assert cache.expire(1800) == 0 and third.exists()


def test_names_reaching_a_path_are_digests_only(tmp_path: Path) -> None:
    cache = ReferenceCache(tmp_path)
    for bad in ("../../etc/passwd", "A" * 64, "", "a/b"):
        with pytest.raises(ValueError):
            cache.forget(bad)
    data = tmp_path / "voice.ogg"
    data.write_bytes(b"OggS voice")
    assert file_sha256(data) == hashlib.sha256(b"OggS voice").hexdigest()
