"""Running ffmpeg and ffprobe on files users sent: whitelists, a timeout, no strays.

An upload is attacker-controlled. ffmpeg guesses the container from the bytes, and some of
its demuxers open *other* files: an HLS playlist (``#EXTM3U`` with relative segment paths),
a DASH manifest (``<MPD>`` with a ``file://`` BaseURL), an ffconcat list, an SDP description
(network streams) or an image2 pattern. Sent as a "voice note", such a file would render with
the audio of another file on the worker's disk. So every run on user data:

* reads only the one plain file it is given (``-protocol_whitelist file``, the path passed
  as ``file:PATH`` so no name is taken for an option or a URL),
* accepts only the containers a voice note can be (``-format_whitelist``: WAV, MP3, Ogg,
  Matroska/WebM, MP4/M4A/MOV, FLAC, ADTS AAC; no playlist, manifest, list or sequence),
* opens only audio decoders (``-codec_whitelist``) when decoding: the video track of an MP4
  is never decoded, not even while ffmpeg probes the streams (ffprobe, which opens a decoder
  for every stream and fails on a refused one, runs without this list),
* runs in its own process group with a timeout; on expiry the whole group is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import BackendUnavailable

__all__ = [
    "AUDIO_DEMUXERS",
    "AUDIO_DECODERS",
    "DECODE_TIMEOUT",
    "ToolTimeout",
    "UploadInfo",
    "tool",
    "untrusted_input",
    "run_tool",
    "probe_upload",
    "probe_audio_stream",
]

#: ffmpeg demuxer names (``ffmpeg -demuxers``) a voice note can arrive in; a demuxer whose
#: name lists several ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm") matches by any of them.
AUDIO_DEMUXERS = ("wav", "mp3", "ogg", "matroska", "mov", "flac", "aac")
#: ffmpeg decoder names for the audio codecs those containers carry in voice notes.
AUDIO_DECODERS = (
    "opus",
    "libopus",
    "vorbis",
    "libvorbis",
    "mp3float",
    "mp3",
    "aac",
    "alac",
    "flac",
    "pcm_s16le",
    "pcm_s24le",
    "pcm_s32le",
    "pcm_f32le",
    "pcm_f64le",
    "pcm_u8",
    "pcm_alaw",
    "pcm_mulaw",
)
DECODE_TIMEOUT = 60.0  # seconds; EngineSettings.decode_timeout (MOUTHPIECE_DECODE_TIMEOUT)


class ToolTimeout(Exception):
    """ffmpeg/ffprobe ran past its timeout and was killed with its process group."""


def tool(name: str) -> str:
    """The path of ``ffmpeg`` or ``ffprobe``; BackendUnavailable when it is not installed."""
    exe = shutil.which(name)
    if exe is None:
        raise BackendUnavailable(f"{name} is not installed", hint="apt-get install ffmpeg")
    return exe


def untrusted_input(
    path: Path,
    *,
    demuxers: tuple[str, ...] = AUDIO_DEMUXERS,
    decoders: tuple[str, ...] | None = AUDIO_DECODERS,
) -> list[str]:
    """ffmpeg/ffprobe input options that read ``path`` as an untrusted upload, then ``-i``."""
    args = ["-protocol_whitelist", "file", "-format_whitelist", ",".join(demuxers)]
    if decoders is not None:
        args += ["-codec_whitelist", ",".join(decoders)]
    return [*args, "-i", f"file:{Path(path).resolve()}"]


def run_tool(cmd: list[str], *, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """Run ``cmd`` in a new process group, capture its output, kill the group on timeout."""
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: killpg reaches anything it starts
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as e:
        _kill_group(proc)
        raise ToolTimeout(f"{Path(cmd[0]).name} ran past {timeout:g} s") from e
    except BaseException:  # KeyboardInterrupt, cancellation of the calling thread's task
        _kill_group(proc)
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()  # reap it and close the pipes


@dataclass(frozen=True)
class UploadInfo:
    """What ffprobe says about an upload: its container, streams and metadata tags."""

    format_name: str
    has_audio: bool
    has_video: bool
    duration: float
    tags: dict[str, str] = field(default_factory=dict)


def probe_upload(path: Path, *, timeout: float = DECODE_TIMEOUT) -> UploadInfo | None:
    """ffprobe ``path`` under the same whitelists; None when it is not an allowed media file."""
    cmd = [
        tool("ffprobe"),
        "-v",
        "error",
        "-show_streams",
        "-show_format",
        "-of",
        "json",
        *untrusted_input(path, decoders=None),
    ]
    done = run_tool(cmd, timeout=timeout)
    if done.returncode != 0:
        return None
    try:
        data: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        return None
    streams = data.get("streams", [])
    fmt = data.get("format", {})
    kinds = {s.get("codec_type") for s in streams}
    try:
        duration = float(fmt.get("duration", 0) or 0)
    except ValueError:
        duration = 0.0
    return UploadInfo(
        format_name=str(fmt.get("format_name", "")),
        has_audio="audio" in kinds,
        has_video="video" in kinds,
        duration=duration,
        tags={str(k).lower(): str(v) for k, v in (fmt.get("tags") or {}).items()},
    )


def probe_audio_stream(path: Path, *, timeout: float = DECODE_TIMEOUT) -> tuple[int, int] | None:
    """The first audio stream's declared (sample rate, channels), read from the container's
    header under the same whitelists (ffprobe decodes nothing here); None when the file has
    no audio stream or is not an allowed media file."""
    cmd = [
        tool("ffprobe"),
        "-v",
        "error",
        "-select_streams",
        "a:0",
        "-show_entries",
        "stream=sample_rate,channels",
        "-of",
        "json",
        *untrusted_input(path, decoders=None),
    ]
    done = run_tool(cmd, timeout=timeout)
    if done.returncode != 0:
        return None
    try:
        streams = json.loads(done.stdout).get("streams") or []
        first = streams[0]
        return int(first.get("sample_rate", 0) or 0), int(first.get("channels", 0) or 0)
    except (ValueError, IndexError, AttributeError, TypeError):
        return None
