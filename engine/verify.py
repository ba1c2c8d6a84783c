"""Is a video one of ours, and which job made it? Every mark it carries, read in one pass.

Used by ``mouthpiece verify FILE`` and the moderators' ``/mod verify``. The marks, from the
strongest claim to the most robust:

- the **C2PA manifest** (:mod:`engine.provenance.manifest`): signed, names the job, the
  tool and how consent was given; valid only while the file is untouched;
- the **job token in the speech** (:mod:`engine.provenance.payload`): survives re-encoding,
  trims and audio extraction; maps to the job through the bot's audit log;
- **Perth's watermark** (:mod:`engine.watermark`): present or absent, no payload;
- the **visible label** (:func:`engine.media.label.find_label`) in a frame;
- the **metadata** comment ("Mouthpiece job <id>"): stripped by any re-encode.

The file is untrusted: its container and streams are read by ffmpeg/ffprobe under
whitelists and a timeout (:mod:`engine.media.ffmpeg`) and, given a jail, in a confined
process (:mod:`engine.jail`, operation ``inspect``); the marks are then read from the decoded
samples and pixels.
"""

from __future__ import annotations

import io
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import InvalidInput
from engine.media.ffmpeg import DECODE_TIMEOUT, ToolTimeout, probe_upload, run_tool, tool
from engine.media.ffmpeg import untrusted_input as _untrusted
from engine.types import Audio

if TYPE_CHECKING:
    from engine.jail import Jail

__all__ = [
    "Verdict",
    "verify",
    "inspect",
    "report_lines",
    "job_from_tags",
    "VIDEO_DEMUXERS",
    "VIDEO_DECODERS",
]

_JOB = re.compile(r"Mouthpiece job ([0-9A-Za-z_-]+)")
RATE = 32_000  # Perth's own rate; the payload reader resamples from it
_MAX_SECONDS = 120.0  # every mark is everywhere in the speech: two minutes are plenty
_FRAME_AT = 1.0  # seconds into the video the label is looked for (after any fade-in)
_MAX_FRAME_SIDE = 2048
#: containers and video decoders a shared video can come in (the audio ones come on top)
VIDEO_DEMUXERS = ("mov", "matroska")
VIDEO_DECODERS = ("h264", "hevc", "vp8", "vp9", "av1", "libdav1d", "mpeg4")
_IPTC_AI = "trainedAlgorithmicMedia"


@dataclass(frozen=True)
class Verdict:
    """Every mark read from one file. ``jobs`` is filled by a caller with the bot's records
    (the operator's ``--db``, a moderator's scope): what the token or job id maps to."""

    watermarked: bool  # Perth's mark is there
    confidence: float  # Perth's detector output in [0, 1]; 0.0 without an audio track
    job_id: str | None  # from the metadata comment; None when absent (or stripped)
    has_audio: bool
    tool: str | None  # the "encoder" tag, e.g. "Mouthpiece"
    manifest: dict[str, Any] = field(default_factory=dict)  # state, signer, claims, errors
    token: int | None = None  # the job token read from the speech
    token_confidence: float = 0.0
    token_errors: int = 0  # payload bits the code corrected
    label: str | None = None  # where the visible caption was found (a corner), or None
    label_score: float = 0.0
    label_text: str = ""
    jobs: tuple[dict[str, Any], ...] = ()

    @property
    def manifest_state(self) -> str:
        return str(self.manifest.get("state", "absent"))

    @property
    def manifest_job(self) -> str | None:
        claims = self.manifest.get("claims") or {}
        job = claims.get("job_id") if isinstance(claims, dict) else None
        return str(job) if job else None

    @property
    def says_generated(self) -> bool:
        """Any mark says the file is AI-generated: a manifest (intact or not) whose source
        type says so, the token, Perth's mark or the visible label."""
        source = str(self.manifest.get("source_type") or "")
        return bool(
            (self.manifest_state != "absent" and source.endswith(_IPTC_AI))
            or self.token is not None
            or self.watermarked
            or self.label is not None
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["token"] = None if self.token is None else f"0x{self.token:08x}"
        out["says_generated"] = self.says_generated
        return out


def job_from_tags(tags: dict[str, str]) -> str | None:
    match = _JOB.search(tags.get("comment", ""))
    return match.group(1) if match else None


def verify(
    path: Path,
    *,
    jail: Jail | None = None,
    trust_anchor_pem: bytes | None = None,
    threshold: float | None = None,
) -> Verdict:
    """Read every mark of ``path``. Raises :class:`InvalidInput` naming the file when it
    cannot be read at all."""
    from engine.provenance import payload
    from engine.watermark import THRESHOLD, detect_watermark

    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file.", field="file")
    if jail is not None:
        anchor = trust_anchor_pem.decode() if trust_anchor_pem else ""
        got = jail.inspect(path, trust_anchor=anchor, max_seconds=_MAX_SECONDS)
        header = got.header
        audio = got.as_audio() if got.array is not None else None
    else:
        header, audio = inspect(path, trust_anchor_pem=trust_anchor_pem)
    tags = dict(header.get("tags") or {})
    manifest = dict(header.get("manifest") or {})
    label = dict(header.get("label") or {})
    confidence, reading = 0.0, None
    if audio is not None and audio.samples.size:
        confidence = detect_watermark(audio)
        reading = payload.read(audio)
    limit = THRESHOLD if threshold is None else threshold
    return Verdict(
        watermarked=confidence > limit,
        confidence=confidence,
        job_id=job_from_tags(tags),
        has_audio=bool(header.get("has_audio")),
        tool=tags.get("encoder"),
        manifest=manifest,
        token=reading.token if reading else None,
        token_confidence=reading.confidence if reading else 0.0,
        token_errors=reading.bit_errors if reading else 0,
        label=label.get("position"),
        label_score=float(label.get("score") or 0.0),
        label_text=str(label.get("text") or ""),
    )


def inspect(
    path: Path,
    *,
    trust_anchor_pem: bytes | None = None,
    max_seconds: float = _MAX_SECONDS,
    timeout: float = DECODE_TIMEOUT,
) -> tuple[dict[str, Any], Audio | None]:
    """The untrusted part of :func:`verify` (run in the decode jail when there is one): the
    container's tags, the manifest's report, the label found in a frame, and the decoded
    audio (mono at :data:`RATE`; None without an audio track)."""
    from engine.media.audio import decode_audio
    from engine.media.label import DEFAULT_TEXT, find_label
    from engine.provenance.manifest import read_manifest

    try:
        info = probe_upload(path, timeout=timeout)
    except ToolTimeout as e:
        raise InvalidInput(f"{path.name} took too long to read.", field="file") from e
    if info is None:
        raise InvalidInput(f"{path.name} is not a media file ffprobe can read.", field="file")
    report = read_manifest(path, trust_anchor_pem)
    manifest = asdict(report)
    header: dict[str, Any] = {
        "tags": info.tags,
        "has_audio": info.has_audio,
        "has_video": info.has_video,
        "manifest": manifest,
    }
    if info.has_video:
        claims = manifest.get("claims") or {}
        text = str(claims.get("label") or DEFAULT_TEXT) if isinstance(claims, dict) else ""
        frame = grab_frame(path, at=min(_FRAME_AT, info.duration / 2), timeout=timeout)
        if frame is not None:
            position, score = find_label(frame, text or DEFAULT_TEXT)
            header["label"] = {"position": position, "score": score, "text": text}
    audio = None
    if info.has_audio:
        try:
            audio = decode_audio(path, sample_rate=RATE, max_seconds=max_seconds, timeout=timeout)
        except InvalidInput as e:
            raise InvalidInput(
                f"The audio track of {path.name} cannot be decoded.", field="file"
            ) from e
    return header, audio


def grab_frame(path: Path, *, at: float, timeout: float = DECODE_TIMEOUT) -> np.ndarray | None:
    """One RGB frame near ``at`` seconds (at most :data:`_MAX_FRAME_SIDE` pixels a side),
    decoded under the whitelists; None when there is none to decode."""
    from engine.media.audio import MAX_ALLOC_BYTES

    side = _MAX_FRAME_SIDE
    cmd = [tool("ffmpeg"), "-nostdin", "-v", "error", "-max_alloc", str(MAX_ALLOC_BYTES)]
    cmd += ["-ss", f"{max(0.0, at):.3f}"]
    cmd += _untrusted(path, demuxers=VIDEO_DEMUXERS, decoders=VIDEO_DECODERS)
    cmd += ["-map", "0:v:0", "-an", "-sn", "-dn", "-frames:v", "1"]
    cmd += ["-vf", f"scale='min({side},iw)':'min({side},ih)':force_original_aspect_ratio=decrease"]
    cmd += ["-f", "image2pipe", "-c:v", "png", "pipe:1"]
    try:
        done = run_tool(cmd, timeout=timeout)
    except ToolTimeout:
        return None
    if done.returncode != 0 or not done.stdout:
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(done.stdout)) as img:
            if img.format != "PNG" or max(img.size) > side:
                return None
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError):
        return None


_STATES = {
    "valid": "valid, signed by a trusted signer",
    "untrusted": "intact, but the signer is not one this machine trusts",
    "invalid": "INVALID: the file was changed after signing, or the signature is bad",
}


def report_lines(verdict: Verdict) -> list[str]:
    """What each mark says, one screen (the command line and ``/mod verify`` print it)."""
    out = [
        "verdict: AI-generated (marked by Mouthpiece)"
        if verdict.says_generated
        else "verdict: no Mouthpiece mark found",
        *_manifest_lines(verdict),
    ]
    if not verdict.has_audio:
        out.append("speech mark: none (the file has no audio track)")
    elif verdict.token is not None:
        out.append(
            f"speech mark: job token 0x{verdict.token:08x} (confidence "
            f"{verdict.token_confidence:.2f}, {verdict.token_errors} bits corrected)"
        )
    else:
        out.append("speech mark: no job token found")
    if verdict.has_audio:
        answer = "yes" if verdict.watermarked else "no"
        out.append(f"watermark (Perth): {answer} (confidence {verdict.confidence:.2f})")
    if verdict.label is not None:
        text = verdict.label_text or "AI-generated"
        out.append(f"visible label: {text!r} at {verdict.label} (score {verdict.label_score:.2f})")
    else:
        out.append(f"visible label: not found (best score {verdict.label_score:.2f})")
    out.append(f"metadata: job {verdict.job_id}" if verdict.job_id else "metadata: no job id")
    return out


def _manifest_lines(verdict: Verdict) -> list[str]:
    m, state = verdict.manifest, verdict.manifest_state
    if state == "absent":
        return ["manifest (C2PA): none"]
    out = [f"manifest (C2PA): {_STATES.get(state, state)}"]
    if m.get("signer"):
        out.append(f"  signer: {m['signer']}")
    if m.get("source_type"):
        out.append(f"  source: {str(m['source_type']).rsplit('/', 1)[-1]}")
    claims = m.get("claims") or {}
    if isinstance(claims, dict) and claims:
        backends = ", ".join(f"{k} {v}" for k, v in (claims.get("backends") or {}).items())
        out.append(
            f"  job: {claims.get('job_id', '?')}; consent: {claims.get('consent', '?')}; "
            f"made with {backends or '?'}"
        )
    if state != "valid" and m.get("errors"):
        out.append(f"  problems: {', '.join(str(e) for e in list(m['errors'])[:4])}")
    return out
