"""Pasting a generated face crop back into the full-resolution photo, seamlessly.

Shared by the mouth-inpainting backends (Diff2Lip, MuseTalk): each generates the lower half
of a square face crop; ``compose`` keeps the real upper half, and ``Paster`` blends the crop
into the photo with a smooth mask that is exactly zero on the box border and in the upper
half, after matching the generated colours to the photo around the seam. The per-render
parts (box, mask, colour statistics of the photo) are computed once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FACE_HIDE", "FaceCrop", "hide_mask", "compose", "Paster"]

FACE_HIDE = 0.5  # the lower half of the crop is generated


@dataclass(frozen=True)
class FaceCrop:
    """The face box in the portrait and the model-size face (computed once per render)."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in portrait pixels
    face: np.ndarray  # (S, S, 3) float32 in [-1, 1], the reference frame


def hide_mask(size: int) -> np.ndarray:
    """(size, size) float32: 1 on the generated rows (upstream's ``mask``), 0 above."""
    m = np.zeros((size, size), np.float32)
    m[int(size * (1 - FACE_HIDE)) :] = 1.0
    return m


def compose(sample: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Upstream's ``sample * mask + (1 - mask) * image``: generated lower half, real upper."""
    m = hide_mask(face.shape[0])[..., None]
    return sample * m + (1 - m) * face


def _ramp(n: int, a: float, b: float, c: float, d: float) -> np.ndarray:
    """0 before a, smooth rise to 1 at b, 1 until c, smooth fall to 0 at d (fractions)."""
    t = (np.arange(n, dtype=np.float32) + 0.5) / n
    up = np.clip((t - a) / (b - a), 0, 1)
    down = np.clip((d - t) / (d - c), 0, 1)
    s = np.minimum(up, down)
    return s * s * (3 - 2 * s)  # smoothstep: no kink, so no visible line


def _feather(h: int, w: int) -> np.ndarray:
    """Paste weights over the box: mouth and chin, zero on the border and the upper half."""
    rows = _ramp(h, FACE_HIDE + 0.02, 0.64, 0.88, 0.985)
    cols = _ramp(w, 0.05, 0.2, 0.8, 0.95)
    return rows[:, None] * cols[None, :]


class Paster:
    """Blends generated crops into the photo; the per-render parts are computed once."""

    def __init__(self, image: np.ndarray, crop: FaceCrop) -> None:
        x0, y0, x1, y1 = crop.box
        self.image, self.crop = image, crop
        self.size = (x1 - x0, y1 - y0)
        self.src = image[y0:y1, x0:x1].astype(np.float32)
        m = _feather(y1 - y0, x1 - x0)
        self.mask = m[..., None]
        self.base = (1 - self.mask) * self.src
        self.ring = (m > 0.02) & (m < 0.98)
        self.src_mean = self.src[self.ring].mean(0)
        self.src_std = self.src[self.ring].std(0)

    def __call__(self, sample: np.ndarray) -> np.ndarray:
        """A full-size RGB uint8 frame from one (S, S, 3) [-1, 1] model sample."""
        import cv2

        x0, y0, x1, y1 = self.crop.box
        crop = (compose(sample, self.crop.face) + 1.0) * 127.5
        gen: np.ndarray = cv2.resize(crop, self.size, interpolation=cv2.INTER_CUBIC)
        ring = gen[self.ring]
        if len(ring) > 16:  # match colour statistics on the seam (gain bounded)
            gain = np.clip(self.src_std / (ring.std(0) + 1e-3), 0.5, 2.0)
            gen = (gen - ring.mean(0)) * gain + self.src_mean
        out = self.image.copy()
        out[y0:y1, x0:x1] = (self.mask * gen + self.base).clip(0, 255).astype(np.uint8)
        return out
