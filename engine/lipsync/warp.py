"""Landmark-driven mouth animation of the still photo, with blinks and slight head motion.

Embedded CPU default: needs no model files. Everything that does not change per frame
(regions, displacement weight maps, eyelid geometry) is built once per portrait; a frame
costs one remap of the lower-face region, a painted mouth interior, and (when enabled)
eyelid warps and one global affine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.lipsync.visemes import energy_track, mouth_track
from engine.settings import EngineSettings
from engine.types import FaceLandmarks, Portrait, RenderOptions, Speech

__all__ = ["WarpBackend", "check"]

_JAW_DROP = 0.24  # lower-lip drop at full opening, as a share of the mouth width
_UPPER_LIFT = 0.15  # upper-lip lift as a share of the drop
_SPREAD = 0.10  # corner displacement at full spread, share of mouth width
_BLINK = (0.45, 0.9, 1.0, 0.75, 0.4, 0.12)  # eyelid closure per frame at 25 fps
_SECONDS_PER_FRAME = 0.004  # measured on a 2-core x86 machine at 512 px; for ETAs only


def check(settings: EngineSettings) -> str | None:
    """Why this backend cannot run here, or None."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        return "OpenCV is not installed: pip install opencv-contrib-python"
    return None


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


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


@dataclass
class _Eye:
    x0: int
    y0: int
    src: np.ndarray
    gx: np.ndarray
    gy: np.ndarray
    top: np.ndarray  # per column: upper-lid y (ROI coords)
    low: np.ndarray  # per column: lower-lid y
    ceil: np.ndarray  # per column: top of the skin that slides down
    weight: np.ndarray  # per column: 0 at the corners, 1 in the middle


def _contour_halves(ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a closed contour at its leftmost and rightmost points into (upper, lower)."""
    i, j = int(np.argmin(ring[:, 0])), int(np.argmax(ring[:, 0]))
    n = len(ring)
    a = [ring[(i + k) % n] for k in range((j - i) % n + 1)]
    b = [ring[(j + k) % n] for k in range((i - j) % n + 1)]
    a_arr, b_arr = np.array(a), np.array(b)
    upper, lower = (a_arr, b_arr) if a_arr[:, 1].mean() < b_arr[:, 1].mean() else (b_arr, a_arr)
    return upper[np.argsort(upper[:, 0])], lower[np.argsort(lower[:, 0])]


def _build_mouth(image: np.ndarray, lm: FaceLandmarks) -> _Mouth:
    h, w = image.shape[:2]
    up_in, lo_in = _contour_halves(lm.inner_lips.astype(np.float64))
    up_out, lo_out = _contour_halves(lm.outer_lips.astype(np.float64))
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
    ty = _smoothstep((gy - y0) / (0.15 * (y1 - y0))) * _smoothstep((y1 - gy) / (0.12 * (y1 - y0)))
    tx = _smoothstep((gx - x0) / (0.15 * (x1 - x0))) * _smoothstep((x1 - gx) / (0.15 * (x1 - x0)))
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


def _build_eye(image: np.ndarray, contour: np.ndarray) -> _Eye | None:
    h, w = image.shape[:2]
    upper, lower = _contour_halves(contour.astype(np.float64))
    left, right = float(contour[:, 0].min()), float(contour[:, 0].max())
    ew = right - left
    if ew < 4:
        return None
    eh = max(float(lower[:, 1].max() - upper[:, 1].min()), 2.0)
    x0, x1 = int(max(0, left - 0.2 * ew)), int(min(w, right + 0.2 * ew + 1))
    y0, y1 = (
        int(max(0, upper[:, 1].min() - 1.6 * eh)),
        int(min(h, lower[:, 1].max() + 0.6 * eh + 1)),
    )
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    cols = np.arange(x0, x1, dtype=np.float64)
    top = np.interp(cols, upper[:, 0], upper[:, 1]) - y0
    low = np.interp(cols, lower[:, 0], lower[:, 1]) - y0
    span = np.clip((cols - left) / ew, 0, 1)
    weight = np.sin(np.pi * span) ** 0.6
    ceil = top - 1.4 * eh
    return _Eye(
        x0,
        y0,
        image[y0:y1, x0:x1].astype(np.float32),
        gx,
        gy,
        top,
        low,
        np.maximum(ceil, 0),
        weight,
    )


def _render_eye(e: _Eye, closure: float) -> np.ndarray:
    import cv2

    yy = e.gy - e.y0
    lid = e.top + closure * (e.low - e.top) * e.weight  # the moving lid line per column
    # skin between ceil and the rest lid stretches down to cover ceil..lid
    frac = np.clip((yy - e.ceil[None, :]) / np.maximum(lid - e.ceil, 1e-3)[None, :], 0, 1)
    src_y = e.ceil[None, :] + frac * (e.top - e.ceil)[None, :]
    covered = (yy >= e.ceil[None, :]) & (yy <= lid[None, :])
    map_y = np.where(covered, src_y, yy)
    out = cv2.remap(
        e.src,
        (e.gx - e.x0).astype(np.float32),
        map_y.astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    lash = np.exp(-(((yy - lid[None, :]) / 1.2) ** 2)) * closure * e.weight[None, :] * 0.35
    return out * (1 - lash[..., None])


def _blink_schedule(n_frames: int, fps: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 7919)
    closure = np.zeros(n_frames)
    t = rng.uniform(0.8, 2.5)
    profile = np.array(_BLINK)
    if fps != 25:  # resample the 25 fps profile
        profile = np.interp(np.arange(0, len(_BLINK), 25 / fps), np.arange(len(_BLINK)), _BLINK)
    while True:
        start = int(t * fps)
        if start >= n_frames:
            return closure
        end = min(n_frames, start + len(profile))
        closure[start:end] = np.maximum(closure[start:end], profile[: end - start])
        t += rng.uniform(2.0, 6.0)


def _head_motion(
    n_frames: int, fps: int, seed: int, energy: np.ndarray, scale: float
) -> np.ndarray:
    """(n, 3): rotation (degrees), dx, dy (px); slow, small, seeded, livelier while speaking."""
    rng = np.random.default_rng(seed + 104729)
    t = np.arange(n_frames) / fps
    out = np.zeros((n_frames, 3))
    for k, amp in enumerate((0.6, 0.012 * scale, 0.010 * scale)):
        freqs = rng.uniform(0.07, 0.35, 3)
        phases = rng.uniform(0, 2 * np.pi, 3)
        wave = sum(np.sin(2 * np.pi * f * t + p) for f, p in zip(freqs, phases, strict=True)) / 3
        out[:, k] = amp * wave
    nod = np.convolve(energy, np.ones(6) / 6, mode="same")
    out[:, 2] += 0.006 * scale * nod
    return out


class WarpBackend:
    """Animates the portrait's mouth from the speech; blinks; slight head motion."""

    name = "warp"

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings

    def estimate_seconds(self, n_frames: int, options: RenderOptions) -> float:
        return n_frames * _SECONDS_PER_FRAME

    def frames(
        self, portrait: Portrait, speech: Speech, *, n_frames: int, options: RenderOptions
    ) -> Iterator[np.ndarray]:
        """Yield ``n_frames`` frames, lazily."""
        import cv2

        fps = options.fps
        image = portrait.image
        track = mouth_track(speech.audio, speech.phonemes, n_frames, fps)
        mouth = _build_mouth(image, portrait.landmarks)
        eyes = [
            e
            for e in (
                _build_eye(image, portrait.landmarks.left_eye),
                _build_eye(image, portrait.landmarks.right_eye),
            )
            if e is not None
        ]
        blinks = (
            _blink_schedule(n_frames, fps, options.seed) if options.blinks else np.zeros(n_frames)
        )
        motion = None
        if options.head_motion:
            motion = _head_motion(
                n_frames,
                fps,
                options.seed,
                energy_track(speech.audio, n_frames, fps),
                float(portrait.face.h),
            )
        pivot = (
            float(portrait.landmarks.jaw[:, 0].mean()),
            float(portrait.landmarks.jaw[:, 1].max()),
        )
        h, w = image.shape[:2]
        for i in range(n_frames):
            frame = image.copy()
            opening, spread = float(track.open[i]), float(track.spread[i])
            if opening > 0 or spread != 0:
                patch = _render_mouth(mouth, opening, spread)
                ph, pw = patch.shape[:2]
                frame[mouth.y0 : mouth.y0 + ph, mouth.x0 : mouth.x0 + pw] = np.clip(
                    patch + 0.5, 0, 255
                ).astype(np.uint8)
            if blinks[i] > 0:
                for eye in eyes:
                    patch = _render_eye(eye, float(blinks[i]))
                    ph, pw = patch.shape[:2]
                    frame[eye.y0 : eye.y0 + ph, eye.x0 : eye.x0 + pw] = np.clip(
                        patch + 0.5, 0, 255
                    ).astype(np.uint8)
            if motion is not None:
                rot, tx, ty = motion[i]
                matrix = np.asarray(cv2.getRotationMatrix2D(pivot, rot, 1.0), np.float64)
                matrix[:, 2] += (tx, ty)
                frame = cv2.warpAffine(
                    frame, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
                )
            yield frame


def measure_frame_seconds(portrait: Portrait, speech: Speech, n_frames: int = 100) -> float:
    """Mean seconds per frame on this machine (used by benchmarks)."""
    backend = WarpBackend(EngineSettings())
    t0 = time.perf_counter()
    for _ in backend.frames(portrait, speech, n_frames=n_frames, options=RenderOptions()):
        pass
    return (time.perf_counter() - t0) / n_frames
