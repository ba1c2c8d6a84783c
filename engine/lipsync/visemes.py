"""Mouth shape over time from speech: visemes from phoneme timings, shaped by audio energy.

The track has two numbers per video frame: ``open`` in [0, 1] (jaw drop) and ``spread`` in
[-1, 1] (negative: rounded lips, positive: spread lips). Silence gives exactly zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.types import Audio, Segment

__all__ = ["MouthTrack", "viseme", "energy_track", "mouth_track"]

# (open, spread) per viseme class.
_CLOSED, _LIPTEETH = (0.0, 0.0), (0.12, 0.15)
_OPEN, _MID, _SPREAD, _ROUND = (1.0, 0.15), (0.65, 0.3), (0.38, 0.75), (0.5, -0.75)
_DENTAL, _VELAR, _POSTALV, _R, _H = (
    (0.25, 0.2),
    (0.35, 0.1),
    (0.28, -0.35),
    (0.3, -0.3),
    (0.45, 0.0),
)

# espeak-ng phoneme mnemonics (English, and those of French, German, Spanish, Italian,
# Portuguese and Dutch that English lacks; a symbol means the same sound in every language).
_ESPEAK: dict[str, tuple[float, float]] = {
    **dict.fromkeys(["p", "b", "m", "p#", "b#"], _CLOSED),
    **dict.fromkeys(["f", "v"], _LIPTEETH),
    **dict.fromkeys(["a", "a:", "A", "A:", "aI", "aU", "a#", "A@", "0", "Q"], _OPEN),
    **dict.fromkeys(
        ["E", "e", "e:", "eI", "E@", "@", "@L", "@2", "3", "3:", "V", "a2", "e@"], _MID
    ),
    **dict.fromkeys(["i", "i:", "I", "I#", "i@", "I2", "j"], _SPREAD),
    # front rounded vowels (French "tu", "peu", German "über", "schön", Dutch "uur", "deur"):
    # the tongue of an i or e, the lips of an u or o
    **dict.fromkeys(["y", "y:", "Y", "Y:", "2", "2:", "9", "9:"], _ROUND),
    # nasal vowels (French, Portuguese): the mouth of the oral vowel
    **dict.fromkeys(["A~", "a~", "6~"], _OPEN),
    **dict.fromkeys(["E~", "e~", "@~"], _MID),
    **dict.fromkeys(["O~", "o~", "u~", "W~", "9~"], _ROUND),
    **dict.fromkeys(["o", "o:", "O", "O:", "oU", "OI", "u", "u:", "U", "U@", "w", "W"], _ROUND),
    **dict.fromkeys(["t", "d", "n", "l", "s", "z", "T", "D", "N", "t#", "d#"], _DENTAL),
    **dict.fromkeys(["k", "g", "x"], _VELAR),
    **dict.fromkeys(["S", "Z", "tS", "dZ"], _POSTALV),
    **dict.fromkeys(["r", "r-", "R"], _R),
    "h": _H,
}
# IPA first characters, for backends that report IPA.
_IPA = [
    ("pbmɸβ", _CLOSED),
    ("fvɱ", _LIPTEETH),
    ("aɑæɐʌɒ", _OPEN),
    ("eɛəɜɘœ", _MID),
    ("iɪyʏj", _SPREAD),
    ("oɔuʊɵwʉ", _ROUND),
    ("tdnlszθðɾ", _DENTAL),
    ("kgxŋɣq", _VELAR),
    ("ʃʒ", _POSTALV),
    ("rɹʁ", _R),
    ("hɦ", _H),
]


def viseme(phoneme: str) -> tuple[float, float]:
    """(open, spread) for one phoneme symbol; pauses and unknown silence marks give (0, 0)."""
    symbol = phoneme.strip().lstrip("'ˈˌ,%=")
    if not symbol or symbol.startswith("_"):
        return (0.0, 0.0)
    if symbol in _ESPEAK:
        return _ESPEAK[symbol]
    if symbol[:2] in _ESPEAK:
        return _ESPEAK[symbol[:2]]
    for chars, shape in _IPA:
        if symbol[0] in chars:
            return shape
    if symbol[0].lower() in _ESPEAK:
        return _ESPEAK[symbol[0].lower()]
    return (0.3, 0.0)


def energy_track(audio: Audio, n_frames: int, fps: int, window: float = 0.04) -> np.ndarray:
    """Speech energy per video frame in [0, 1]: 0 at 30 dB below the loud parts, 1 at them."""
    x = audio.samples.astype(np.float64)
    half = max(1, int(window * audio.sample_rate / 2))
    centers = (np.arange(n_frames) / fps * audio.sample_rate).astype(int)
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    lo = np.clip(centers - half, 0, len(x))
    hi = np.clip(centers + half, 0, len(x))
    power = (c[hi] - c[lo]) / np.maximum(hi - lo, 1)
    db = 10 * np.log10(np.maximum(power, 1e-12))
    loud = db[db > -60]
    if loud.size == 0:
        return np.zeros(n_frames)
    ref = np.percentile(loud, 95)
    energy = np.clip((db - (ref - 30)) / 30, 0, 1)
    energy[db < -60] = 0
    return energy


@dataclass(frozen=True)
class MouthTrack:
    open: np.ndarray  # (n_frames,) in [0, 1]
    spread: np.ndarray  # (n_frames,) in [-1, 1]


def _smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    return np.convolve(np.pad(values, radius, mode="edge"), k, mode="valid")


def mouth_track(
    audio: Audio, phonemes: tuple[Segment, ...], n_frames: int, fps: int, *, lead: float = 0.04
) -> MouthTrack:
    """Mouth parameters per frame; phonemes (if any) pick shapes, energy scales them."""
    energy = energy_track(audio, n_frames, fps)
    if phonemes:
        times = np.arange(n_frames) / fps + lead  # lips move slightly before the sound
        starts = np.array([p.start for p in phonemes])
        idx = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(phonemes) - 1)
        shapes = np.array([viseme(p.text) for p in phonemes])[idx]
        inside = times < np.array([p.end for p in phonemes])[idx] + 0.02
        shapes[~inside] = 0
        active = energy > 0.04
        open_ = np.where(active | (shapes[:, 0] == 0), shapes[:, 0] * (0.35 + 0.65 * energy), 0.0)
        spread = shapes[:, 1] * np.minimum(1.0, open_ * 4 + (shapes[:, 0] == 0) * active)
        # bilabial closures are short; keep them through the smoothing
        closure = (
            inside
            & (shapes[:, 0] == 0)
            & (np.array([viseme(p.text) for p in phonemes])[idx][:, 0] == 0)
            & np.array([bool(p.text.strip()) and not p.text.startswith("_") for p in phonemes])[idx]
        )
    else:
        open_ = energy**0.8 * 0.85
        spread = np.zeros(n_frames)
        closure = np.zeros(n_frames, dtype=bool)
    open_ = _smooth(open_, 0.8) * (1 - 0.9 * _smooth(closure.astype(float), 0.5))
    spread = _smooth(spread, 1.0)
    open_[open_ < 0.03] = 0.0
    spread[open_ == 0] = np.where(np.abs(spread[open_ == 0]) < 0.05, 0.0, spread[open_ == 0])
    return MouthTrack(np.clip(open_, 0, 1), np.clip(spread, -1, 1))
