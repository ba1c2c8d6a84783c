"""The lip-sync backend protocol: portrait + speech -> a stream of video frames."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np

from engine.types import Portrait, RenderOptions, Speech

__all__ = ["LipSyncBackend"]


@runtime_checkable
class LipSyncBackend(Protocol):
    """Animates the still portrait so its mouth speaks ``speech``.

    ``frames`` yields exactly ``n_frames`` RGB uint8 arrays the size of
    ``portrait.image``, in order, lazily: the caller streams them to the encoder and
    may stop iterating at any time (cancellation), so never build the whole video.
    """

    name: str

    def frames(
        self, portrait: Portrait, speech: Speech, *, n_frames: int, options: RenderOptions
    ) -> Iterator[np.ndarray]:
        """Yield ``n_frames`` frames at ``options.fps``."""
        ...

    def estimate_seconds(self, n_frames: int, options: RenderOptions) -> float | None:
        """Rough compute time for ``n_frames`` on this machine (for ETAs), or None."""
        ...
