"""The motion stage: a plan applied to the lip-sync backend's frames, one frame at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

import numpy as np

from engine.types import Portrait

from .eyes import Eyelid
from .head import HeadWarp
from .plan import MotionPlan

__all__ = ["MotionStage", "MotionGeometry"]


class MotionGeometry:
    """What the motion stage builds from the portrait alone: the eyelids and the head's warp,
    each built when a plan first needs it. It depends on no plan, so the engine keeps one per
    photo and an avatar's renders build it once."""

    def __init__(self, portrait: Portrait) -> None:
        self.portrait = portrait
        self._lock = threading.Lock()  # two renders of one photo build each part once
        self._eyes: list[Eyelid] | None = None
        self._head: HeadWarp | None = None

    @property
    def eyes(self) -> list[Eyelid]:
        """The lids of the eyes large enough to blink."""
        with self._lock:
            if self._eyes is None:
                shape, lm = self.portrait.image.shape, self.portrait.landmarks
                built = (Eyelid.build(c, shape) for c in (lm.left_eye, lm.right_eye))
                self._eyes = [e for e in built if e is not None]
            return self._eyes

    @property
    def head(self) -> HeadWarp:
        """The warp that moves the head (a weight map over the photo: the costlier part)."""
        with self._lock:
            if self._head is None:
                self._head = HeadWarp(self.portrait)
            return self._head


class MotionStage:
    """Blinks and head motion for one render of ``portrait``.

    Geometry is built once (or comes made, ``geometry``: the photo's, kept by the engine);
    ``apply`` changes a frame only where the plan says so (a frame with open eyes and the head
    at rest is returned as it came, the very same array), and the lip-synced mouth is carried
    by the same rigid head warp as the rest of the face. ``seconds`` is the time spent here,
    for the render's stage timings.
    """

    def __init__(
        self, portrait: Portrait, plan: MotionPlan, geometry: MotionGeometry | None = None
    ) -> None:
        self.plan = plan
        self.shape = portrait.image.shape
        geometry = geometry or MotionGeometry(portrait)
        self.eyes = geometry.eyes if plan.blink.any() else []
        self.head = geometry.head if plan.pose.any() else None
        self.seconds = 0.0

    def apply(self, frame: np.ndarray, index: int) -> np.ndarray:
        """Frame ``index`` with its blink and head pose (a new array when anything changed)."""
        if frame.shape != self.shape:
            raise ValueError(f"frame {index} has shape {frame.shape}, the photo {self.shape}")
        closure = float(self.plan.blink[index])
        out = frame
        if closure > 0 and self.eyes:
            out = frame.copy()
            for eye in self.eyes:
                eye.close(out, closure)
        if self.head is not None:
            out = self.head.apply(out, self.plan.pose[index])
        return out

    def __call__(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Apply the plan to a stream, lazily; at most ``plan.n_frames`` frames."""
        for index, frame in enumerate(frames):
            if index >= self.plan.n_frames:
                raise ValueError(f"more frames than the motion plan's {self.plan.n_frames}")
            t0 = time.perf_counter()
            out = self.apply(frame, index)
            self.seconds += time.perf_counter() - t0
            yield out
