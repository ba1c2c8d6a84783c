"""MuseTalk's audio conditioning: Whisper encoder states, windowed per video frame.

Recipe of MuseTalk 1.5's ``AudioProcessor`` (``get_audio_feature`` + ``get_whisper_chunk``):
16 kHz audio in 30-second segments, each turned into Whisper's log-mel features (padded to
30 s, as the encoder requires) and run through Whisper tiny's encoder; the hidden states of
every stage (the embeddings, then after each layer, the last one after the final layer norm:
``output_hidden_states``) are stacked per encoder frame (50 per second), the segments joined
and cut to the audio's length. Padded with zero frames (2 x 2 before, 2 x 3 x 2 after at
25 fps), frame ``i`` takes the 10 encoder frames from ``floor(i * 50 / fps)``: 80 ms before
to 120 ms after its start, flattened time-major to (10 x 5, 384) tokens. MuseTalk adds a
sinusoidal positional encoding over those 50 tokens before the UNet's cross-attention.

Segments are encoded when first needed and only two are kept, so memory stays flat however
long the speech is.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from .config import AUDIO_FPS, PAD_LEFT, PAD_RIGHT

__all__ = [
    "SAMPLE_RATE",
    "SEGMENT",
    "SILENT_PEAK",
    "SILENT_KEY",
    "positional_encoding",
    "WhisperTrack",
]

SAMPLE_RATE = 16_000
SEGMENT = 30 * SAMPLE_RATE  # samples per Whisper segment
HOP = SAMPLE_RATE // AUDIO_FPS  # samples per encoder frame (320)
WINDOW = 2 * (PAD_LEFT + PAD_RIGHT + 1)  # encoder frames per video frame (10)
SILENT_PEAK = 10 ** (-60 / 20)  # a window whose samples all stay below -60 dBFS is silence
SILENT_KEY = b"silence"


def positional_encoding(length: int, dim: int) -> np.ndarray:
    """(length, dim) float32: sin on even, cos on odd channels; MuseTalk's table, computed
    with the same torch float32 operations, so it is equal to the bit."""
    import torch

    position = torch.arange(0, length, dtype=torch.float).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2).float() * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)
    return pe.numpy()


class WhisperTrack:
    """The per-frame audio windows of one speech track.

    ``encode(samples)`` turns up to 30 s of 16 kHz audio into (1500, stages, dim) encoder
    states (the networks' side); everything else (segments, padding, windows, the silence
    test) is here.
    """

    def __init__(
        self,
        samples: np.ndarray,
        n_frames: int,
        fps: int,
        encode: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        need = math.ceil(n_frames * SAMPLE_RATE / fps)
        if len(samples) < need:  # the video outlasts the speech: digital silence after it
            samples = np.concatenate([samples, np.zeros(need - len(samples), np.float32)])
        self.samples = np.asarray(samples, np.float32)
        self.n_frames, self.fps, self.encode = n_frames, fps, encode
        self.step = AUDIO_FPS / fps  # whisper_idx_multiplier
        self.left = math.ceil(self.step) * PAD_LEFT
        self.length = math.floor(len(self.samples) / SAMPLE_RATE * AUDIO_FPS)  # actual_length
        self._segments: OrderedDict[int, np.ndarray] = OrderedDict()

    def start(self, i: int) -> int:
        """The first encoder frame of video frame ``i``'s window (negative: padding)."""
        return math.floor(i * self.step) - self.left

    def window(self, i: int) -> np.ndarray:
        """(WINDOW x stages, dim) float32 tokens of video frame ``i`` (before the encoding)."""
        j0 = self.start(i)
        rows = [self._row(j) for j in range(j0, j0 + WINDOW)]
        shape = next((r.shape for r in rows if r is not None), None) or self._row_shape()
        out = np.stack([r if r is not None else np.zeros(shape, np.float32) for r in rows])
        return out.reshape(-1, out.shape[-1])

    def silent(self, i: int) -> bool:
        """Whether every sample under frame ``i``'s window is (digital) silence."""
        j0 = self.start(i)
        a, b = max(0, j0 * HOP), min(len(self.samples), (j0 + WINDOW) * HOP)
        return b <= a or float(np.max(np.abs(self.samples[a:b]))) < SILENT_PEAK

    def key(self, i: int) -> bytes:
        """Frames with equal keys get the same mouth: every silent window shares one key,
        any other window is keyed by its exact contents."""
        if self.silent(i):
            return SILENT_KEY
        return hashlib.blake2b(self.window(i).tobytes(), digest_size=16).digest()

    def _row(self, j: int) -> np.ndarray | None:
        if j < 0 or j >= self.length:
            return None
        per = SEGMENT // HOP  # 1500 encoder frames per segment
        return self._segment(j // per)[j % per]

    def _row_shape(self) -> tuple[int, ...]:
        return tuple(self._segment(0).shape[1:])

    def _segment(self, k: int) -> np.ndarray:
        if k not in self._segments:
            self._segments[k] = self.encode(self.samples[k * SEGMENT : (k + 1) * SEGMENT])
            while len(self._segments) > 2:
                self._segments.popitem(last=False)
        self._segments.move_to_end(k)
        return self._segments[k]
