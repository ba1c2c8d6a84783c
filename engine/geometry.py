"""Plane geometry on face landmarks, shared by the lip-sync backends and the motion stage."""

from __future__ import annotations

import numpy as np

__all__ = ["contour_halves", "smoothstep"]


def smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, a C1 S-curve between: weights that leave no seam."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def contour_halves(ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a closed contour at its leftmost and rightmost points into (upper, lower) halves,
    each sorted by x."""
    i, j = int(np.argmin(ring[:, 0])), int(np.argmax(ring[:, 0]))
    n = len(ring)
    a = np.array([ring[(i + k) % n] for k in range((j - i) % n + 1)])
    b = np.array([ring[(j + k) % n] for k in range((i - j) % n + 1)])
    upper, lower = (a, b) if a[:, 1].mean() < b[:, 1].mean() else (b, a)
    return upper[np.argsort(upper[:, 0])], lower[np.argsort(lower[:, 0])]
