"""Audio in and out: decode any voice note with ffmpeg, resample, trim, normalise, save.

Compute returns :class:`~engine.types.Audio`; only ``decode_audio`` and ``save_wav`` touch
files or processes. ``decode_audio`` treats its file as hostile (:mod:`engine.media.ffmpeg`):
one plain file, voice-note containers and audio decoders only, a timeout.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from engine.errors import InvalidInput
from engine.media.ffmpeg import (
    DECODE_TIMEOUT,
    ToolTimeout,
    probe_audio_stream,
    run_tool,
    tool,
    untrusted_input,
)
from engine.types import Audio, VoiceRef

__all__ = [
    "decode_audio",
    "resample",
    "normalize_loudness",
    "trim_silence",
    "voiced_seconds",
    "cut_at_pause",
    "load_voice",
    "clean_voice",
    "voice_decode_seconds",
    "save_wav",
    "MAX_AUDIO_BYTES",
    "MAX_SAMPLE_RATE",
    "MAX_CHANNELS",
]

MAX_AUDIO_BYTES = 50_000_000
#: what a voice note can be: past these a file is refused from its header, before decoding
#: (a WAV declaring 250 MHz costs ffmpeg's resampler 2 GB; a voice has one or two channels)
MAX_SAMPLE_RATE = 192_000
MAX_CHANNELS = 8
#: no single block ffmpeg allocates while decoding a voice note may be larger (-max_alloc)
MAX_ALLOC_BYTES = 256 * 1024 * 1024
_UNREADABLE = "The voice note could not be read as audio: send an OGG, MP3, M4A or WAV recording."
_TOO_SLOW = (
    "The voice note took too long to decode: send an ordinary OGG, MP3, M4A or WAV recording."
)


def decode_audio(
    path: Path,
    *,
    sample_rate: int,
    max_seconds: float | None = None,
    timeout: float = DECODE_TIMEOUT,
) -> Audio:
    """Decode the first audio stream of a voice note: mono float32 at ``sample_rate``.

    Only voice-note containers (WAV, MP3, Ogg, WebM/Matroska, MP4/M4A, FLAC, AAC) are read,
    never a playlist or manifest that points at other files; ffmpeg is killed after
    ``timeout`` seconds. Refusals are :class:`InvalidInput` with one line for the user.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise InvalidInput(f"The voice file {path.name!r} cannot be opened.", field="voice") from e
    if size == 0:
        raise InvalidInput("The voice note is an empty file: record it again.", field="voice")
    if size > MAX_AUDIO_BYTES:
        raise InvalidInput(
            f"The voice note is {size / 1e6:.0f} MB; the limit is {MAX_AUDIO_BYTES / 1e6:.0f} MB. "
            "Send a shorter recording.",
            field="voice",
        )
    _check_stream(path, timeout)
    cmd = [tool("ffmpeg"), "-nostdin", "-v", "error", "-max_alloc", str(MAX_ALLOC_BYTES)]
    cmd += [*untrusted_input(path), "-map", "0:a:0"]
    cmd += ["-vn", "-sn", "-dn"]
    if max_seconds is not None:
        cmd += ["-t", f"{max_seconds:.3f}"]
    cmd += ["-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "pipe:1"]
    try:
        proc = run_tool(cmd, timeout=timeout)
    except ToolTimeout as e:
        raise InvalidInput(_TOO_SLOW, field="voice") from e
    samples = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)
    if proc.returncode != 0 or samples.size == 0:
        raise InvalidInput(_UNREADABLE, field="voice")
    samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    return Audio(np.clip(samples, -1.0, 1.0), sample_rate)


def _check_stream(path: Path, timeout: float) -> None:
    """Refuse by structure, before spending: the first audio stream's declared sample rate
    and channels, read from its header by ffprobe (nothing decoded)."""
    try:
        stream = probe_audio_stream(path, timeout=timeout)
    except ToolTimeout as e:
        raise InvalidInput(_TOO_SLOW, field="voice") from e
    if stream is None:
        raise InvalidInput(_UNREADABLE, field="voice")
    rate, channels = stream
    if not 0 < rate <= MAX_SAMPLE_RATE:
        raise InvalidInput(
            f"The voice note says it has {rate:,} samples a second, which no recording has: "
            "send an ordinary OGG, MP3, M4A or WAV recording.",
            field="voice",
        )
    if not 0 < channels <= MAX_CHANNELS:
        raise InvalidInput(
            f"The voice note says it has {channels} channels; a voice has one or two: send an "
            "ordinary recording.",
            field="voice",
        )


def resample(audio: Audio, sample_rate: int) -> Audio:
    """Polyphase resampling to ``sample_rate`` (identity when already there)."""
    if audio.sample_rate == sample_rate:
        return audio
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(audio.sample_rate, sample_rate)
    out = resample_poly(audio.samples, sample_rate // g, audio.sample_rate // g).astype(np.float32)
    return Audio(out, sample_rate)


def _frame_rms_db(samples: np.ndarray, rate: int, window: float = 0.02) -> np.ndarray:
    n = max(1, int(rate * window))
    frames = len(samples) // n
    if frames == 0:
        return np.array([-120.0])
    x = samples[: frames * n].reshape(frames, n).astype(np.float64)
    rms = np.sqrt(np.mean(x * x, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-6))


def _k_weight(samples: np.ndarray, rate: int) -> np.ndarray:
    """ITU-R BS.1770 K-weighting: a high shelf (+4 dB above ~1.7 kHz) and a ~38 Hz high-pass."""
    from scipy.signal import butter, lfilter

    nyq = rate / 2
    b_hp, a_hp = butter(2, 38.0 / nyq, btype="highpass")
    b_hs, a_hs = butter(1, min(1500.0 / nyq, 0.99), btype="highpass")
    x = lfilter(b_hp, a_hp, samples)
    shelf = lfilter(b_hs, a_hs, x)
    return x + (10 ** (4 / 20) - 1) * shelf


def _gated_loudness_db(audio: Audio) -> float | None:
    """Loudness of the voiced part: K-weighted 400 ms blocks, absolute + relative gates."""
    x = _k_weight(audio.samples.astype(np.float64), audio.sample_rate)
    block, hop = int(0.4 * audio.sample_rate), int(0.1 * audio.sample_rate)
    if len(x) < block:
        block = hop = max(1, len(x))
    starts = range(0, len(x) - block + 1, hop)
    power = np.array([np.mean(x[s : s + block] ** 2) for s in starts])
    loud = 10 * np.log10(np.maximum(power, 1e-12))
    gated = power[loud > -70]
    if gated.size == 0:
        return None
    relative = 10 * np.log10(np.mean(gated)) - 10
    gated = power[(loud > -70) & (loud > relative)]
    return float(10 * np.log10(np.mean(gated)))


def normalize_loudness(audio: Audio, target_dbfs: float = -20.0, peak_dbfs: float = -1.0) -> Audio:
    """Bring the voiced part to ``target_dbfs`` (gated, K-weighted), peaks under ``peak_dbfs``."""
    loudness = _gated_loudness_db(audio)
    if loudness is None:  # silence stays silence
        return audio
    gain = 10 ** ((target_dbfs - loudness) / 20)
    out = audio.samples.astype(np.float64) * gain
    peak, limit = float(np.max(np.abs(out))) if out.size else 0.0, 10 ** (peak_dbfs / 20)
    if peak > limit:
        out *= limit / peak
    return Audio(out.astype(np.float32), audio.sample_rate)


def trim_silence(audio: Audio, *, threshold_db: float = -40.0, keep_seconds: float = 0.1) -> Audio:
    """Cut leading and trailing audio quieter than ``threshold_db`` below the loudest 20 ms."""
    db = _frame_rms_db(audio.samples, audio.sample_rate)
    loud = np.flatnonzero(db > db.max() + threshold_db) if db.max() > -100 else np.array([], int)
    if loud.size == 0:
        return Audio(audio.samples[:0], audio.sample_rate)
    n = max(1, int(audio.sample_rate * 0.02))
    keep = int(keep_seconds * audio.sample_rate)
    start = max(0, loud[0] * n - keep)
    end = min(len(audio.samples), (loud[-1] + 1) * n + keep)
    return Audio(audio.samples[start:end], audio.sample_rate)


def voiced_seconds(audio: Audio, *, threshold_db: float = -40.0, floor_db: float = -55.0) -> float:
    """Seconds above the silence threshold (relative to the peak, and above an absolute floor)."""
    db = _frame_rms_db(audio.samples, audio.sample_rate)
    active = (db > db.max() + threshold_db) & (db > floor_db)
    return float(active.sum() * 0.02)


def cut_at_pause(audio: Audio, max_seconds: float) -> Audio:
    """Shorten to at most ``max_seconds``, cutting in the quietest spot of the last 30 %."""
    limit = int(max_seconds * audio.sample_rate)
    if len(audio.samples) <= limit:
        return audio
    db = _frame_rms_db(audio.samples[:limit], audio.sample_rate)
    n = max(1, int(audio.sample_rate * 0.02))
    first = int(len(db) * 0.7)
    tail = db[first:]
    # a 100 ms moving average finds pauses rather than single quiet frames
    smooth = np.convolve(tail, np.ones(5) / 5, mode="same") if tail.size >= 5 else tail
    cut = (first + int(np.argmin(smooth))) * n if smooth.size else limit
    return Audio(audio.samples[: max(cut, n)], audio.sample_rate)


def load_voice(
    path: Path,
    *,
    transcript: str | None = None,
    sample_rate: int = 16_000,
    min_seconds: float = 1.0,
    max_seconds: float = 15.0,
    timeout: float = DECODE_TIMEOUT,
) -> VoiceRef:
    """Decode a reference voice note and clean it for voice cloning (:func:`clean_voice`)."""
    audio = decode_audio(
        path,
        sample_rate=sample_rate,
        max_seconds=voice_decode_seconds(max_seconds),
        timeout=timeout,
    )
    return clean_voice(
        audio, transcript=transcript, min_seconds=min_seconds, max_seconds=max_seconds
    )


def voice_decode_seconds(max_seconds: float) -> float:
    """How much of a voice note to decode: a little more than needed, so the pause search
    has room, but bounded."""
    return max(max_seconds * 4, 60.0)


def clean_voice(
    audio: Audio,
    *,
    transcript: str | None = None,
    min_seconds: float = 1.0,
    max_seconds: float = 15.0,
) -> VoiceRef:
    """A decoded voice note made a reference voice: silence trimmed, cut at a pause, loudness
    normalised. Refuses silence and too little speech."""
    audio = trim_silence(audio)
    if audio.samples.size == 0 or float(np.max(np.abs(audio.samples))) < 1e-3:
        raise InvalidInput(
            "The voice note is silent: record a few seconds of clear speech.", field="voice"
        )
    speech = voiced_seconds(audio)
    if speech < min_seconds:
        raise InvalidInput(
            f"The voice note has only {speech:.1f} s of speech; record at least {min_seconds:g} s "
            "of clear speech.",
            field="voice",
        )
    audio = normalize_loudness(cut_at_pause(audio, max_seconds))
    text = " ".join((transcript or "").split()) or None
    return VoiceRef(audio=audio, transcript=text)


def save_wav(audio: Audio, path: Path) -> Path:
    """Write 16-bit PCM WAV atomically (temporary file in the same folder, then rename)."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".wav", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, np.clip(audio.samples, -1, 1), audio.sample_rate, subtype="PCM_16")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
