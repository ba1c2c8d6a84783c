"""Values passed between the engine's stages. Dataclasses, never loose dicts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "Audio",
    "FaceBox",
    "FaceLandmarks",
    "Portrait",
    "PhotoIntake",
    "VoiceIntake",
    "VoiceRef",
    "Segment",
    "Speech",
    "RenderOptions",
    "RenderRequest",
    "RenderResult",
    "Progress",
    "ProgressCallback",
    "CancelCheck",
]


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 1:
            raise ValueError(f"Audio must be mono (1-D), got shape {self.samples.shape}")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    def content_hash(self) -> str:
        """SHA-256 of the sample rate and samples: the key for caches of derived data."""
        h = hashlib.sha256(str(self.sample_rate).encode())
        h.update(np.ascontiguousarray(self.samples, dtype=np.float32).tobytes())
        return h.hexdigest()


@dataclass(frozen=True)
class FaceBox:
    """Axis-aligned face box in pixels of the portrait image."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h


@dataclass(frozen=True)
class FaceLandmarks:
    """Landmarks in pixel coordinates (x, y) of the portrait image.

    Contours are ordered polygons. ``source`` says which detector produced them
    (``mediapipe`` gives measured contours; ``estimate`` places them from the face box).
    """

    outer_lips: np.ndarray  # (N, 2) float32, closed polygon, starts at the left mouth corner
    inner_lips: np.ndarray  # (M, 2) float32, closed polygon
    left_eye: np.ndarray  # (K, 2) eye contour, the subject's left (image right)
    right_eye: np.ndarray  # (K, 2)
    jaw: np.ndarray  # (J, 2) lower face outline from ear to ear through the chin
    nose_tip: tuple[float, float]
    source: str = "mediapipe"

    @property
    def mouth_center(self) -> tuple[float, float]:
        c = self.outer_lips.mean(axis=0)
        return float(c[0]), float(c[1])

    @property
    def mouth_width(self) -> float:
        return float(np.ptp(self.outer_lips[:, 0]))


@dataclass(frozen=True)
class Portrait:
    """A decoded photo (RGB uint8, H x W x 3, even sides) with its one face found.

    ``source``: the SHA-256 of the photo file it was decoded from, set by the engine when it
    loads one. It names the portrait for the caches of work made from the photo alone (a
    person renders many videos from one saved photo), so that work is done once and can be
    erased with the photo; a portrait without one is never cached.
    """

    image: np.ndarray
    face: FaceBox
    landmarks: FaceLandmarks
    faces_found: int = 1
    warnings: tuple[str, ...] = ()
    source: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    @property
    def work_key(self) -> tuple[str, int, int, str] | None:
        """What work made from this portrait alone is kept under, or None (no ``source``).

        The file's digest comes first (what erasure drops by); the image size and a digest of
        the face found follow, so the same file decoded at another working size, or given
        another face, is never served work made for the first.
        """
        if self.source is None:
            return None
        lm, f = self.landmarks, self.face
        contours = (lm.outer_lips, lm.inner_lips, lm.left_eye, lm.right_eye, lm.jaw)
        lengths = ",".join(str(len(c)) for c in contours)
        h = hashlib.blake2b(f"{f.x},{f.y},{f.w},{f.h};{lm.source};{lm.nose_tip};{lengths}".encode())
        for points in contours:
            h.update(np.ascontiguousarray(points, dtype=np.float32).tobytes())
        return self.source, *self.size, h.hexdigest()


@dataclass(frozen=True)
class PhotoIntake:
    """What the intake check found in a photo, handed on so the render finds the face once.

    ``digest`` is the SHA-256 of the photo file's bytes: the render uses the rest only for a
    file with exactly those bytes, decoded to exactly ``width`` x ``height`` (the working
    image the face was found in). One codec (``to_json``/``from_json``) for every hand-off.
    """

    digest: str
    width: int
    height: int
    face: FaceBox
    landmarks: FaceLandmarks
    faces_found: int = 1
    warnings: tuple[str, ...] = ()

    @classmethod
    def of(cls, digest: str, portrait: Portrait) -> PhotoIntake:
        w, h = portrait.size
        return cls(
            digest, w, h, portrait.face, portrait.landmarks, portrait.faces_found, portrait.warnings
        )

    def portrait(self, image: np.ndarray) -> Portrait:
        """The portrait of ``image`` (the photo decoded again) with the face found at intake."""
        if (int(image.shape[1]), int(image.shape[0])) != (self.width, self.height):
            raise ValueError("the image is not the one this intake was made from")
        return Portrait(image, self.face, self.landmarks, self.faces_found, self.warnings)

    def to_json(self) -> str:
        lm = self.landmarks
        return json.dumps(
            {
                "digest": self.digest,
                "size": [self.width, self.height],
                "face": [self.face.x, self.face.y, self.face.w, self.face.h],
                "landmarks": {
                    "outer_lips": lm.outer_lips.tolist(),
                    "inner_lips": lm.inner_lips.tolist(),
                    "left_eye": lm.left_eye.tolist(),
                    "right_eye": lm.right_eye.tolist(),
                    "jaw": lm.jaw.tolist(),
                    "nose_tip": list(lm.nose_tip),
                    "source": lm.source,
                },
                "faces_found": self.faces_found,
                "warnings": list(self.warnings),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> PhotoIntake:
        """Parse ``to_json``'s output; ValueError when it is not one (exact: float32 values
        survive the round trip through JSON unchanged)."""
        try:
            d = json.loads(raw)
            lm = d["landmarks"]

            def pts(name: str) -> np.ndarray:
                arr = np.asarray(lm[name], dtype=np.float32)
                if arr.ndim != 2 or arr.shape[1] != 2:
                    raise ValueError(f"landmarks {name} have shape {arr.shape}")
                return arr

            nose = lm["nose_tip"]
            return cls(
                digest=str(d["digest"]),
                width=int(d["size"][0]),
                height=int(d["size"][1]),
                face=FaceBox(*(int(v) for v in d["face"])),
                landmarks=FaceLandmarks(
                    outer_lips=pts("outer_lips"),
                    inner_lips=pts("inner_lips"),
                    left_eye=pts("left_eye"),
                    right_eye=pts("right_eye"),
                    jaw=pts("jaw"),
                    nose_tip=(float(nose[0]), float(nose[1])),
                    source=str(lm["source"]),
                ),
                faces_found=int(d["faces_found"]),
                warnings=tuple(str(w) for w in d["warnings"]),
            )
        except (KeyError, TypeError, IndexError, json.JSONDecodeError) as e:
            raise ValueError(f"not a photo intake: {e}") from e


@dataclass(frozen=True)
class VoiceIntake:
    """What the intake check found in a voice note: its length (``digest``: the SHA-256 of
    the file's bytes, which also names what caches derive from the voice)."""

    digest: str
    seconds: float
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class VoiceRef:
    """The reference voice: cleaned audio and, when known, what was said in it. ``source``:
    the SHA-256 of the file it was decoded from, which names what caches derive from it."""

    audio: Audio
    transcript: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Segment:
    """A timed unit of speech: a word, a phoneme or a chunk, in seconds from the start."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Speech:
    """Synthesised speech plus what the lip-sync stage can use to shape the mouth.

    ``phonemes`` hold espeak/IPA symbols where the backend knows them; ``words`` and
    ``chunks`` are coarser. Any list may be empty: lip sync then follows the audio alone.
    """

    audio: Audio
    words: tuple[Segment, ...] = ()
    phonemes: tuple[Segment, ...] = ()
    chunks: tuple[Segment, ...] = ()
    backend: str = ""
    watermarked: bool = False
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderOptions:
    """Knobs of one render. Defaults give the product's normal output."""

    fps: int = 25
    tail_seconds: float = 0.4  # the video ends this long after the speech, never more
    max_bytes: int | None = None  # byte budget of the MP4 (Discord: 10 MiB, Telegram: 50 MB)
    seed: int = 0
    head_motion: bool = True
    blinks: bool = True
    label: str | None = None  # visible caption such as "AI-generated"; None for none
    label_position: str = "bottom-right"
    metadata: tuple[tuple[str, str], ...] = ()  # extra MP4 tags, e.g. (("comment", "job 42"),)
    lipsync_steps: int | None = None  # diffusion steps where the backend samples
    # provenance: the job the video's manifest and speech mark name ("": a new "cli-" id),
    # and how the consent of the person shown was given (a method, never personal data)
    job_id: str = ""
    consent: str = "not stated (command line)"


@dataclass(frozen=True)
class RenderRequest:
    """Everything one render needs. Paths are read by the engine; nothing is modified."""

    script: str
    voice: Path
    photo: Path
    output: Path
    voice_text: str | None = None
    options: RenderOptions = field(default_factory=RenderOptions)
    # the photo's intake check, when one was made: the render then decodes the photo but
    # finds no face again (used only when ``digest`` matches the file's bytes)
    photo_intake: PhotoIntake | None = None
    # the script's language (spoken_text.languages: "fr", ...); None or "auto": detected
    language: str | None = None


@dataclass(frozen=True)
class RenderResult:
    """What a render produced and how long each stage took."""

    output: Path
    speech_seconds: float
    video_seconds: float
    frames: int
    size_bytes: int
    stage_seconds: dict[str, float]
    warnings: tuple[str, ...]
    tts_backend: str
    lipsync_backend: str
    watermarked: bool
    job_id: str = ""  # the job the manifest and the speech mark name
    token: int | None = None  # the job's token in the speech (None: not marked)
    signed: bool = False  # the MP4 carries a signed C2PA manifest
    language: str = ""  # the language the script was spoken in ("fr", ...)


@dataclass(frozen=True)
class Progress:
    """A progress report: ``stage`` name and its ``fraction`` done in [0, 1]."""

    stage: str
    fraction: float
    message: str = ""


ProgressCallback = Callable[[Progress], None]
CancelCheck = Callable[[], bool]
