"""Diff2Lip's face crop (built once per render); the paste-back lives in engine.lipsync.paste.

Upstream (``generate.py`` with ``--pads 0,0,0,0 --is_voxceleb2=False``) crops the face
detector's box as it is, forehead to chin, and resizes it to 128 x 128 without keeping the
aspect ratio; the lower half (``face_hide_percentage`` 0.5) is generated and the result is
resized back into the box. Here the box comes from the portrait's landmarks (eyes, jaw)
placed the way an S3FD box sits on a face, or from the detector box when only that is
known. The paste (``Paster``, shared with MuseTalk) is feathered with a smooth mask that is
exactly zero on the box border and in the upper half, after matching the generated colours
to the photo around the seam.
"""

from __future__ import annotations

import numpy as np

from engine.lipsync.paste import FaceCrop, Paster, compose, hide_mask
from engine.types import Portrait

__all__ = ["FaceCrop", "make_crop", "face_box", "hide_mask", "compose", "Paster"]


def face_box(portrait: Portrait) -> tuple[int, int, int, int]:
    """Forehead-to-chin box like a face detector's (S3FD) with pads 0: x0, y0, x1, y1."""
    h, w = portrait.image.shape[:2]
    lm = portrait.landmarks
    if lm.source == "mediapipe":
        eye_y = float(np.concatenate([lm.left_eye, lm.right_eye])[:, 1].mean())
        chin_y = float(lm.jaw[:, 1].max())
        d = max(1.0, chin_y - eye_y)
        x0, x1 = float(lm.jaw[:, 0].min()), float(lm.jaw[:, 0].max())
        y0, y1 = eye_y - 0.47 * d, chin_y + 0.03 * d
    else:  # the detector's own box
        f = portrait.face
        x0, y0, x1, y1 = f.x, f.y, f.x + f.w, f.y + f.h
    bx0, by0 = int(max(0, round(x0))), int(max(0, round(y0)))
    bx1, by1 = int(min(w, round(x1))), int(min(h, round(y1)))
    if bx1 - bx0 < 8 or by1 - by0 < 8:
        raise ValueError(f"face box too small: {(bx0, by0, bx1, by1)}")
    return bx0, by0, bx1, by1


def make_crop(portrait: Portrait, size: int) -> FaceCrop:
    """The face box resized to ``size`` x ``size`` (aspect not kept, as upstream), [-1, 1]."""
    import cv2

    x0, y0, x1, y1 = face_box(portrait)
    region = portrait.image[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if (x1 - x0) > size else cv2.INTER_CUBIC
    face = cv2.resize(region, (size, size), interpolation=interp).astype(np.float32)
    return FaceCrop((x0, y0, x1, y1), face / 127.5 - 1.0)
