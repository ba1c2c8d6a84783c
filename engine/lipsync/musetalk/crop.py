"""MuseTalk's face crop, placed from the landmarks the engine found once per photo.

Upstream (``get_landmark_and_bbox`` with ``bbox_shift`` 0, then v1.5's ``extra_margin``)
takes the 68-point landmarks' horizontal extent, the lowest point (the chin) as the bottom
and point 29 (on the nose bridge, two thirds of the way from between the eyes to the nose
tip) as the crop's vertical middle: the generated lower half starts there. v1.5 then moves
the bottom 10 px further down (clipped to the frame). The box is resized to 256 x 256
without keeping the aspect ratio. Point 29 is placed from the portrait's eye contours and
nose tip; a box that reaches past the photo's top or sides is filled from the photo's edge
pixels (upstream would index out of the frame there).
"""

from __future__ import annotations

import numpy as np

from engine.lipsync.paste import FaceCrop
from engine.types import Portrait

from .config import CROP, EXTRA_MARGIN

__all__ = ["face_box", "frame_face"]


def face_box(portrait: Portrait, extra_margin: int = EXTRA_MARGIN) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 in portrait pixels; y0 and x0/x1 may lie outside the photo."""
    lm = portrait.landmarks
    eyes = np.concatenate([lm.left_eye, lm.right_eye])
    points = np.concatenate([lm.jaw, eyes, lm.outer_lips]).astype(np.int32)  # upstream: int32
    between_eyes_y = float(eyes[:, 1].mean())
    mid = int(between_eyes_y + (lm.nose_tip[1] - between_eyes_y) * 2 / 3)  # point 29
    x0, x1 = int(points[:, 0].min()), int(points[:, 0].max())
    chin = int(points[:, 1].max())
    y0 = mid - (chin - mid)
    y1 = min(chin + extra_margin, portrait.image.shape[0])
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ValueError(f"face box too small: {(x0, y0, x1, y1)}")
    return x0, y0, x1, y1


def frame_face(portrait: Portrait) -> tuple[np.ndarray, FaceCrop, tuple[int, int, int, int]]:
    """(image to paste into, the crop, (top, left, height, width) of the photo inside it).

    The crop's face is the box resized to 256 x 256 with Lanczos (upstream's), RGB in [-1, 1].
    """
    import cv2

    h, w = portrait.image.shape[:2]
    x0, y0, x1, y1 = face_box(portrait)
    top, left, right = max(0, -y0), max(0, -x0), max(0, x1 - w)
    image = portrait.image
    if top or left or right:
        image = np.pad(image, ((top, 0), (left, right), (0, 0)), mode="edge")
    box = (x0 + left, y0 + top, x1 + left, y1 + top)
    region = image[box[1] : box[3], box[0] : box[2]]
    face = cv2.resize(region, (CROP, CROP), interpolation=cv2.INTER_LANCZOS4).astype(np.float32)
    return image, FaceCrop(box, face / 127.5 - 1.0), (top, left, h, w)
