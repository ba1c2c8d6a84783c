"""Hostile uploads, generated (nothing binary is committed): each small, each built to make a
decoder spend time or memory out of all proportion to its size.

``BOMBS`` maps a name to (kind, builder, what it is). The tests (through the engine, the CLI and
a worker's intake) and the benchmark (bench/bombs.py) use it; :func:`jail_runs` records what a
jail measured of each decode.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from engine.jail import Jail, Jailed, JailRefusal
from tests.auxil.media_fixtures import ffmpeg, lying_wav, png_bomb, tone_speech, write_wav

if TYPE_CHECKING:  # the benchmark imports this module without pytest's fixtures
    import pytest

__all__ = ["BOMBS", "Bomb", "jail_runs"]

Builder = Callable[[Path], Path]
Bomb = tuple[str, Builder, str]


def _scans(path: Path, size: tuple[int, int], scans: int) -> Path:
    """A flat progressive JPEG whose last scan is repeated until it has ``scans`` scans: each
    scan is a pass over the whole image, and an empty one costs a few bytes."""
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 90, 60)).save(buf, format="JPEG", progressive=True, quality=90)
    data = buf.getvalue()
    last = data[data.rindex(b"\xff\xda") : -2]
    extra = scans - data.count(b"\xff\xda")
    path.write_bytes(data[:-2] + last * extra + b"\xff\xd9")
    return path


def jpeg_20000_scans(path: Path) -> Path:
    return _scans(path.with_suffix(".jpg"), (1024, 1024), 20_000)


def jpeg_100_scans_40mp(path: Path) -> Path:
    """The costliest JPEG the structural checks let through: 40 MP, 100 scans."""
    return _scans(path.with_suffix(".jpg"), (7680, 5200), 100)


def _blank(path: Path, mode: str, size: tuple[int, int], **save: object) -> Path:
    Image.new(mode, size, 0).save(path, **save)
    return path


def webp_40mp(path: Path) -> Path:
    return _blank(path.with_suffix(".webp"), "RGB", (8000, 5000), lossless=True)


def webp_16mp(path: Path) -> Path:
    return _blank(path.with_suffix(".webp"), "RGBA", (5000, 3200), lossless=True)


def png16_40mp(path: Path) -> Path:
    return _blank(path.with_suffix(".png"), "I;16", (8000, 5000))


def png16_16mp(path: Path) -> Path:
    return _blank(path.with_suffix(".png"), "I;16", (5000, 3200))


def gif_40mp(path: Path) -> Path:
    return _blank(path.with_suffix(".gif"), "P", (8000, 5000))


def png_huge_header(path: Path) -> Path:
    return png_bomb(path.with_suffix(".png"), 1_000_000, 1_000_000)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def png_ztxt_bomb(path: Path) -> Path:
    """An ordinary small PNG carrying compressed text and colour-profile chunks that inflate
    to 256 MB each (zip bombs inside the PNG's metadata)."""
    buf = io.BytesIO()
    Image.new("RGB", (640, 640), (200, 180, 160)).save(buf, format="PNG")
    png = buf.getvalue()
    zeros = zlib.compressobj(9)
    bomb = b"".join(zeros.compress(b"\0" * (1 << 20)) for _ in range(256)) + zeros.flush()
    extra = _chunk(b"zTXt", b"Comment\0\0" + bomb) + _chunk(b"iCCP", b"icc\0\0" + bomb)
    at = png.index(b"IDAT") - 4  # before the image data
    out = path.with_suffix(".png")
    out.write_bytes(png[:at] + extra + png[at:])
    return out


def gif_many_frames(path: Path) -> Path:
    """A GIF of 3,000 frames (each a different colour, so none is merged away)."""
    frames = [Image.new("P", (96, 96), i % 256) for i in range(3000)]
    out = path.with_suffix(".gif")
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=10, optimize=False)
    return out


def wav_250mhz(path: Path) -> Path:
    return lying_wav(path.with_suffix(".wav"), rate=250_000_007, channels=1)


def wav_255_channels(path: Path) -> Path:
    return lying_wav(path.with_suffix(".wav"), rate=16_000, channels=255)


def wav_4gb_of_samples(path: Path) -> Path:
    """A WAV whose header claims 4 GB of samples (about 37 hours) in a 64 KB file."""
    out = lying_wav(path.with_suffix(".wav"), rate=16_000, channels=1, data_bytes=64_000)
    data = bytearray(out.read_bytes())
    at = data.index(b"data") + 4
    data[at : at + 4] = struct.pack("<I", 0xFFFFFFF0)
    data[4:8] = struct.pack("<I", 0xFFFFFFF8)
    out.write_bytes(bytes(data))
    return out


def m4a_absurd_duration(path: Path) -> Path:
    """A real 2 s AAC voice note whose MP4 boxes claim a duration of about 136 years."""
    wav = write_wav(path.with_suffix(".src.wav"), tone_speech(2.0), 16_000)
    out = path.with_suffix(".m4a")
    ffmpeg("-i", str(wav), "-c:a", "aac", "-b:a", "32k", str(out))
    data = bytearray(out.read_bytes())
    for box in (b"mvhd", b"mdhd", b"tkhd"):
        at = data.find(box)
        if at < 0:
            continue
        version = data[at + 4]
        # version 0: flags(3) created(4) modified(4) [timescale(4)] duration(4)
        offset = {b"mvhd": 16, b"mdhd": 16, b"tkhd": 20}[box] if version == 0 else None
        if offset is not None:
            data[at + 4 + offset : at + 8 + offset] = b"\xff\xff\xff\xf0"
    out.write_bytes(bytes(data))
    return out


def mka_absurd_duration(path: Path) -> Path:
    """A real 2 s Opus voice note in Matroska whose segment claims 3.6e12 ms (114 years)."""
    wav = write_wav(path.with_suffix(".src.wav"), tone_speech(2.0), 16_000)
    out = path.with_suffix(".mka")
    ffmpeg("-i", str(wav), "-c:a", "libopus", "-b:a", "24k", str(out))
    data = bytearray(out.read_bytes())
    at = data.find(b"\x44\x89")  # Duration: an EBML float
    size = data[at + 2] & 0x7F  # 0x84 or 0x88: 4 or 8 bytes follow
    value = struct.pack(">f", 3.6e12) if size == 4 else struct.pack(">d", 3.6e12)
    data[at + 3 : at + 3 + size] = value
    out.write_bytes(bytes(data))
    return out


BOMBS: dict[str, Bomb] = {
    "jpeg-20000-scans": ("photo", jpeg_20000_scans, "progressive JPEG, 20,000 empty scans"),
    "jpeg-100-scans-40mp": ("photo", jpeg_100_scans_40mp, "40 MP progressive JPEG, 100 scans"),
    "webp-lossless-40mp": ("photo", webp_40mp, "lossless WebP, 40 MP"),
    "webp-lossless-16mp": ("photo", webp_16mp, "lossless WebP, 16 MP RGBA"),
    "png16-40mp": ("photo", png16_40mp, "16-bit grey PNG, 40 MP"),
    "png16-16mp": ("photo", png16_16mp, "16-bit grey PNG, 16 MP"),
    "gif-40mp": ("photo", gif_40mp, "GIF, 40 MP"),
    "png-huge-header": ("photo", png_huge_header, "PNG header of 1,000,000 x 1,000,000"),
    "png-ztxt-iccp-bomb": ("photo", png_ztxt_bomb, "PNG with 256 MB zTXt and iCCP bombs"),
    "gif-3000-frames": ("photo", gif_many_frames, "GIF of 3,000 frames"),
    "wav-250mhz": ("voice", wav_250mhz, "WAV declaring 250,000,007 Hz"),
    "wav-255-channels": ("voice", wav_255_channels, "mono WAV claiming 255 channels"),
    "wav-4gb-claimed": ("voice", wav_4gb_of_samples, "WAV claiming 4 GB of samples"),
    "m4a-136-years": ("voice", m4a_absurd_duration, "M4A whose boxes claim ~136 years"),
    "mka-114-years": ("voice", mka_absurd_duration, "Matroska voice claiming 114 years"),
}


def jail_runs(jail: Jail, monkeypatch: pytest.MonkeyPatch) -> list[Jailed | JailRefusal]:
    """Every run of ``jail`` from now on, as the jail answered it (its measures of the decode,
    taken from outside the jailed process) or refused it, in order."""
    runs: list[Jailed | JailRefusal] = []
    real = jail.run

    def run(*args: Any, **kwargs: Any) -> Jailed:
        try:
            answer = real(*args, **kwargs)
        except JailRefusal as e:
            runs.append(e)
            raise
        runs.append(answer)
        return answer

    monkeypatch.setattr(jail, "run", run)
    return runs
