"""Photos in: safe bounded decoding, orientation, alpha, working size; the face, found once.

Faces come from mediapipe 0.10.21 (face detection + face mesh, models inside the wheel, offline)
with OpenCV's Haar cascades as the fallback detector when mediapipe cannot run. The detector is
a component (:class:`FaceDetector`) its owner builds once and passes in: the Engine owns one.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import InvalidInput
from engine.types import FaceBox, FaceLandmarks, Portrait

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = [
    "FaceDetector",
    "load_photo",
    "find_face",
    "load_portrait",
    "MIN_FACE_PX",
    "MIN_FACE_FRACTION",
    "PHOTO_FORMATS",
    "MAX_FULL_DECODE_PIXELS",
    "MAX_PHOTO_BYTES",
]

log = logging.getLogger(__name__)

MIN_SIDE, MAX_SIDE = 64, 20_000
#: a JPEG decodes at a reduced scale (DCT scaling) and may have ``max_pixels``; every other
#: format is decoded whole before it can be shrunk, so it is held to this (a 4K screenshot
#: is 8.3 MP; a 40 MP lossless WebP of 1.7 KB cost 1.26 GB to decode)
MAX_FULL_DECODE_PIXELS = 16_000_000
#: bytes of one photo file (Discord's attachment limit is 25 MB, Telegram's photos 10 MB)
MAX_PHOTO_BYTES = 30_000_000
#: scans a JPEG may have (progressive photos have about ten; libjpeg's own tools stop at 1000)
MAX_JPEG_SCANS = 100
#: Pillow plugins a photo may be decoded by (JPEG's also opens phones' multi-picture MPO).
#: The others stay out of reach of uploads: EPS runs Ghostscript, and TIFF, PSD, ICO, TGA
#: & co. are attack surface that no phone photo needs.
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
MIN_FACE_PX = 80
MIN_FACE_FRACTION = 0.10
_UNREADABLE = "The photo could not be read: send a JPEG, PNG or WebP image."
_NO_FACE = (
    "No face found in the photo: send a well-lit, front-facing photo in which one face is "
    "clearly visible and fills a good part of the frame."
)

# mediapipe face-mesh indices (468-point topology): ordered contours.
_LIPS_UPPER_OUT = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
_LIPS_LOWER_OUT = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
_LIPS_UPPER_IN = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
_LIPS_LOWER_IN = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
_EYE_IMG_LEFT = [33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7]
_EYE_IMG_RIGHT = [362, 398, 384, 385, 386, 387, 388, 466, 263, 249, 390, 373, 374, 380, 381, 382]
_JAW = [
    234,
    93,
    132,
    58,
    172,
    136,
    150,
    149,
    176,
    148,
    152,
    377,
    400,
    378,
    379,
    365,
    397,
    288,
    361,
    323,
    454,
]
_NOSE_TIP = 1


def _ring(upper: list[int], lower: list[int]) -> list[int]:
    """Closed polygon: along the upper contour, then back along the lower one."""
    return upper + lower[-2:0:-1]


# ---------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------
def load_photo(
    path: Path | bytes, *, max_pixels: int = 40_000_000, working_size: int = 1024
) -> np.ndarray:
    """Decode a photo (a file, or its bytes) into RGB uint8 with even sides, at most
    ``working_size`` on its longest side.

    The header is checked before any pixel is decoded, so huge images and decompression
    bombs cost nothing.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    source = io.BytesIO(path) if isinstance(path, bytes) else path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(source, formats=PHOTO_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InvalidInput(
            "The photo is far too large: send an ordinary photo.", field="photo"
        ) from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise InvalidInput(_UNREADABLE, field="photo") from e
    with im:
        if im.format == "JPEG":
            _check_header(im.size, max_pixels)
        else:
            _check_header(im.size, min(max_pixels, MAX_FULL_DECODE_PIXELS), or_jpeg=True)
        if im.format == "JPEG":
            _check_scans(path)
            im.draft("RGB", (working_size, working_size))  # decode at a reduced scale
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im.seek(0)
                im.load()
                small = _reduced(im, working_size)  # before any full-size copy is made
                rgb = _to_rgb(ImageOps.exif_transpose(small) or small)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise InvalidInput(
                "The photo is far too large: send an ordinary photo.", field="photo"
            ) from e
        except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt data
            raise InvalidInput(_UNREADABLE, field="photo") from e
    scale = working_size / max(rgb.size)
    if scale < 1:
        size = (max(2, round(rgb.size[0] * scale)), max(2, round(rgb.size[1] * scale)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    arr = np.asarray(rgb, dtype=np.uint8)
    h, w = arr.shape[:2]
    return np.ascontiguousarray(arr[: h - h % 2, : w - w % 2])


def _reduced(im: PILImage, working_size: int) -> PILImage:
    """The decoded image shrunk by a whole factor so that its longest side stays at or above
    ``working_size``: every later step (orientation, alpha, 16-bit and palette conversions)
    then works on that, not on a full-size copy (a 40-megapixel 16-bit PNG of 75 KB cost
    1.1 GB when each step copied it whole)."""
    from PIL import Image

    factor = max(im.size) // working_size
    if factor < 2:
        return im
    try:
        return im.reduce(factor)
    except ValueError:  # modes reduce() does not take (palette, 1-bit, 16-bit)
        size = (max(1, im.size[0] // factor), max(1, im.size[1] // factor))
        return im.resize(size, Image.Resampling.NEAREST)


def _check_scans(path: Path | bytes) -> None:
    """Refuse a JPEG with more scans than any camera writes, before decoding it: each scan
    of a progressive JPEG is a pass over the whole image (20,000 empty scans in 1 MB cost
    Pillow a minute of CPU). A scan starts with an SOS marker (FF DA), which entropy-coded
    data can never contain (an FF there is followed by 00), so counting the pairs is exact
    for the image and an upper bound with an embedded thumbnail."""
    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    scans = data.count(b"\xff\xda")
    if scans > MAX_JPEG_SCANS:
        raise InvalidInput(
            f"The photo is a JPEG of {scans} scans (cameras write at most a few dozen): "
            "send an ordinary photo.",
            field="photo",
        )


def _check_header(size: tuple[int, int], max_pixels: int, *, or_jpeg: bool = False) -> None:
    w, h = size
    if w < MIN_SIDE or h < MIN_SIDE:
        raise InvalidInput(
            f"The photo is only {w}x{h} pixels: send a photo at least {MIN_SIDE * 4} pixels wide.",
            field="photo",
        )
    if w > MAX_SIDE or h > MAX_SIDE or w * h > max_pixels:
        raise InvalidInput(
            f"The photo is {w}x{h} pixels, larger than the {max_pixels // 1_000_000} megapixel "
            f"limit{' for this format' if or_jpeg else ''}: send a smaller photo"
            f"{' or a JPEG' if or_jpeg else ''}.",
            field="photo",
        )


def _to_rgb(im: PILImage) -> PILImage:
    from PIL import Image

    assert isinstance(im, Image.Image)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max() if arr.size and arr.max() > 255 else 255.0
        im = Image.fromarray((arr * (255.0 / top)).clip(0, 255).astype(np.uint8))
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "RGB" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


# ---------------------------------------------------------------------------------------
# faces
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Found:
    box: FaceBox
    landmarks: FaceLandmarks | None


def find_face(image: np.ndarray, detector: FaceDetector | None = None) -> Portrait:
    """Find the faces once, keep the largest, and return it with its landmarks.

    ``detector``: the caller's (built once, reused); without one, a detector is built for
    this call and closed after it (about a second)."""
    if detector is None:
        with FaceDetector() as own:
            return find_face(image, own)
    h, w = image.shape[:2]
    # specks below 24 px or 4 % of the width are detector noise, not faces
    faces = [f for f in detector.detect(image) if f.box.w >= max(24, 0.04 * w)]
    if not faces:
        raise InvalidInput(_NO_FACE, field="photo")
    faces.sort(key=lambda f: f.box.area, reverse=True)
    face = faces[0]
    if face.box.w < MIN_FACE_PX or face.box.w < MIN_FACE_FRACTION * w:
        raise InvalidInput(
            f"The face is too small ({face.box.w} pixels wide in a {w}-pixel-wide photo): "
            "send a closer photo where the face fills more of the frame.",
            field="photo",
        )
    landmarks = face.landmarks or _estimate_landmarks(face.box)
    _check_frontal(landmarks)
    notes: tuple[str, ...] = ()
    if len(faces) > 1:
        notes = (f"{len(faces)} faces found; animating the largest one.",)
    return Portrait(
        image=image, face=face.box, landmarks=landmarks, faces_found=len(faces), warnings=notes
    )


def load_portrait(
    path: Path | bytes,
    *,
    max_pixels: int = 40_000_000,
    working_size: int = 1024,
    detector: FaceDetector | None = None,
) -> Portrait:
    """Decode the photo and find its face."""
    image = load_photo(path, max_pixels=max_pixels, working_size=working_size)
    return find_face(image, detector)


def _check_frontal(lm: FaceLandmarks) -> None:
    """Refuse clear profiles: the nose tip far off the middle of the jaw line."""
    if lm.source != "mediapipe":
        return
    left, right = lm.jaw[0], lm.jaw[-1]
    width = float(np.hypot(*(right - left)))
    if width <= 0:
        return
    offset = (lm.nose_tip[0] - (left[0] + right[0]) / 2) / width
    if abs(offset) > 0.3:
        raise InvalidInput(
            "The face is turned too far to the side: send a front-facing photo.", field="photo"
        )


_quiet = threading.Lock()
_quiet_depth = 0
_quiet_saved = -1


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence native libraries (TFLite, glog) that print to file descriptor 2.

    Process-wide and counted: fd 2 is one per process, so two threads (two detectors) quieting
    it at once share one silence, and the last to leave restores the real stderr (two plain
    save/restore pairs interleaving can leave fd 2 on /dev/null for good). Lines a graph prints
    after its call returned can still slip out; the CLI filters those (:mod:`engine.nativelog`).
    """
    global _quiet_depth, _quiet_saved
    with _quiet:
        if _quiet_depth == 0:
            try:
                saved = os.dup(2)
            except OSError:
                saved = -1
            if saved >= 0:
                with open(os.devnull, "wb") as null:
                    os.dup2(null.fileno(), 2)
            _quiet_saved = saved
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_saved >= 0:
                os.dup2(_quiet_saved, 2)
                os.close(_quiet_saved)
                _quiet_saved = -1


class FaceDetector:
    """mediapipe face detection + face mesh, or OpenCV's Haar cascades when mediapipe cannot
    be imported. Slow to build (about a second), so its owner builds it once, passes it to
    :func:`find_face` and closes it (``close``, or ``with``). Safe to share between threads."""

    def __init__(self) -> None:
        self._faces: _MediapipeFaces | None
        try:
            self._faces = _MediapipeFaces()
            # one pass on a blank image makes the graphs start (and print) now, while quiet
            self._faces.detect(np.zeros((128, 128, 3), np.uint8))
        except ImportError:
            log.warning("mediapipe unavailable; faces will come from OpenCV Haar cascades")
            self._faces = None

    def detect(self, image: np.ndarray) -> list[_Found]:
        if self._faces is None:
            return _haar_detect(image)
        return self._faces.detect(image)

    def close(self) -> None:
        if self._faces is not None:
            self._faces.close()

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _MediapipeFaces:
    """mediapipe's detector + face mesh, run one image at a time."""

    def __init__(self) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with _quiet_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mediapipe as mp

            self._detector = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=0.5
            )
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=4,
                refine_landmarks=False,
                min_detection_confidence=0.3,
            )
        self._run_lock = threading.Lock()

    def close(self) -> None:
        with self._run_lock:
            for graph in (self._detector, self._mesh):
                _close(graph)

    def detect(self, image: np.ndarray) -> list[_Found]:
        h, w = image.shape[:2]
        with self._run_lock, _quiet_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            det = self._detector.process(image)
            mesh = self._mesh.process(image)
        boxes = [_det_box(d, w, h) for d in (getattr(det, "detections", None) or [])] if det else []
        meshes = (
            [_mesh_landmarks(m, w, h) for m in (getattr(mesh, "multi_face_landmarks", None) or [])]
            if mesh
            else []
        )
        if not boxes:
            # the mesh can find a face the detector missed (a very close crop)
            return [_Found(_bounds(lm), lm) for lm in meshes]
        found = []
        for box in boxes:
            match = max(meshes, key=lambda lm: _overlap(box, _bounds(lm)), default=None)
            if match is not None and _overlap(box, _bounds(match)) < 0.3:
                match = None
            found.append(_Found(box, match))
        return found


def _close(graph: Any) -> None:
    with contextlib.suppress(Exception):  # closing twice, or a graph that failed to start
        graph.close()


def _det_box(detection: object, w: int, h: int) -> FaceBox:
    rel = detection.location_data.relative_bounding_box  # type: ignore[attr-defined]
    x0, y0 = max(0, int(rel.xmin * w)), max(0, int(rel.ymin * h))
    x1, y1 = min(w, int((rel.xmin + rel.width) * w)), min(h, int((rel.ymin + rel.height) * h))
    return FaceBox(x0, y0, max(1, x1 - x0), max(1, y1 - y0))


def _mesh_landmarks(face: object, w: int, h: int) -> FaceLandmarks:
    pts = np.array([(p.x * w, p.y * h) for p in face.landmark], dtype=np.float32)  # type: ignore[attr-defined]
    nose = pts[_NOSE_TIP]
    return FaceLandmarks(
        outer_lips=pts[_ring(_LIPS_UPPER_OUT, _LIPS_LOWER_OUT)],
        inner_lips=pts[_ring(_LIPS_UPPER_IN, _LIPS_LOWER_IN)],
        left_eye=pts[_EYE_IMG_RIGHT],
        right_eye=pts[_EYE_IMG_LEFT],
        jaw=pts[_JAW],
        nose_tip=(float(nose[0]), float(nose[1])),
        source="mediapipe",
    )


def _bounds(lm: FaceLandmarks) -> FaceBox:
    pts = np.concatenate([lm.jaw, lm.left_eye, lm.right_eye])
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    top = y0 - (y1 - y0) * 0.25  # the jaw line does not reach the forehead
    return FaceBox(int(x0), int(max(0, top)), int(x1 - x0), int(y1 - top))


def _overlap(a: FaceBox, b: FaceBox) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / float(a.area + b.area - inter) if inter else 0.0


def _haar_detect(image: np.ndarray) -> list[_Found]:
    import cv2

    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    cascade = cv2.CascadeClassifier(
        cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    )
    boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=6, minSize=(40, 40))
    return [_Found(FaceBox(int(x), int(y), int(bw), int(bh)), None) for x, y, bw, bh in boxes]


def _estimate_landmarks(box: FaceBox) -> FaceLandmarks:
    """Landmarks placed by average face proportions inside a detector box."""
    cx = box.x + box.w / 2
    mouth_y, mouth_w = box.y + box.h * 0.78, box.w * 0.36
    t = np.linspace(0, np.pi, 11)
    upper = np.stack([cx - mouth_w / 2 * np.cos(t), mouth_y - box.h * 0.035 * np.sin(t)], 1)
    lower = np.stack([cx - mouth_w / 2 * np.cos(t), mouth_y + box.h * 0.05 * np.sin(t)], 1)
    outer = np.concatenate([upper, lower[-2:0:-1]]).astype(np.float32)
    inner_u = np.stack([cx - mouth_w * 0.42 * np.cos(t), mouth_y - box.h * 0.004 * np.sin(t)], 1)
    inner_l = np.stack([cx - mouth_w * 0.42 * np.cos(t), mouth_y + box.h * 0.004 * np.sin(t)], 1)
    inner = np.concatenate([inner_u, inner_l[-2:0:-1]]).astype(np.float32)

    def eye(ex: float) -> np.ndarray:
        a = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        ey = box.y + box.h * 0.40
        return np.stack([ex + box.w * 0.1 * np.cos(a), ey + box.h * 0.035 * np.sin(a)], 1).astype(
            np.float32
        )

    a = np.linspace(np.pi, 0, 21)
    jaw = np.stack([cx + box.w * 0.5 * np.cos(a), box.y + box.h * 0.5 + box.h * 0.5 * np.sin(a)], 1)
    return FaceLandmarks(
        outer_lips=outer,
        inner_lips=inner,
        left_eye=eye(cx + box.w * 0.2),
        right_eye=eye(cx - box.w * 0.2),
        jaw=jaw.astype(np.float32),
        nose_tip=(cx, box.y + box.h * 0.6),
        source="estimate",
    )
