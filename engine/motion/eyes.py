"""Blinks: the upper eyelid slid down over the eye by warping the skin above it.

Built once per eye from its landmark contour: the lid line (upper half of the contour), the
lower lid, and the band of skin above the lid that stretches down. A blink frame remaps that
small region of the frame it is given (so whatever the lip-sync backend drew is kept): each
column's lid edge, with its lashes, moves from the rest lid toward the lower lid by the
closure, and the skin above follows with a displacement that grows smoothly (quadratically)
from zero, so nothing above the eye moves abruptly.
"""

from __future__ import annotations

import numpy as np

from engine.geometry import contour_halves

__all__ = ["Eyelid"]

_SKIN = 1.4  # skin that slides down: this many eye heights above the lid
_LASH = 0.3  # darkening of the closed lid's edge (the lash line), at full closure


class Eyelid:
    """One eye's upper lid. ``close(frame, closure)`` draws it ``closure`` (0..1) closed."""

    def __init__(
        self, x0: int, y0: int, top: np.ndarray, low: np.ndarray, weight: np.ndarray, rows: int
    ) -> None:
        self.x0, self.y0 = x0, y0
        self.top, self.low, self.weight = top, low, weight  # per column, ROI coordinates
        self.ceil = np.maximum(top - _SKIN * float(np.max(low - top)), 0.0)
        cols = len(top)
        self.gy, self.gx = (a.astype(np.float32) for a in np.mgrid[0:rows, 0:cols])

    @classmethod
    def build(cls, contour: np.ndarray, image_shape: tuple[int, ...]) -> Eyelid | None:
        """The lid of the eye outlined by ``contour``, or None when the eye is too small."""
        h, w = image_shape[:2]
        upper, lower = contour_halves(contour.astype(np.float64))
        left, right = float(contour[:, 0].min()), float(contour[:, 0].max())
        width = right - left
        height = max(float(lower[:, 1].max() - upper[:, 1].min()), 2.0)
        if width < 4:
            return None
        x0, x1 = int(max(0, left - 0.2 * width)), int(min(w, right + 0.2 * width + 1))
        y0 = int(max(0, upper[:, 1].min() - (_SKIN + 0.3) * height))
        y1 = int(min(h, lower[:, 1].max() + 0.6 * height + 1))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        cols = np.arange(x0, x1, dtype=np.float64)
        top = np.interp(cols, upper[:, 0], upper[:, 1]) - y0
        low = np.interp(cols, lower[:, 0], lower[:, 1]) - y0
        weight = np.sin(np.pi * np.clip((cols - left) / width, 0, 1)) ** 0.6
        return cls(x0, y0, top, np.maximum(low, top), weight, y1 - y0)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1): the only pixels a blink changes."""
        rows, cols = self.gy.shape
        return self.x0, self.y0, self.x0 + cols, self.y0 + rows

    def close(self, frame: np.ndarray, closure: float) -> None:
        """Draw the lid ``closure`` closed into ``frame`` (modified in place)."""
        import cv2

        x0, y0, x1, y1 = self.box
        # how far each column's lid edge travels, kept below the skin band (no folding)
        drop = np.minimum(
            closure * self.weight * (self.low - self.top), 0.9 * (self.top - self.ceil)
        )
        lid = self.top + drop
        span = np.maximum(lid - self.ceil, 1e-3)
        u = np.clip((self.gy - self.ceil) / span, 0, 1)
        covered = (self.gy >= self.ceil) & (self.gy <= lid)
        map_y = np.where(covered, self.gy - drop * u * u, self.gy).astype(np.float32)
        patch = cv2.remap(
            frame[y0:y1, x0:x1], self.gx, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        ).astype(np.float32)
        lash = np.exp(-(((self.gy - lid) / 1.5) ** 2)) * (closure * _LASH) * self.weight
        patch *= (1 - lash)[..., None]
        frame[y0:y1, x0:x1] = np.clip(patch + 0.5, 0, 255).astype(np.uint8)
