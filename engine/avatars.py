"""What the engine keeps in memory per avatar: the work that depends on a saved photo alone.

A person renders many videos from the same saved photo. Everything made from the photo alone
(the decoded image and its face, each lip-sync backend's crop, paste plan and reference
latents, the motion stage's eyelid and head geometry) is kept in small LRUs, so the next
render of that photo reuses it instead of decoding, searching and building again. Every entry
is filed under the SHA-256 of the photo file (``Portrait.source``), the hash a caller that
stores uploads by content already knows, so erasing a photo drops all of it
(``Engine.forget_photos``) without decoding the photo again.

The reused work is the very work a first render makes (the same function on the same
inputs), so a warm render's frames are those of a cold one. Kept values are shared between
renders: nothing may modify them once made (the decoded image is made read-only to keep it so).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

from engine.types import Portrait

__all__ = ["LRU", "PortraitWork"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``limit`` values (0: none is kept), the least recently used dropped first.

    Thread-safe: the worker renders in one thread while another may erase a person's data.
    A value being made while entries are dropped (``drop``, ``clear``) is handed to its
    caller but not kept: it may have been made from what was just erased.
    """

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"an LRU holds 0 or more values, not {limit}")
        self.limit = limit
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._drops = 0  # how many times entries were dropped (a value made across one is not kept)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def held(self) -> list[K]:
        """The keys held, least recently used first."""
        with self._lock:
            return list(self._items)

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The value kept for ``key``, else ``make()`` (kept unless the LRU holds nothing or
        entries were dropped meanwhile). ``make`` runs outside the lock: a decode or a network
        pass never holds up another thread's look-up; two threads may make one key at once
        (both get a value, one is kept)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            drops = self._drops
        value = make()
        with self._lock:
            if self.limit and self._drops == drops:
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.limit:
                    self._items.popitem(last=False)
        return value

    def drop(self, which: Callable[[K], bool]) -> int:
        """Drop the entries whose key ``which`` picks; how many were dropped."""
        with self._lock:
            self._drops += 1
            gone = [k for k in self._items if which(k)]
            for k in gone:
                del self._items[k]
            return len(gone)

    def clear(self) -> int:
        """Drop every entry; how many there were."""
        return self.drop(lambda _: True)


class PortraitWork(Generic[V]):
    """One stage's work made from a portrait alone, kept per photo (``Portrait.work_key``).

    ``get(portrait, make)`` returns ``make(portrait)``, made once per photo while it stays
    among the ``limit`` most recently used. A portrait without a source (one a test or a
    caller made up) is worked on every time. Lip-sync backends keep one as ``portraits``,
    which the engine empties when photos are forgotten.
    """

    def __init__(self, limit: int) -> None:
        self.lru: LRU[tuple[str, int, int, str], V] = LRU(limit)

    def __len__(self) -> int:
        return len(self.lru)

    def sources(self) -> set[str]:
        """The digests of the photo files that work is kept for."""
        return {key[0] for key in self.lru.held()}

    def get(self, portrait: Portrait, make: Callable[[Portrait], V]) -> V:
        key = portrait.work_key
        if key is None or not self.lru.limit:
            return make(portrait)
        return self.lru.get_or_make(key, lambda: make(portrait))

    def forget(self, sources: Iterable[str]) -> int:
        """Drop the work made from the photo files with these digests; how many entries."""
        gone = set(sources)
        return self.lru.drop(lambda key: key[0] in gone)

    def clear(self) -> int:
        """Drop all the work kept; how many entries."""
        return self.lru.clear()
