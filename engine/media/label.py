"""A visible caption (e.g. "AI-generated") burnt into every frame.

The label is rasterised once (Pillow's built-in font, no font files needed) into an
RGBA patch; each frame only alpha-blends that small patch in a corner.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Label", "POSITIONS", "DEFAULT_TEXT", "find_label", "FOUND"]

#: the corners a label may sit in; the first is the default
POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")
DEFAULT_TEXT = "AI-generated"
#: find_label's score above which the caption is there (measured: our own videos score
#: 0.9 and more after re-encoding and resizing, unlabelled frames 0.3 and less; see
#: bench/marks.py)
FOUND = 0.6
#: resize factors find_label tries (a video downscaled to a quarter, up to one upscaled 2.5x)
_SCALES = (1.0, 0.25, 0.33, 0.4, 0.5, 0.6, 0.75, 0.875, 1.15, 1.33, 1.5, 1.75, 2.0, 2.5)


class Label:
    """A pre-rendered caption for frames of ``size`` = (width, height)."""

    def __init__(self, text: str, *, size: tuple[int, int], position: str = POSITIONS[0]) -> None:
        if position not in POSITIONS:
            raise ValueError(
                f"label position must be one of {', '.join(POSITIONS)}, not {position!r}"
            )
        width, height = size
        patch = _render(text, font_px=max(12, round(min(width, height) * 0.035)))
        ph, pw = patch.shape[:2]
        margin = max(4, round(min(width, height) * 0.02))
        if pw + 2 * margin > width or ph + 2 * margin > height:
            raise ValueError(f"label {text!r} does not fit a {width}x{height} frame")
        x = width - pw - margin if position.endswith("right") else margin
        y = height - ph - margin if position.startswith("bottom") else margin
        self.box = (x, y, pw, ph)
        self._rgb = patch[..., :3].astype(np.float32)
        self._alpha = patch[..., 3:].astype(np.float32) / 255.0

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Blend the label into ``frame`` (in place when writable) and return it."""
        x, y, w, h = self.box
        if not frame.flags.writeable:
            frame = frame.copy()
        region = frame[y : y + h, x : x + w].astype(np.float32)
        frame[y : y + h, x : x + w] = (region * (1 - self._alpha) + self._rgb * self._alpha).astype(
            np.uint8
        )
        return frame


def _render(text: str, *, font_px: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=font_px)
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    pad = max(3, font_px // 3)
    w, h = int(right - left + 2 * pad), int(bottom - top + 2 * pad)
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=pad, fill=(0, 0, 0, 150))
    draw.text((pad - left, pad - top), text, font=font, fill=(255, 255, 255, 235))
    return np.asarray(img)


def find_label(frame: np.ndarray, text: str = DEFAULT_TEXT) -> tuple[str | None, float]:
    """Where the caption ``text`` sits in ``frame`` (RGB uint8) and how sure: (position,
    score), the position None when no corner scores above :data:`FOUND`.

    The caption is drawn again at the sizes a frame of this size (or one resized from it)
    would carry, and looked for near each corner by normalised correlation of brightness
    (light letters on a dark box, whatever lies behind them)."""
    import cv2

    height, width = frame.shape[:2]
    short = min(width, height)
    if short < 64:
        return None, 0.0
    gray = frame[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    best: tuple[str | None, float] = (None, 0.0)
    # the video may have been resized by a factor f since it was made: draw the caption as
    # the original frame carried it, then resize it as the frame was
    for f in _SCALES:
        patch = _render(text, font_px=max(12, round(short / f * 0.035)))
        if f != 1.0:
            from PIL import Image

            size = (max(1, round(patch.shape[1] * f)), max(1, round(patch.shape[0] * f)))
            patch = np.asarray(Image.fromarray(patch).resize(size, Image.Resampling.BILINEAR))
        ph, pw = patch.shape[:2]
        alpha = patch[..., 3].astype(np.float32) / 255.0
        model = 128 * (1 - alpha) + patch[..., 0].astype(np.float32) * alpha  # over mid-grey
        # the corner regions: the caption and its margin, with room for rounding
        rh, rw = min(height, ph + round(short * 0.06) + 8), min(width, pw + round(short * 0.06) + 8)
        if rh <= ph or rw <= pw:
            continue
        corners = {
            "bottom-right": gray[height - rh :, width - rw :],
            "bottom-left": gray[height - rh :, :rw],
            "top-right": gray[:rh, width - rw :],
            "top-left": gray[:rh, :rw],
        }
        for position, region in corners.items():
            scores = cv2.matchTemplate(np.ascontiguousarray(region), model, cv2.TM_CCOEFF_NORMED)
            score = float(np.nan_to_num(scores).max())
            if score > best[1]:
                best = (position, score)
    found, score = best
    return (found if score > FOUND else None), max(0.0, score)
