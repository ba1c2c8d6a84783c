"""Is a video one of ours? The inaudible watermark in its audio, and the job in its metadata.

Used by ``mouthpiece verify FILE``. Reads the file's first audio track (the containers a voice
note or our MP4 can be: the file is treated as untrusted, see :mod:`engine.media.ffmpeg`),
asks :func:`engine.watermark.detect_watermark`, and reads the MP4 ``comment`` tag the worker
writes ("Mouthpiece job <id>").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InvalidInput
from engine.media.audio import decode_audio
from engine.media.ffmpeg import ToolTimeout, probe_upload

__all__ = ["Verdict", "verify", "job_from_tags"]

_JOB = re.compile(r"Mouthpiece job ([0-9A-Za-z_-]+)")
_RATE = 32_000  # the watermark's own rate
_MAX_SECONDS = 120.0  # the mark is everywhere in the speech: two minutes are plenty


@dataclass(frozen=True)
class Verdict:
    watermarked: bool
    confidence: float  # detector output in [0, 1]; 0.0 without an audio track
    job_id: str | None  # from the metadata; None when absent (or stripped)
    has_audio: bool
    tool: str | None  # the "encoder" tag, e.g. "Mouthpiece"


def job_from_tags(tags: dict[str, str]) -> str | None:
    match = _JOB.search(tags.get("comment", ""))
    return match.group(1) if match else None


def verify(path: Path, *, threshold: float | None = None) -> Verdict:
    """Check ``path``. Raises :class:`InvalidInput` naming the file when it cannot be read."""
    from engine.watermark import THRESHOLD, detect_watermark

    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file.", field="file")
    try:
        info = probe_upload(path)
    except ToolTimeout as e:
        raise InvalidInput(f"{path.name} took too long to read.", field="file") from e
    if info is None:
        raise InvalidInput(f"{path.name} is not a media file ffprobe can read.", field="file")
    job, tool = job_from_tags(info.tags), info.tags.get("encoder")
    if not info.has_audio:
        return Verdict(False, 0.0, job, False, tool)
    try:
        audio = decode_audio(path, sample_rate=_RATE, max_seconds=_MAX_SECONDS)
    except InvalidInput as e:
        raise InvalidInput(
            f"The audio track of {path.name} cannot be decoded.", field="file"
        ) from e
    confidence = detect_watermark(audio)
    limit = THRESHOLD if threshold is None else threshold
    return Verdict(confidence > limit, confidence, job, True, tool)
