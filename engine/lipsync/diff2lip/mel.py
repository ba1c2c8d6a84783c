"""Wav2Lip's log-mel spectrogram, the audio features Diff2Lip was trained on.

Recipe of Diff2Lip's ``audio/audio.py`` + ``audio/hparams.py`` (copied from Wav2Lip):
16 kHz, pre-emphasis 0.97, ``librosa.stft(n_fft=800, hop_length=200, win_length=800)``
(periodic Hann, centred, zero padding: the default of the pinned librosa 0.9.2, whose
``stft`` has ``pad_mode="constant"`` since 0.9.0), magnitude,
Slaney mel filters (80 bins, 55-7600 Hz, area-normalised: librosa's defaults),
``20 log10(max(1e-5, x)) - 20`` dB, then symmetric clipping normalisation to [-4, 4].
Per video frame a 16-step (0.2 s) window, indexed like ``generate.py``.
Implemented with numpy alone (no librosa at run time).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SAMPLE_RATE",
    "MEL_STEP",
    "SILENCE",
    "to_16k",
    "melspectrogram",
    "mel_windows",
    "mel_basis",
]

SAMPLE_RATE = 16000
N_FFT, HOP, WIN, N_MELS, FMIN, FMAX = 800, 200, 800, 80, 55.0, 7600.0
PREEMPHASIS, MIN_LEVEL_DB, REF_LEVEL_DB, MAX_ABS = 0.97, -100.0, 20.0, 4.0
MEL_STEP = 16  # mel frames per video-frame window (syncnet_mel_step_size)
MEL_PER_SEC = 80.0  # SAMPLE_RATE / HOP
SILENCE = -MAX_ABS  # the normalised value of silence (and of padding past the audio)


def to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mono float32 audio at 16 kHz (polyphase resampling; upstream used librosa.load)."""
    from math import gcd

    from scipy.signal import resample_poly

    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate != SAMPLE_RATE:
        g = gcd(int(rate), SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, int(rate) // g).astype(np.float32)
    return x


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney's scale: linear below 1 kHz, logarithmic above (librosa, htk=False)."""
    f = np.asarray(f, dtype=np.float64)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, f * 3.0 / 200.0)


def _mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * 200.0 / 3.0)


def mel_basis() -> np.ndarray:
    """(80, 401) area-normalised triangular filters (``librosa.filters.mel`` defaults)."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    pts = _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2))
    fdiff = np.diff(pts)
    ramps = pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    w = np.maximum(0, np.minimum(lower, upper))
    w *= (2.0 / (pts[2:] - pts[:-2]))[:, None]
    return w


def _mel_power(x: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Mel filters @ |STFT| (80, 1 + len // HOP): centred frames, zero padding, periodic
    Hann; ``chunk`` frames at a time so long audio needs little memory."""
    x = np.pad(x, N_FFT // 2)  # zeros: the first two and the last two frames reach past it
    n = 1 + (len(x) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:n]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)
    basis = mel_basis()
    out = np.empty((N_MELS, n))
    for i in range(0, n, chunk):
        out[:, i : i + chunk] = (
            basis @ np.abs(np.fft.rfft(frames[i : i + chunk] * window, axis=1)).T
        )
    return out


def melspectrogram(wav16k: np.ndarray) -> np.ndarray:
    """(80, T) normalised log-mel in [-4, 4]; T = 1 + len // 200 (80 per second)."""
    from scipy.signal import lfilter

    x = lfilter([1.0, -PREEMPHASIS], [1.0], np.asarray(wav16k, dtype=np.float64))
    mel = _mel_power(x)
    db = 20.0 * np.log10(np.maximum(10 ** (MIN_LEVEL_DB / 20), mel)) - REF_LEVEL_DB
    norm = 2 * MAX_ABS * (db - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS
    return np.clip(norm, -MAX_ABS, MAX_ABS).astype(np.float32)


def window_start(frame: int, fps: int) -> int:
    """First mel step of video frame ``frame`` (0-based).

    ``generate.py`` numbers frames from 1 (ffmpeg's %05d.jpg) and starts each window
    ``syncnet_T // 2 = 2`` frames earlier, clamped at 0: frame k starts at frame k - 1.
    """
    return int(MEL_PER_SEC * (max(frame + 1 - 2, 0) / float(fps)))


def mel_windows(mel: np.ndarray, n_frames: int, fps: int) -> np.ndarray:
    """(n_frames, 80, 16) windows, silence-padded past the end of the audio."""
    out = np.full((n_frames, mel.shape[0], MEL_STEP), SILENCE, dtype=np.float32)
    for i in range(n_frames):
        chunk = mel[:, window_start(i, fps) :][:, :MEL_STEP]
        out[i, :, : chunk.shape[1]] = chunk
    return out
