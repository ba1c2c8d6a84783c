"""The motion plan: when the eyes blink and how the head moves, from the speech, once per render.

A plan is per frame and independent of the photo (translations are shares of the face
height), so one plan drives any image size; ``engine.motion.stage`` applies it frame by frame.

- Blinks: a renewal process at about 17 a minute (adults at rest blink 15-20 times a minute),
  gamma-distributed intervals above a refractory period, each moved (within a short window) to
  where it overlaps no word, preferably to the start of a pause, where people blink. A blink
  closes fast and reopens about twice as slowly.
- Head: slow, seeded oscillations of roll, sideways and vertical position and scale (0.1-0.5 Hz)
  whose amplitude is the smoothed speech energy, plus small nods on stressed stretches of
  speech. The envelope reaches exactly zero a little after the speech stops, so the head comes
  to rest in silences and the still photo (with its blinks) is all that is shown there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.lipsync.visemes import energy_track
from engine.types import Speech

__all__ = ["MotionPlan", "plan_motion", "BLINKS_PER_MINUTE", "MAX_LEVEL", "POSE_FIELDS"]

BLINKS_PER_MINUTE = 17.0
MAX_LEVEL = 2.0  # head motion level: 0 still, 1 the default, 2 twice as much
POSE_FIELDS = (
    "roll",
    "x",
    "y",
    "scale",
    "nod",
)  # degrees, face heights, face heights, share, share

_REFRACTORY = 1.4  # seconds at least between two blinks
_SHAPE = 2.0  # gamma shape of the interval above the refractory period (CV about 0.4)
_EARLIER, _LATER = 1.2, 1.5  # seconds a blink may move to leave the words alone
_CLOSE, _HOLD, _OPEN = 0.09, 0.03, 0.19  # seconds: closing, fully closed, reopening
_PAUSE_MIN = 0.18  # a gap between words at least this long is a pause
# Head motion at level 1: peak of each oscillation (each is a sum of three sines / 3).
_ROLL_DEG, _SHIFT_X, _SHIFT_Y, _SCALE = 2.2, 0.025, 0.012, 0.010
_NOD = 0.018  # vertical squash about the neck at the strongest stress: the head dips
_ENVELOPE = 0.7  # seconds: half-width of the energy smoothing (the head's slowness)
_LOUD = 0.55  # smoothed energy at which the motion is at full amplitude


@dataclass(frozen=True)
class MotionPlan:
    """Per-frame eyelid closure and head pose for one render.

    ``pose[:, k]`` is ``POSE_FIELDS[k]``: roll in degrees, x and y shift in face heights,
    scale change (0.01 = 1 % larger) and nod (vertical squash about the neck).
    ``blink_peaks`` are the frames at which each blink is fully closed.
    """

    fps: int
    blink: np.ndarray
    pose: np.ndarray
    blink_peaks: tuple[int, ...] = ()

    @property
    def n_frames(self) -> int:
        return len(self.blink)

    @property
    def still(self) -> bool:
        """True when the plan changes no frame."""
        return not self.blink.any() and not self.pose.any()


def plan_motion(
    speech: Speech,
    n_frames: int,
    fps: int,
    *,
    seed: int = 0,
    blinks: bool = True,
    level: float = 1.0,
) -> MotionPlan:
    """The plan for ``n_frames`` frames at ``fps`` of ``speech`` (deterministic per ``seed``)."""
    if not 0.0 <= level <= MAX_LEVEL:
        raise ValueError(f"head motion level must be between 0 and {MAX_LEVEL:g}, not {level}")
    if n_frames < 1 or fps < 1:
        raise ValueError(f"need at least one frame at a positive fps, not {n_frames} at {fps}")
    energy = energy_track(speech.audio, n_frames, fps)
    words = _word_mask(speech, energy, fps)
    streams = np.random.SeedSequence([seed % 2**63, 0x6D6F74]).spawn(2)  # apart from others
    blink_rng, head_rng = (np.random.default_rng(s) for s in streams)
    closure = np.zeros(n_frames)
    peaks: tuple[int, ...] = ()
    if blinks:
        closure, peaks = _blinks(words, fps, blink_rng)
    pose = np.zeros((n_frames, len(POSE_FIELDS)))
    if level > 0:
        pose = _head(energy, fps, head_rng) * level
    return MotionPlan(fps=fps, blink=closure, pose=pose, blink_peaks=peaks)


# ---- what the speech says ---------------------------------------------------------------
def _word_mask(speech: Speech, energy: np.ndarray, fps: int) -> np.ndarray:
    """Per frame: inside a word. From word timings when known, else from the energy."""
    n = len(energy)
    times = (np.arange(n) + 0.5) / fps
    if speech.words:
        inside = np.zeros(n, bool)
        for w in speech.words:
            inside |= (times >= w.start) & (times < w.end)
        return inside
    talking = energy > 0.05
    return ~_short_runs(~talking, int(round(0.12 * fps)))  # syllable gaps are not pauses


def _short_runs(mask: np.ndarray, max_len: int) -> np.ndarray:
    """``mask`` with its runs of True no longer than ``max_len`` frames kept, the rest False;
    runs touching either end are never short (they may continue beyond the render)."""
    out = np.zeros_like(mask)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start <= max_len and start > 0 and end < len(mask):
            out[start:end] = True
    return out


def _pause_onsets(words: np.ndarray, fps: int) -> np.ndarray:
    """Per frame: how near (1 at the onset, 0 from 0.4 s on) the start of a pause it is."""
    near = np.zeros(len(words))
    gaps = ~words
    edges = np.flatnonzero(np.diff(np.concatenate([[0], gaps.astype(np.int8), [0]])))
    reach = max(1, int(round(0.4 * fps)))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if start == 0 or end - start < _PAUSE_MIN * fps:
            continue
        span = np.arange(start, min(end, start + reach))
        near[span] = np.maximum(near[span], 1 - (span - start) / reach)
    return near


# ---- blinks -----------------------------------------------------------------------------
def _blinks(
    words: np.ndarray, fps: int, rng: np.random.Generator
) -> tuple[np.ndarray, tuple[int, ...]]:
    n = len(words)
    closure = np.zeros(n)
    pause = _pause_onsets(words, fps)
    mean_gap = 60.0 / BLINKS_PER_MINUTE - _REFRACTORY
    peaks: list[int] = []
    t = rng.uniform(0.3, 60.0 / BLINKS_PER_MINUTE)  # the first one soon, at a random moment
    while True:
        speed = rng.uniform(0.8, 1.25)  # each blink a little faster or slower
        shape = _blink_shape(fps, speed)
        lead = int(np.argmax(shape))
        earliest = peaks[-1] + _REFRACTORY * fps if peaks else 0
        peak = _place(t * fps, earliest, shape, lead, words, pause, fps)
        if peak >= n:
            return closure, tuple(peaks)
        lo = peak - lead
        for k, c in enumerate(shape):
            if 0 <= lo + k < n:
                closure[lo + k] = max(closure[lo + k], c)
        peaks.append(peak)
        # the next one counts from when this one was due, so moving blinks keeps the rate
        t += _REFRACTORY + rng.gamma(_SHAPE, mean_gap / _SHAPE)


def _blink_shape(fps: int, speed: float) -> np.ndarray:
    """Closure per frame of one blink, 1 at exactly one frame (the peak)."""
    close, hold, open_ = (s * speed * fps for s in (_CLOSE, _HOLD, _OPEN))
    k = np.arange(-int(np.ceil(close)), int(np.ceil(hold + open_)) + 1, dtype=np.float64)
    rising = 1 - (-k / close)
    falling = 1 - (k - hold) / open_
    x = np.where(k < 0, rising, np.where(k <= hold, 1.0, falling))
    shape = np.clip(x, 0, 1)
    shape = shape * shape * (3 - 2 * shape)
    shape[k == 0] = 1.0
    return np.asarray(shape[shape > 0.02])


def _place(
    wanted: float,
    earliest: float,
    shape: np.ndarray,
    lead: int,
    words: np.ndarray,
    pause: np.ndarray,
    fps: int,
) -> int:
    """The peak frame near ``wanted`` whose closed phase overlaps the fewest word frames,
    the nearest to a pause onset, then the nearest to ``wanted``; never before ``earliest``."""
    n = len(words)
    lo = int(np.ceil(max(earliest, wanted - _EARLIER * fps)))
    hi = int(np.floor(max(lo, wanted + _LATER * fps)))
    if lo >= n:
        return n
    closed = shape > 0.5
    best, best_cost = lo, np.inf
    for peak in range(lo, min(hi, n - 1) + 1):
        idx = peak - lead + np.flatnonzero(closed)
        idx = idx[(idx >= 0) & (idx < n)]
        overlap = words[idx].mean() if len(idx) else 0.0
        cost = 4.0 * overlap - 0.6 * pause[peak] + 0.3 * abs(peak - wanted) / (_LATER * fps)
        if cost < best_cost:
            best, best_cost = peak, cost
    return best


# ---- head ---------------------------------------------------------------------------------
def _hann_smooth(x: np.ndarray, half_width: int) -> np.ndarray:
    """Smooth with a raised-cosine kernel: smooth, and exactly zero far from any input."""
    if half_width < 1:
        return x.copy()
    k = np.hanning(2 * half_width + 3)[1:-1]
    k /= k.sum()
    return np.convolve(np.pad(x, half_width), k, mode="valid")


def _oscillation(n: int, fps: int, rng: np.random.Generator) -> np.ndarray:
    """Sum of three slow sines with random frequencies and phases, in [-1, 1]."""
    t = np.arange(n) / fps
    freqs = rng.uniform(0.1, 0.5, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)
    return np.asarray(
        sum(np.sin(2 * np.pi * f * t + p) for f, p in zip(freqs, phases, strict=True)) / 3
    )


def _head(energy: np.ndarray, fps: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 5) pose at level 1: amplitude follows the smoothed energy, exactly 0 in silences."""
    n = len(energy)
    envelope = _hann_smooth(energy, int(round(_ENVELOPE * fps)))
    amp = np.clip(envelope / _LOUD, 0, 1)
    amp = amp * amp * (3 - 2 * amp)
    pose = np.zeros((n, len(POSE_FIELDS)))
    for k, peak in enumerate((_ROLL_DEG, _SHIFT_X, _SHIFT_Y, _SCALE)):
        pose[:, k] = peak * amp * _oscillation(n, fps, rng)
    # nods: where the speech is louder than around it (stress), smoothed to the head's pace
    fast = _hann_smooth(energy, int(round(0.2 * fps)))
    slow = _hann_smooth(energy, int(round(0.8 * fps)))
    stress = _hann_smooth(np.clip(fast - slow, 0, None), int(round(0.25 * fps)))
    pose[:, 4] = _NOD * np.clip(stress / 0.15, 0, 1) * amp
    pose[np.abs(pose) < 1e-6] = 0.0
    return pose
