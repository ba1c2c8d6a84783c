"""A visible caption (e.g. "AI-generated") burnt into every frame.

The label is rasterised once (Pillow's built-in font, no font files needed) into an
RGBA patch; each frame only alpha-blends that small patch in a corner.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Label", "POSITIONS", "DEFAULT_TEXT"]

#: the corners a label may sit in; the first is the default
POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")
DEFAULT_TEXT = "AI-generated"


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
