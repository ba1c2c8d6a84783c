"""Shape speech toward a reference voice with WORLD analysis/resynthesis (pyworld).

What is matched: the pitch level (median F0) and range (spread in semitones), the vocal
tract length (a frequency warp of the spectral envelope, estimated from the envelopes'
centroids) and the overall timbre (the smoothed difference of the average envelopes). What is
not: accent, rhythm, voice quality in detail. That is why the espeak backend is called a
voice-matched fallback and not a clone.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.types import Audio

__all__ = ["VoiceProfile", "analyse_reference", "match_voice", "f0_stats", "forget_profiles"]

FRAME_MS = 5.0
_F0_FLOOR, _F0_CEIL = 60.0, 500.0
_ANALYSIS_RATE = 16_000
_CACHE: OrderedDict[str, VoiceProfile] = OrderedDict()
_CACHE_SIZE = 32
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class VoiceProfile:
    """What is kept of a reference voice."""

    f0_median: float  # Hz
    f0_spread: float  # standard deviation of log2 F0, in semitones
    centroid: float  # spectral-envelope centroid 300-4000 Hz over voiced frames, Hz
    envelope_db: np.ndarray  # average log envelope on a fixed 257-bin grid up to 8 kHz
    voiced_frames: int


def _pyworld() -> Any:
    with warnings.catch_warnings():  # pyworld imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        import pyworld
    return pyworld


def _world(audio: Audio) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    pyworld = _pyworld()

    x = audio.samples.astype(np.float64)
    f0, t = pyworld.dio(
        x, audio.sample_rate, f0_floor=_F0_FLOOR, f0_ceil=_F0_CEIL, frame_period=FRAME_MS
    )
    f0 = pyworld.stonemask(x, f0, t, audio.sample_rate)
    sp = pyworld.cheaptrick(x, f0, t, audio.sample_rate)
    return x, f0, t, sp


def f0_stats(f0: np.ndarray) -> tuple[float, float]:
    """(median Hz, spread in semitones) over voiced frames; (0, 0) when none are voiced."""
    voiced = f0[f0 > 0]
    if voiced.size < 10:
        return 0.0, 0.0
    semis = 12 * np.log2(voiced)
    return float(np.median(voiced)), float(np.std(semis))


def _grid_envelope(sp: np.ndarray, rate: int, voiced: np.ndarray) -> np.ndarray:
    """Average log envelope (dB) of voiced frames, on 257 bins from 0 to 8 kHz."""
    freqs = np.linspace(0, rate / 2, sp.shape[1])
    grid = np.linspace(0, 8000, 257)
    frames = sp[voiced] if voiced.any() else sp
    mean_db = 10 * np.log10(np.maximum(frames, 1e-12)).mean(axis=0)
    return np.interp(grid, freqs, mean_db)


def _centroid(env_db: np.ndarray) -> float:
    grid = np.linspace(0, 8000, env_db.size)
    band = (grid >= 300) & (grid <= 4000)
    weight = 10 ** (env_db[band] / 10)
    return float((grid[band] * weight).sum() / max(weight.sum(), 1e-12))


def analyse_reference(audio: Audio) -> VoiceProfile | None:
    """Analyse a reference voice (cached by content); None when it has no voiced speech."""
    from engine.media.audio import resample

    key = audio.content_hash()
    with _cache_lock:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    ref = resample(audio, _ANALYSIS_RATE)
    _, f0, _, sp = _world(ref)
    median, spread = f0_stats(f0)
    voiced = int((f0 > 0).sum())
    if median == 0 or voiced < max(60, 0.15 * len(f0)):  # under 0.3 s voiced, or mostly noise
        return None
    env = _grid_envelope(sp, ref.sample_rate, f0 > 0)
    profile = VoiceProfile(median, spread, _centroid(env), env, int((f0 > 0).sum()))
    with _cache_lock:
        _CACHE[key] = profile
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return profile


def forget_profiles() -> None:
    """Drop every reference analysis kept in memory (a voice was forgotten; the cache is
    keyed by audio, not by file, so it is emptied whole: a few re-analyses at most)."""
    with _cache_lock:
        _CACHE.clear()


def match_voice(speech: Audio, target: VoiceProfile) -> Audio:
    """Resynthesise ``speech`` with the target's pitch level/range and timbre; same length."""
    pyworld = _pyworld()

    x, f0, t, sp = _world(speech)
    ap = pyworld.d4c(x, f0, t, speech.sample_rate)
    voiced = f0 > 0
    f0_new = _map_pitch(f0, target)
    own = _grid_envelope(sp, speech.sample_rate, voiced)
    alpha = float(np.clip(target.centroid / max(_centroid(own), 1.0), 0.85, 1.2))
    sp_new = _warp_envelope(sp, alpha)
    warped = _grid_envelope(sp_new, speech.sample_rate, voiced)
    sp_new = _apply_eq(sp_new, speech.sample_rate, target.envelope_db - warped)
    c = np.ascontiguousarray
    y = pyworld.synthesize(c(f0_new), c(sp_new), c(ap), speech.sample_rate, frame_period=FRAME_MS)
    y = y[: len(x)] if len(y) >= len(x) else np.pad(y, (0, len(x) - len(y)))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.99:
        y *= 0.99 / peak
    return Audio(y.astype(np.float32), speech.sample_rate)


def _map_pitch(f0: np.ndarray, target: VoiceProfile) -> np.ndarray:
    median, spread = f0_stats(f0)
    out = f0.copy()
    if median == 0:
        return out
    voiced = f0 > 0
    ratio = float(np.clip(target.f0_spread / max(spread, 0.3), 0.5, 2.0))
    semis = 12 * np.log2(f0[voiced] / median) * ratio
    out[voiced] = target.f0_median * 2 ** (semis / 12)
    return np.clip(out, 0, _F0_CEIL * 1.5)


def _warp_envelope(sp: np.ndarray, alpha: float) -> np.ndarray:
    """Stretch the frequency axis by ``alpha`` (> 1: a shorter vocal tract, higher formants)."""
    if abs(alpha - 1) < 0.01:
        return sp
    bins = np.arange(sp.shape[1], dtype=np.float64)
    src = np.clip(bins / alpha, 0, sp.shape[1] - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, sp.shape[1] - 1)
    frac = src - lo
    return sp[:, lo] * (1 - frac) + sp[:, hi] * frac


def _apply_eq(sp: np.ndarray, rate: int, diff_db: np.ndarray) -> np.ndarray:
    """Multiply every frame's envelope by a smoothed, bounded correction curve."""
    kernel = np.hanning(31)
    kernel /= kernel.sum()
    smooth = np.convolve(np.pad(diff_db, 15, mode="edge"), kernel, mode="valid")
    smooth = np.clip(smooth - np.median(smooth), -12, 12)  # timbre only: level is set later
    freqs = np.linspace(0, rate / 2, sp.shape[1])
    gain_db = np.interp(freqs, np.linspace(0, 8000, smooth.size), smooth)
    return sp * (10 ** (gain_db / 10))[None, :]
