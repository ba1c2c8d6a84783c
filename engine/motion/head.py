"""The head's warp: rigid over the head (face, hair, the lip-synced mouth), easing to a still
background and still shoulders.

Built once per portrait: a weight map that is 1 over the head outline (jaw line from the
landmarks, a dome over it for the skull and hair) and falls to 0 with a C1 smoothstep over a
band around it and below the chin, and the basis ``(w*u, w*v, w)`` of the displacement field
(u, v from the pivot) on a coarse grid over the region where the weight is not zero. A frame
then costs a few array operations (the sampling map on the coarse grid), one bilinear
upsampling (the full map) and one ``cv2.remap`` of that region; pixels outside it
are never touched, and nothing is sampled from outside the photo (border pixels repeat), so no
black border and no seam can appear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.geometry import smoothstep
from engine.types import FaceLandmarks, Portrait

__all__ = ["HeadWarp", "head_outline", "head_weight", "pose_matrix"]

_HAIR = 1.2  # skull top above the eye line, in eye-to-chin distances (eyes sit mid-head)
_WIDEN = 1.12  # the jaw outline pushed out from the face centre (ears, chin margin)
_DOME = 1.3  # the skull and hair are this much wider than the widened jaw at the ears
_BAND = 0.5  # falloff width around the head, in head widths
_NECK = 0.55  # the weight reaches 0 this far below the chin, in eye-to-chin distances
_PIVOT = 0.25  # the head turns about a point this far below the chin (eye-to-chin distances)
_SKIP = 0.02  # px: a pose that moves no pixel further than this leaves the frame as it is
_NO_MAP = np.empty(0, np.float32)  # remap's second map: none, the first holds (x, y)
_STEP = 4  # px between the nodes the displacement is computed at (interpolated between)


@dataclass(frozen=True)
class _Face:
    cx: float
    eye_y: float
    chin_y: float

    @property
    def length(self) -> float:  # eye line to chin
        return max(self.chin_y - self.eye_y, 4.0)


def _face(lm: FaceLandmarks) -> _Face:
    eyes = np.concatenate([lm.left_eye, lm.right_eye])
    return _Face(
        cx=float(lm.jaw[:, 0].mean()),
        eye_y=float(eyes[:, 1].mean()),
        chin_y=float(lm.jaw[:, 1].max()),
    )


def head_outline(lm: FaceLandmarks) -> np.ndarray:
    """(N, 2) polygon of the head: the jaw line (widened a little) closed by a wider dome over
    the skull and hair, from ear level up."""
    f = _face(lm)
    centre = np.array([f.cx, f.eye_y])
    jaw = centre + (lm.jaw.astype(np.float64) - centre) * _WIDEN
    if jaw[0, 0] > jaw[-1, 0]:  # left ear first
        jaw = jaw[::-1]
    left, right = jaw[0], jaw[-1]
    mid_x, mid_y = (left[0] + right[0]) / 2, (left[1] + right[1]) / 2
    a = _DOME * abs(right[0] - left[0]) / 2
    b = (mid_y - f.eye_y) + _HAIR * f.length
    theta = np.linspace(0, np.pi, 25)  # from beside the right ear over the top to the left
    dome = np.stack([mid_x + a * np.cos(theta), mid_y - b * np.sin(theta)], axis=1)
    return np.concatenate([jaw, dome])


def pose_matrix(pose: np.ndarray, pivot: tuple[float, float], unit: float) -> np.ndarray:
    """The 2x3 forward affine (photo -> frame) of one pose row about ``pivot``: scale (and the
    nod's vertical squash), then roll, about the pivot, then the shift."""
    roll, x, y, scale, nod = (float(v) for v in pose)
    c, s = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    sx, sy = 1 + scale, (1 + scale) * (1 - nod)
    a, b, cc, d = c * sx, -s * sy, s * sx, c * sy
    px, py = pivot
    tx = px - (a * px + b * py) + x * unit
    ty = py - (cc * px + d * py) + y * unit
    return np.array([[a, b, tx], [cc, d, ty]])


class HeadWarp:
    """Moves the head of one portrait by a pose; everything far from the head stays."""

    def __init__(self, portrait: Portrait) -> None:
        h, w = portrait.image.shape[:2]
        f = _face(portrait.landmarks)
        self.unit = float(portrait.face.h)
        self.pivot = (f.cx, f.chin_y + _PIVOT * f.length)
        weight = head_weight(portrait.landmarks, (h, w))
        ys, xs = np.nonzero(weight > 0)
        if len(ys) == 0:  # a face entirely outside the photo cannot happen; be safe anyway
            ys, xs = np.array([0]), np.array([0])
        self.y0, self.y1 = int(ys.min()), int(ys.max()) + 1
        self.x0, self.x1 = int(xs.min()), int(xs.max()) + 1
        self.weight = weight[self.y0 : self.y1, self.x0 : self.x1]
        self._nodes, self._basis = self._coarse_basis()
        rows, cols = self.weight.shape
        u = np.array([self.x0, self.x0 + cols - 1]) - self.pivot[0]
        v = np.array([self.y0, self.y0 + rows - 1]) - self.pivot[1]
        self._corners = np.array([[a, b] for a in u for b in v])

    def _coarse_basis(self) -> tuple[np.ndarray, np.ndarray]:
        """The sampling map's pieces at the centres of _STEP x _STEP blocks, one block beyond the
        region on every side: the nodes' own coordinates (x, y) and (w*u, w*v, w), u and v
        measured from the pivot.

        The map is affine times a smooth weight, so it is computed on this coarse grid and
        interpolated bilinearly (exact where the weight is 1: inside the head); the extra ring
        of nodes keeps every pixel of the region between node centres."""
        rows, cols = self.weight.shape
        ny, nx = -(-rows // _STEP) + 2, -(-cols // _STEP) + 2
        padded = np.zeros((ny * _STEP, nx * _STEP), np.float32)
        padded[_STEP : _STEP + rows, _STEP : _STEP + cols] = self.weight
        wc = padded.reshape(ny, _STEP, nx, _STEP).mean(axis=(1, 3))
        centre = (_STEP - 1) / 2 - _STEP
        x = self.x0 + _STEP * np.arange(nx) + centre
        y = self.y0 + _STEP * np.arange(ny) + centre
        nodes = np.dstack(np.meshgrid(x, y)).astype(np.float32)
        u, v = x - self.pivot[0], y - self.pivot[1]
        basis = np.dstack([wc * u[None, :], wc * v[:, None], wc]).astype(np.float32)
        return nodes, basis

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1): the only pixels any pose changes."""
        return self.x0, self.y0, self.x1, self.y1

    def displacement(self, pose: np.ndarray) -> np.ndarray | None:
        """The 2x3 coefficients of the backward displacement on ``(w*u, w*v, w)``, or None when
        the pose moves no pixel noticeably."""
        (a, b, tx), (c, d, ty) = pose_matrix(pose, self.pivot, self.unit).tolist()
        det = a * d - b * c
        ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det  # the inverse's linear part
        # backward map q -> inverse (q - t); in pivot-relative r = q - p its displacement is
        # (inverse - I) r + (inverse - I) p - inverse t
        px, py = self.pivot
        coeffs = np.array(
            [
                [ia - 1, ib, (ia - 1) * px + ib * py - (ia * tx + ib * ty)],
                [ic, id_ - 1, ic * px + (id_ - 1) * py - (ic * tx + id_ * ty)],
            ]
        )
        reach = np.abs(self._corners @ coeffs[:, :2].T + coeffs[:, 2]).max()
        return None if reach < _SKIP else coeffs

    def apply(self, frame: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """The frame with the head moved by ``pose``: a new array, or ``frame`` itself when the
        pose moves nothing."""
        import cv2

        coeffs = self.displacement(pose)
        if coeffs is None:
            return frame
        k = coeffs.astype(np.float32)
        wu, wv, w = self._basis[..., 0], self._basis[..., 1], self._basis[..., 2]
        coarse = self._nodes.copy()  # elementwise, not a BLAS call (see displacement)
        coarse[..., 0] += k[0, 0] * wu + k[0, 1] * wv + k[0, 2] * w
        coarse[..., 1] += k[1, 0] * wu + k[1, 1] * wv + k[1, 2] * w
        ny, nx = coarse.shape[:2]
        rows, cols = self.weight.shape
        fine = cv2.resize(coarse, (nx * _STEP, ny * _STEP), interpolation=cv2.INTER_LINEAR)
        maps = fine[_STEP : _STEP + rows, _STEP : _STEP + cols]
        patch = cv2.remap(frame, maps, _NO_MAP, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out = frame.copy()
        out[self.y0 : self.y1, self.x0 : self.x1] = patch
        return out


def head_weight(lm: FaceLandmarks, size: tuple[int, int]) -> np.ndarray:
    """(h, w) float32: 1 over the head outline, easing (C1) to 0 over a band around it and
    below the chin."""
    import cv2

    h, w = size
    f = _face(lm)
    outline = head_outline(lm)
    inside = np.zeros((h, w), np.uint8)
    cv2.fillPoly(inside, [np.round(outline).astype(np.int32)], (1,))
    band = _BAND * float(np.ptp(outline[:, 0]))
    dist = cv2.distanceTransform(1 - inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    weight = smoothstep(1 - dist / band)
    low = float(outline[:, 1].max())  # the widened chin: below it the neck eases to still
    rows = np.arange(h, dtype=np.float32)[:, None]
    neck = _NECK * f.length
    return (weight * smoothstep((low + neck - rows) / neck)).astype(np.float32)
