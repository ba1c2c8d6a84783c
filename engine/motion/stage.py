"""The motion stage: a plan applied to the lip-sync backend's frames, one frame at a time."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import numpy as np

from engine.types import Portrait

from .eyes import Eyelid
from .head import HeadWarp
from .plan import MotionPlan

__all__ = ["MotionStage"]


class MotionStage:
    """Blinks and head motion for one render of ``portrait``.

    Geometry is built once; ``apply`` changes a frame only where the plan says so (a frame with
    open eyes and the head at rest is returned as it came, the very same array), and the
    lip-synced mouth is carried by the same rigid head warp as the rest of the face.
    ``seconds`` is the time spent here, for the render's stage timings.
    """

    def __init__(self, portrait: Portrait, plan: MotionPlan) -> None:
        self.plan = plan
        self.shape = portrait.image.shape
        lm = portrait.landmarks
        self.eyes: list[Eyelid] = []
        if plan.blink.any():
            built = (Eyelid.build(c, self.shape) for c in (lm.left_eye, lm.right_eye))
            self.eyes = [e for e in built if e is not None]
        self.head = HeadWarp(portrait) if plan.pose.any() else None
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
