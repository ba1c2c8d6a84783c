"""Video out: frames streamed into one ffmpeg process -> H.264 + AAC MP4, +faststart.

Frames go through ffmpeg's stdin as raw RGB, so memory does not grow with the video. The
file appears at its final path only when it is complete.

The picture is encoded at constant quality (x264 CRF, :class:`VideoQuality`); a byte budget
is a ceiling, not a target: :func:`plan_rate` turns it into a peak bitrate (x264's VBV) that
only binds when the constant-quality stream would not fit, so a budget far above what the
video needs gives the same small file as no budget at all. Why these settings:
docs/models.md, "Video size" (figures: docs/benchmarks.md).

With a ``sign`` step (the C2PA manifest, :mod:`engine.provenance.manifest`) the finished file
is signed once, after any re-encode, inside the same atomic write; the encode then keeps
SIGNATURE_BYTES of the budget free for the manifest, and the signed file is checked again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import numpy as np

from engine.errors import BackendUnavailable, EngineError, InvalidInput
from engine.types import Audio

__all__ = [
    "VideoWriter",
    "VideoQuality",
    "RatePlan",
    "plan_rate",
    "EncodeError",
    "MediaInfo",
    "probe",
]

AUDIO_BITRATE = 128_000
LOW_AUDIO_BITRATE = 48_000  # when the budget is tight (plan_rate)
# Below this many video bits per pixel per frame a face turns blotchy (bench/video.py;
# docs/benchmarks.md).
MIN_BITS_PER_PIXEL = 0.01
# The cap never goes above this: x264 signals the H.264 level from the cap, and a generous
# budget must not push a small video to a level that phones' hardware decoders refuse.
# 5 Mb/s and its 2 s buffer fit level 3.0 (High); the demo's constant quality needs 0.36.
MAX_VIDEO_CAP = 5_000_000
_VBV_SECONDS = 2.0  # the cap holds over any window of this length (buffer = cap x 2 s)
_VBV_INIT = 0.9  # share of the buffer full at the start: the first frames may spend it
_VBV_SLACK = 0.97  # x264 keeps to its buffer closely, not exactly
_AUDIO_SLACK = 1.1  # ffmpeg's AAC runs about 6 % over its nominal bitrate (measured)
_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower")
_TUNES = ("film", "animation", "grain", "stillimage")
# Room a signed manifest may take: measured 3.5 KB with one certificate and 3.9 KB with a
# chain of two (engine.provenance.manifest); this allows for a longer operator chain.
SIGNATURE_BYTES = 16_000


class EncodeError(EngineError):
    """ffmpeg failed; the message carries its last lines (for operators)."""


@dataclass(frozen=True)
class VideoQuality:
    """x264 settings of the constant-quality encode, chosen for talking heads: the quality of
    the former default (CRF 20, ``veryfast``, 4 s keyframes) in fewer bytes, where slower
    presets cost much more CPU for little more (measured by ``bench/video.py --choose``;
    figures in docs/benchmarks.md, "Video size")."""

    crf: int = 22
    preset: str = "faster"
    tune: str | None = "film"
    keyframe_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be between 0 and 51, not {self.crf}")
        if self.preset not in _PRESETS:
            raise ValueError(f"preset must be one of {', '.join(_PRESETS)}, not {self.preset!r}")
        if self.tune is not None and self.tune not in _TUNES:
            raise ValueError(f"tune must be one of {', '.join(_TUNES)}, not {self.tune!r}")
        if self.keyframe_seconds <= 0:
            raise ValueError(f"keyframe_seconds must be positive, not {self.keyframe_seconds}")


@dataclass(frozen=True)
class RatePlan:
    """How a video spends its bytes: the audio bitrate and the picture's cap, if any.

    ``video_cap`` (bits/s) holds over every ``_VBV_SECONDS`` window; ``None`` means pure
    constant quality. ``floor`` is the lowest cap still acceptable (bits/s).
    """

    audio_bitrate: int = AUDIO_BITRATE
    video_cap: int | None = None
    floor: int = 0

    @property
    def buffer_bits(self) -> int:
        return int((self.video_cap or 0) * _VBV_SECONDS)


def plan_rate(
    max_bytes: int | None,
    *,
    seconds: float,
    size: tuple[int, int],
    fps: int,
    reserve: int = 0,
) -> RatePlan:
    """The rate plan for a ``seconds`` long video of ``size`` at ``fps`` within ``max_bytes``.

    The cap is the largest peak bitrate for which audio, container and the worst case of the
    capped stream (the whole cap for the whole length plus the buffer's head start) still fit,
    with ``reserve`` bytes left for what is added after encoding (a signed manifest).
    Raises InvalidInput, before any frame is made, when that leaves the picture fewer than
    MIN_BITS_PER_PIXEL.
    """
    if max_bytes is None:
        return RatePlan()
    if max_bytes <= 0 or seconds <= 0:
        raise ValueError(f"max_bytes and seconds must be positive, got {max_bytes}, {seconds}")
    width, height = size
    floor = int(MIN_BITS_PER_PIXEL * width * height * fps)
    span = seconds + _VBV_INIT * _VBV_SECONDS
    # Full-rate audio unless the whole budget is under 4x its bitrate or the picture would
    # drop under the floor with it; then low-rate audio, and the picture gets the bytes.
    roomy = max_bytes * 8 / seconds > 4 * AUDIO_BITRATE
    for audio in (AUDIO_BITRATE, LOW_AUDIO_BITRATE) if roomy else (LOW_AUDIO_BITRATE,):
        reserved = _reserved_bytes(seconds, fps, audio) + reserve
        cap = int((max_bytes - reserved) * 8 * _VBV_SLACK / span)
        if cap >= floor:
            return RatePlan(audio_bitrate=audio, video_cap=min(cap, MAX_VIDEO_CAP), floor=floor)
    need = _reserved_bytes(seconds, fps, LOW_AUDIO_BITRATE) + int(floor * span / 8 / _VBV_SLACK)
    need += reserve
    raise InvalidInput(
        f"A {seconds:.0f} s video at {width}x{height} needs at least {need + 1} bytes to look "
        f"acceptable, more than the {max_bytes} allowed: allow more bytes or send a shorter "
        "script.",
        field="options",
    )


def _reserved_bytes(seconds: float, fps: int, audio_bitrate: int) -> int:
    """Bytes that are not picture: the AAC stream and the MP4 boxes (a generous estimate).

    Measured at 25 fps: the MP4 boxes took 2.2 KB for 2 s, 7.6 KB for 10 s, 17.1 KB for
    23.8 s; this allows 8 KB plus 32 bytes per video frame and 400 bytes per second of audio.
    """
    audio = audio_bitrate / 8 * seconds * _AUDIO_SLACK
    mux = 8_000 + seconds * (32 * fps + 400)
    return int(audio + mux)


def _ffmpeg() -> list[str]:
    """ffmpeg, quiet but for errors, never reading the terminal, overwriting its output."""
    return [_tool("ffmpeg"), "-nostdin", "-v", "error", "-y"]


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise BackendUnavailable(f"{name} is not installed", hint="apt-get install ffmpeg")
    return exe


class VideoWriter:
    """Write frames of ``size`` = (width, height) plus ``audio`` to an MP4 at ``path``.

    Constant quality (``quality``); with ``max_bytes`` (and ``n_frames``, to know the length)
    the file never exceeds it: the plan is checked here, before any frame is made, and the
    finished file once more.

    ``sign(src, dst)``, when given, writes ``dst`` = ``src`` signed; it runs once, on the
    finished file, before the file is moved into place (a failure leaves nothing at ``path``).

    Use as a context manager; an exception inside the block (or ``abort()``) removes every
    temporary file and leaves nothing at ``path``.
    """

    def __init__(
        self,
        path: Path,
        *,
        size: tuple[int, int],
        fps: int,
        audio: Audio,
        max_bytes: int | None = None,
        n_frames: int | None = None,
        metadata: Mapping[str, str] | None = None,
        quality: VideoQuality | None = None,
        sign: Callable[[Path, Path], None] | None = None,
    ) -> None:
        width, height = size
        if width % 2 or height % 2 or width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive and even, got {width}x{height}")
        if max_bytes is not None and not n_frames:
            raise ValueError("max_bytes needs n_frames to plan the bitrate")
        self.path = Path(path)
        self.size, self.fps = (width, height), fps
        self.quality = quality or VideoQuality()
        self.max_bytes, self.n_frames = max_bytes, n_frames
        self.metadata = dict(metadata or {})
        self._sign = sign
        # the encode's share of the budget: a manifest is added after it
        self._reserve = SIGNATURE_BYTES if sign is not None and max_bytes is not None else 0
        self.plan = plan_rate(
            max_bytes, seconds=self._duration(), size=self.size, fps=fps, reserve=self._reserve
        )
        self._audio = audio
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: list[Path] = []
        self._out: Path | None = None
        self._frames = 0

    # ---- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> VideoWriter:
        self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def open(self) -> None:
        """Start ffmpeg; on failure nothing is left behind."""
        try:
            self._start()
        except BaseException:
            self.abort()
            raise

    def _start(self) -> None:
        from engine.media.audio import save_wav

        self.path.parent.mkdir(parents=True, exist_ok=True)
        wav = self._temp(".wav")
        save_wav(self._audio, wav)
        self._out = self._temp(".mp4")
        cmd = [
            *_ffmpeg(),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{self.size[0]}x{self.size[1]}",
            "-r",
            str(self.fps),
            "-i",
            "pipe:0",
            "-i",
            str(wav),
            "-map",
            "0:v:0",
            "-map",
            "1:a:0",
            *self._video_args(self.plan.video_cap),
            "-c:a",
            "aac",
            "-b:a",
            str(self.plan.audio_bitrate),
            "-ar",
            "48000",
            "-ac",
            "1",
            *self._tags(),
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            str(self._out),
        ]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        """Send one RGB uint8 frame (height x width x 3) to the encoder."""
        w, h = self.size
        if frame.shape != (h, w, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 {h}x{w}x3, got {frame.dtype} {frame.shape}")
        assert self._proc is not None and self._proc.stdin is not None, "writer is not open"
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).data)
        except (BrokenPipeError, OSError) as e:
            raise EncodeError(f"ffmpeg stopped accepting frames: {self._stderr_tail()}") from e
        self._frames += 1

    def close(self) -> None:
        """Finish encoding, fit the byte budget, and move the file into place."""
        assert self._proc is not None and self._out is not None, "writer is not open"
        try:
            if self._proc.stdin:
                self._proc.stdin.close()
            code = self._proc.wait()
            if code != 0:
                raise EncodeError(f"ffmpeg exited with {code}: {self._stderr_tail()}")
            if self._frames == 0:
                raise EncodeError("no frames were written")
            if self.max_bytes is not None:
                self._fit_budget()
            final = self._out if self._sign is None else self._signed(self._out)
            os.chmod(final, 0o644)  # mkstemp makes 0600 files
            os.replace(final, self.path)
        except BaseException:
            self.abort()
            raise
        self._cleanup()

    def abort(self) -> None:
        """Stop ffmpeg and remove every temporary file."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdin and not self._proc.stdin.closed:
                with contextlib.suppress(OSError):  # the pipe is already broken
                    self._proc.stdin.close()
        self._cleanup()

    # ---- helpers -----------------------------------------------------------------------
    def _temp(self, suffix: str) -> Path:
        fd, name = tempfile.mkstemp(
            prefix=f".{self.path.stem}.", suffix=suffix, dir=self.path.parent
        )
        os.close(fd)
        self._tmp.append(Path(name))
        return Path(name)

    def _cleanup(self) -> None:
        for p in self._tmp:
            p.unlink(missing_ok=True)
        self._tmp.clear()
        if self._proc is not None and self._proc.stderr:
            self._proc.stderr.close()

    def _stderr_tail(self) -> str:
        if self._proc is None or self._proc.stderr is None:
            return ""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        lines = self._proc.stderr.read().decode(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:])

    def _tags(self) -> list[str]:
        out: list[str] = []
        for key, value in self.metadata.items():
            out += ["-metadata", f"{key}={value}"]
        return out

    def _duration(self) -> float:
        return (self.n_frames or 1) / self.fps

    def _video_args(self, cap: int | None) -> list[str]:
        q = self.quality
        args = [
            "-c:v",
            "libx264",
            "-preset",
            q.preset,
            *(["-tune", q.tune] if q.tune else []),
            "-crf",
            str(q.crf),
            "-pix_fmt",
            "yuv420p",
            "-profile:v",
            "high",
            "-r",
            str(self.fps),
            "-g",
            str(max(1, round(self.fps * q.keyframe_seconds))),
        ]
        if cap is None:
            return args
        buffer = int(cap * _VBV_SECONDS)
        return [
            *args,
            "-maxrate",
            str(cap),
            "-bufsize",
            str(buffer),
            "-rc_init_occupancy",
            str(int(buffer * _VBV_INIT)),
        ]

    def _fit_budget(self) -> None:
        """Check the finished file; should it still be over, re-encode it (never from memory)
        under a lower cap, or refuse."""
        assert self._out is not None and self.max_bytes is not None
        cap = self.plan.video_cap
        assert cap is not None
        limit = self.max_bytes - self._reserve
        for _ in range(2):
            size = self._out.stat().st_size
            if size <= limit:
                return
            cap = int(cap * limit / size * 0.9)
            if cap < self.plan.floor:
                break
            self._reencode(cap)
        if self._out.stat().st_size > limit:
            self._refuse()

    def _refuse(self) -> NoReturn:
        raise InvalidInput(
            f"The video does not fit in {self.max_bytes} bytes at an acceptable quality: "
            "allow more bytes or send a shorter script.",
            field="options",
        )

    def _signed(self, src: Path) -> Path:
        """``src`` signed into a new temporary file, checked against the byte budget."""
        assert self._sign is not None
        dst = self._temp(".mp4")
        self._sign(src, dst)
        if self.max_bytes is not None and dst.stat().st_size > self.max_bytes:
            self._refuse()  # a manifest over SIGNATURE_BYTES (a very long chain)
        return dst

    def _reencode(self, cap: int) -> None:
        assert self._out is not None
        redo = self._temp(".mp4")
        cmd = [
            *_ffmpeg(),
            "-i",
            str(self._out),
            "-map",
            "0",
            *self._video_args(cap),
            "-c:a",
            "copy",
            *self._tags(),
            "-movflags",
            "+faststart",
            str(redo),
        ]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0:
            raise EncodeError(
                f"ffmpeg re-encode failed: {proc.stderr.decode(errors='replace')[-300:]}"
            )
        os.replace(redo, self._out)


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a media file."""

    has_video: bool
    has_audio: bool
    video_codec: str | None
    audio_codec: str | None
    width: int
    height: int
    pix_fmt: str | None
    level: int  # H.264 level x 10 (30 = 3.0); 0 when unknown
    fps: float
    video_duration: float
    audio_duration: float
    duration: float
    n_frames: int
    size_bytes: int
    tags: dict[str, str] = field(default_factory=dict)


def probe(path: Path) -> MediaInfo:
    """Inspect a media file with ffprobe (streams, codecs, durations, frame count, tags)."""
    cmd = [
        _tool("ffprobe"),
        "-v",
        "error",
        "-count_packets",
        "-show_streams",
        "-show_format",
        "-of",
        "json",
        str(path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise EncodeError(f"ffprobe failed on {path}: {proc.stderr.strip()[-300:]}")
    data = json.loads(proc.stdout)
    streams = data.get("streams", [])
    video: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "video"), {})
    audio: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "audio"), {})
    fmt = data.get("format", {})
    num, _, den = str(video.get("avg_frame_rate", "0/1")).partition("/")
    fps = float(num) / float(den or 1) if float(den or 1) else 0.0
    return MediaInfo(
        has_video=bool(video),
        has_audio=bool(audio),
        video_codec=video.get("codec_name"),
        audio_codec=audio.get("codec_name"),
        width=int(video.get("width", 0)),
        height=int(video.get("height", 0)),
        pix_fmt=video.get("pix_fmt"),
        level=max(0, int(video.get("level", 0) or 0)),
        fps=fps,
        video_duration=float(video.get("duration", 0) or 0),
        audio_duration=float(audio.get("duration", 0) or 0),
        duration=float(fmt.get("duration", 0) or 0),
        n_frames=int(video.get("nb_read_packets", 0) or 0),
        size_bytes=int(fmt.get("size", 0) or 0),
        tags={str(k).lower(): str(v) for k, v in (fmt.get("tags") or {}).items()},
    )
