"""Video out: frames streamed into one ffmpeg process -> H.264 + AAC MP4, +faststart.

Frames go through ffmpeg's stdin as raw RGB, so memory does not grow with the video. The
file appears at its final path only when it is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from engine.errors import BackendUnavailable, EngineError, InvalidInput
from engine.types import Audio

__all__ = ["VideoWriter", "EncodeError", "MediaInfo", "probe"]

AUDIO_BITRATE = 128_000
MIN_VIDEO_BITRATE = 50_000
_FILL = 0.92  # share of the byte budget aimed at; container overhead and rate control take the rest


class EncodeError(EngineError):
    """ffmpeg failed; the message carries its last lines (for operators)."""


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise BackendUnavailable(f"{name} is not installed", hint="apt-get install ffmpeg")
    return exe


class VideoWriter:
    """Write frames of ``size`` = (width, height) plus ``audio`` to an MP4 at ``path``.

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
        crf: int = 20,
    ) -> None:
        width, height = size
        if width % 2 or height % 2 or width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive and even, got {width}x{height}")
        if max_bytes is not None and not n_frames:
            raise ValueError("max_bytes needs n_frames to plan the bitrate")
        self.path = Path(path)
        self.size, self.fps, self.crf = (width, height), fps, crf
        self.max_bytes, self.n_frames = max_bytes, n_frames
        self.metadata = dict(metadata or {})
        self._audio = audio
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: list[Path] = []
        self._out: Path | None = None
        self._frames = 0
        self._audio_bitrate = AUDIO_BITRATE

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
        rate = self._video_bitrate()
        cmd = [
            _tool("ffmpeg"),
            "-nostdin",
            "-v",
            "error",
            "-y",
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
            *self._video_args(rate),
            "-c:a",
            "aac",
            "-b:a",
            str(self._audio_bitrate),
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
            os.chmod(self._out, 0o644)  # mkstemp makes 0600 files
            os.replace(self._out, self.path)
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

    def _video_bitrate(self) -> int | None:
        """Bits per second that fit the budget, or None for constant quality."""
        if self.max_bytes is None:
            return None
        seconds = self._duration()
        total = self.max_bytes * 8 * _FILL / seconds
        self._audio_bitrate = AUDIO_BITRATE if total > 4 * AUDIO_BITRATE else 48_000
        rate = int(total - self._audio_bitrate)
        if rate < MIN_VIDEO_BITRATE:
            raise InvalidInput(
                f"A {seconds:.0f} s video cannot fit in {self.max_bytes} bytes: allow more bytes "
                "or send a shorter script.",
                field="options",
            )
        return rate

    def _video_args(self, rate: int | None) -> list[str]:
        common = [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-profile:v",
            "high",
            "-r",
            str(self.fps),
            "-g",
            str(self.fps * 4),
        ]
        if rate is None:
            return [*common, "-crf", str(self.crf)]
        return [*common, "-b:v", str(rate), "-maxrate", str(int(rate * 1.2)), "-bufsize", str(rate)]

    def _fit_budget(self) -> None:
        """Re-encode from the file just written (never from memory) until it fits."""
        assert self._out is not None and self.max_bytes is not None
        rate = self._video_bitrate()
        assert rate is not None
        for _ in range(3):
            size = self._out.stat().st_size
            if size <= self.max_bytes:
                return
            rate = int(rate * self.max_bytes / size * 0.9)
            if rate < MIN_VIDEO_BITRATE:
                break
            redo = self._temp(".mp4")
            cmd = [
                _tool("ffmpeg"),
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-i",
                str(self._out),
                "-map",
                "0",
                *self._video_args(rate),
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
        if self._out.stat().st_size > self.max_bytes:
            raise InvalidInput(
                f"The video cannot fit in {self.max_bytes} bytes: allow more bytes or send a "
                "shorter script.",
                field="options",
            )


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
        fps=fps,
        video_duration=float(video.get("duration", 0) or 0),
        audio_duration=float(audio.get("duration", 0) or 0),
        duration=float(fmt.get("duration", 0) or 0),
        n_frames=int(video.get("nb_read_packets", 0) or 0),
        size_bytes=int(fmt.get("size", 0) or 0),
        tags={str(k).lower(): str(v) for k, v in (fmt.get("tags") or {}).items()},
    )
