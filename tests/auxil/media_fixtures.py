"""Builders of test media, made on the fly (nothing binary is committed)."""

from __future__ import annotations

import subprocess
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def espeak_wav(path: Path, text: str, voice: str = "en-us") -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    return path


def transcode(src: Path, dst: Path, *codec: str) -> Path:
    ffmpeg("-i", str(src), *codec, str(dst))
    return dst


#: what Telegram does to a video sent as a video, as simulated here (its encoder is not
#: public): H.264 CRF 28, AAC 64 kb/s at 44.1 kHz, the tags (and any C2PA manifest) gone
TELEGRAM_REENCODE = (
    "-map_metadata", "-1",
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "64k", "-ar", "44100",
)  # fmt: skip


def telegram_reencode(src: Path, dst: Path) -> Path:
    return transcode(src, dst, *TELEGRAM_REENCODE)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    import soundfile as sf

    sf.write(path, samples, rate, subtype="PCM_16")
    return path


def tone_speech(seconds: float, rate: int = 16_000, f0: float = 120.0) -> np.ndarray:
    """A speech-like signal: a harmonic buzz with 4 Hz syllable envelopes."""
    t = np.arange(int(seconds * rate)) / rate
    buzz = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2
    return (0.3 * buzz * env / 3).astype(np.float32)


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def png_bomb(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width`` x ``height`` (1-bit grey, all zero)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
        )

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    row = b"\0" * (1 + (width + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(min(height, 64))) + comp.flush()
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


def save_image(path: Path, array: np.ndarray, **kw: object) -> Path:
    Image.fromarray(array).save(path, **kw)
    return path


def lying_wav(path: Path, *, rate: int, channels: int, data_bytes: int = 4000) -> Path:
    """A PCM WAV whose header declares ``rate`` and ``channels`` (whatever they are), with
    ``data_bytes`` of silence: a few KB that pass every size check."""
    import struct

    block = channels * 2
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, rate, (rate * block) & 0xFFFFFFFF, block, 16)
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + fmt
    path.write_bytes(header + b"data" + struct.pack("<I", data_bytes) + b"\0" * data_bytes)
    return path
