"""Checks shared by the tests of the mouth-inpainting backends (Diff2Lip, MuseTalk)."""

from __future__ import annotations

import numpy as np

__all__ = ["assert_pasted_seamlessly"]


def assert_pasted_seamlessly(
    frame: np.ndarray, image: np.ndarray, box: tuple[int, int, int, int]
) -> None:
    """The mouth changed; nothing above the middle of the box or on its border did."""
    x0, y0, x1, y1 = box
    changed = np.any(frame != image, axis=-1)
    assert changed[y0 + (y1 - y0) * 3 // 4, (x0 + x1) // 2]  # the mouth is generated
    assert not changed[: (y0 + y1) // 2].any()  # nothing above the middle of the box
    ring = np.ones_like(changed)
    ring[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] = False
    assert not changed[ring].any()  # the box border itself is untouched: no edge
