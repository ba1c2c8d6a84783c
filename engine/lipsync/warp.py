"""Landmark-driven mouth animation of the still photo.

Embedded CPU default: needs no model files. Everything that does not change per frame
(region, displacement weight maps) is built once per portrait and kept for the photo's next
render (``WarpBackend.portraits``); a frame costs one remap of the lower-face region and a
painted mouth interior. Blinks and head motion are not drawn here: the pipeline's motion
stage (``engine.motion``) adds them to every backend's frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.avatars import PortraitWork
from engine.geometry import contour_halves, smoothstep
from engine.lipsync.visemes import mouth_track
from engine.settings import EngineSettings
from engine.types import FaceLandmarks, Portrait, RenderOptions, Speech

__all__ = ["WarpBackend", "check"]

_JAW_DROP = 0.24  # lower-lip drop at full opening, as a share of the mouth width
_UPPER_LIFT = 0.15  # upper-lip lift as a share of the drop
_SPREAD = 0.10  # corner displacement at full spread, share of mouth width
_SECONDS_PER_FRAME = 0.004  # measured on a 2-core x86 machine at 512 px; for ETAs only


def check(settings: EngineSettings) -> str | None:
    """Why this backend cannot run here, or None."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        return "OpenCV is not installed: pip install opencv-contrib-python"
    return None


@dataclass
class _Mouth:
    """Precomputed lower-face geometry in region-of-interest coordinates."""

    x0: int
    y0: int
    src: np.ndarray  # ROI pixels, float32
    gx: np.ndarray  # pixel grids (float32)
    gy: np.ndarray
    below: np.ndarray  # bool: pixel is below the lips' rest split line
    lower: np.ndarray  # weight of the jaw drop
    upper: np.ndarray  # weight of the upper-lip lift
    side: np.ndarray  # horizontal spread weight (signed)
    cols: np.ndarray  # x of each ROI column
    split: np.ndarray  # rest split-line y per column (ROI coords)
    lens: np.ndarray  # opening profile per column: 0 at the corners, 1 in the middle
    top_inner: np.ndarray  # rest y of the upper inner lip per column
    bottom_inner: np.ndarray  # rest y of the lower inner lip per column
    u: np.ndarray  # normalised column position: -1 left corner, +1 right corner
    mw: float  # mouth width (px)
    dark: np.ndarray  # RGB of the mouth interior
    teeth_hint: float  # 0..1: how much painted teeth to show (none when the photo shows teeth)
    teeth: np.ndarray  # RGB of the teeth hint
    tongue: np.ndarray  # RGB of the tongue


def _build_mouth(image: np.ndarray, lm: FaceLandmarks) -> _Mouth:
    h, w = image.shape[:2]
    up_in, lo_in = contour_halves(lm.inner_lips.astype(np.float64))
    up_out, lo_out = contour_halves(lm.outer_lips.astype(np.float64))
    left, right = float(lm.outer_lips[:, 0].min()), float(lm.outer_lips[:, 0].max())
    mw = max(right - left, 8.0)
    cx = (left + right) / 2
    chin_y = float(lm.jaw[:, 1].max())
    nose_y = float(lm.nose_tip[1])
    mouth_y = float(lm.outer_lips[:, 1].mean())
    # region: nose to below the chin, 1.4 mouth widths either side of the centre
    x0, x1 = int(max(0, cx - 1.4 * mw)), int(min(w, cx + 1.4 * mw))
    y0 = int(max(0, nose_y + 0.25 * (mouth_y - nose_y)))
    y1 = int(min(h, chin_y + 0.35 * (chin_y - mouth_y) + _JAW_DROP * mw))
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    cols = np.arange(x0, x1, dtype=np.float64)
    top_inner = np.interp(cols, up_in[:, 0], up_in[:, 1])
    bottom_inner = np.interp(cols, lo_in[:, 0], lo_in[:, 1])
    split = (top_inner + bottom_inner) / 2
    u = (cols - cx) / (mw / 2)
    lens = np.cos(np.pi / 2 * np.clip(np.abs(u), 0, 1)) ** 0.7
    wide = np.exp(-((u / 1.9) ** 4))  # the chin moves as a whole, wider than the mouth
    yy = gy - y0
    rel_split = split[None, :] - y0
    below = yy >= rel_split
    t = np.clip((gy - split[None, :]) / max(chin_y - mouth_y, 1.0), 0, 1)
    lower = lens[None, :] * (1 - t) + wide[None, :] * t
    under_chin = np.clip((gy - chin_y) / (0.3 * (chin_y - mouth_y) + 1e-6), 0, None)
    lower = lower * np.exp(-(under_chin**2) * 2.5)
    lip_h = max(float(lo_out[:, 1].max() - up_out[:, 1].min()), 4.0)
    above = np.clip((split[None, :] - gy) / (1.2 * lip_h), 0, None)
    upper = lens[None, :] * np.exp(-(above**2) * 2.0)
    corner = np.exp(-(((np.abs(u) - 1.0) / 0.55) ** 2))
    side = (
        np.sign(u)[None, :]
        * corner[None, :]
        * np.exp(-(((gy - split[None, :]) / (0.35 * mw)) ** 2))
    )
    # taper everything to zero at the region's border: no seam can appear there
    ty = smoothstep((gy - y0) / (0.15 * (y1 - y0))) * smoothstep((y1 - gy) / (0.12 * (y1 - y0)))
    tx = smoothstep((gx - x0) / (0.15 * (x1 - x0))) * smoothstep((x1 - gx) / (0.15 * (x1 - x0)))
    taper = (ty * tx).astype(np.float32)
    lip_color = _mean_color(image, lm.outer_lips)
    dark = np.clip(lip_color * 0.22 + np.array([42, 12, 14]), 0, 255)
    rest_gap = float(np.median((bottom_inner - top_inner)[np.abs(u) < 0.5]))
    teeth_hint = float(np.clip(1 - rest_gap / (0.08 * mw), 0, 1))  # photo shows no teeth: hint some
    return _Mouth(
        x0=x0,
        y0=y0,
        src=image[y0:y1, x0:x1].astype(np.float32),
        gx=gx,
        gy=gy,
        below=below,
        lower=(lower * taper).astype(np.float32),
        upper=(upper * taper).astype(np.float32),
        side=(side * taper).astype(np.float32),
        cols=cols,
        split=split - y0,
        lens=lens,
        top_inner=top_inner - y0,
        bottom_inner=bottom_inner - y0,
        u=u,
        mw=mw,
        dark=dark.astype(np.float32),
        teeth_hint=teeth_hint,
        teeth=np.array([222, 216, 204], np.float32),
        tongue=np.clip(lip_color * 0.75 + np.array([30, 0, 0]), 0, 255).astype(np.float32),
    )


def _mean_color(image: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    import cv2

    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], (1,))
    if mask.sum() == 0:
        return np.array([150.0, 80.0, 80.0])
    return image[mask.astype(bool)].astype(np.float64).mean(axis=0)


def _render_mouth(m: _Mouth, opening: float, spread: float) -> np.ndarray:
    import cv2

    drop = opening * _JAW_DROP * m.mw
    dx = spread * _SPREAD * m.mw
    map_x = m.gx - dx * m.side
    map_y = np.where(m.below, m.gy - drop * m.lower, m.gy + _UPPER_LIFT * drop * m.upper)
    out = cv2.remap(
        m.src,
        (map_x - m.x0).astype(np.float32),
        (map_y - m.y0).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if drop < 0.5:
        return out
    # the opening between the moved inner lips: painted mouth interior
    # the photo's own teeth (between the inner lips at rest) travel with their lips; only the
    # new gap at the rest split line is painted
    top = m.split - _UPPER_LIFT * drop * m.lens
    bottom = m.split + drop * m.lens
    yy = m.gy - m.y0
    gap = np.maximum(bottom - top, 1e-3)[None, :]
    inside = np.clip(yy - top[None, :] + 0.5, 0, 1) * np.clip(bottom[None, :] - yy + 0.5, 0, 1)
    inside *= (m.lens > 0.02)[None, :]
    if not inside.any():
        return out
    depth = np.clip((yy - top[None, :]) / gap, 0, 1)
    shade = 0.55 + 0.45 * np.abs(depth - 0.45) / 0.55  # darkest a little above the middle
    shade *= 0.75 + 0.25 * np.abs(m.u)[None, :].clip(0, 1)  # and toward the back (middle)
    interior = m.dark[None, None, :] * shade[..., None]
    tooth_h = min(0.09 * m.mw, 0.55 * float(gap.max()))
    teeth = np.clip(1 - (yy - top[None, :]) / max(tooth_h, 1.0), 0, 1) * (yy >= top[None, :] - 0.5)
    teeth = teeth * np.clip(1.6 - 1.5 * np.abs(m.u), 0, 1)[None, :] * min(1.0, opening * 1.8) * 0.8
    teeth = teeth * m.teeth_hint
    interior = (
        interior * (1 - teeth[..., None])
        + m.teeth * (0.8 + 0.2 * (1 - depth[..., None])) * teeth[..., None]
    )
    if opening > 0.5:
        tongue = np.clip((depth - 0.72) / 0.28, 0, 1) * np.clip(1.2 - np.abs(m.u), 0, 1)[None, :]
        tongue *= (opening - 0.5) * 1.2
        interior = (
            interior * (1 - tongue[..., None]) + m.tongue * tongue[..., None] * shade[..., None]
        )
    alpha = inside[..., None]
    return out * (1 - alpha) + interior * alpha


class WarpBackend:
    """Animates the portrait's mouth from the speech (blinks and head motion come after)."""

    name = "warp"

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        # the mouth's geometry, kept per photo: an avatar's next render does not build it again
        self.portraits: PortraitWork[_Mouth] = PortraitWork(settings.avatar_cache)

    def estimate_seconds(self, n_frames: int, options: RenderOptions) -> float:
        return n_frames * _SECONDS_PER_FRAME

    def frames(
        self, portrait: Portrait, speech: Speech, *, n_frames: int, options: RenderOptions
    ) -> Iterator[np.ndarray]:
        """Yield ``n_frames`` frames, lazily."""
        fps = options.fps
        image = portrait.image
        track = mouth_track(speech.audio, speech.phonemes, n_frames, fps)
        mouth = self.portraits.get(portrait, lambda p: _build_mouth(p.image, p.landmarks))
        for i in range(n_frames):
            frame = image.copy()
            opening, spread = float(track.open[i]), float(track.spread[i])
            if opening > 0 or spread != 0:
                patch = _render_mouth(mouth, opening, spread)
                ph, pw = patch.shape[:2]
                frame[mouth.y0 : mouth.y0 + ph, mouth.x0 : mouth.x0 + pw] = np.clip(
                    patch + 0.5, 0, 255
                ).astype(np.uint8)
            yield frame
