"""The jail process: ``python -m engine.jail.child``, started by :class:`engine.jail.Jail`.

It reads one request (a JSON line on stdin), imports what the request needs, confines itself
(:mod:`engine.jail.confine`), then reads its one input file and writes one answer on stdout:
a JSON header line, then the raw bytes of the array it describes (decoded pixels or samples).
A refusal is a header with the one-line reason for the person who sent the file. Nothing else
is written anywhere: stdout is the only way out.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from engine.errors import InvalidInput
from engine.jail.confine import (
    Confinement,
    block_network,
    lower_priority,
    readable_roots,
    restrict_files,
    set_limits,
)

_TOO_LARGE = {
    "photo": "The photo is too large to read: send an ordinary photo.",
    "voice": "The voice note is too large to read: send an ordinary recording.",
    "audio": "The voice note is too large to read: send an ordinary recording.",
    "inspect": "The file is too large to read: send the video as it was shared.",
}


def _prepare(op: str, find_face: bool) -> Any:
    """Import (and build) what the operation needs while files may still be read."""
    if op == "photo":
        from PIL import Image

        import engine.media.image as image

        Image.init()  # every decoder plugin loaded now, not lazily after confinement
        if find_face:
            return image.FaceDetector()
    else:
        import engine.media.audio  # noqa: F401
        import engine.media.ffmpeg as ffmpeg

        if op == "inspect":  # the manifest reader, the frame decoder, the label's drawing
            import cv2  # noqa: F401
            from PIL import Image, ImageFont

            import engine.provenance.manifest  # noqa: F401
            import engine.verify  # noqa: F401

            Image.init()
            ImageFont.load_default(size=12)

        ffmpeg.tool("ffmpeg")
        ffmpeg.tool("ffprobe")
    return None


def _confine(request: dict[str, Any]) -> Confinement:
    limits = set_limits(
        memory_bytes=int(request["memory_bytes"]),
        cpu_seconds=int(request["cpu_seconds"]),
    )
    files = restrict_files(
        read=[*readable_roots(), Path(request["input"])], write=[Path.cwd(), Path(os.devnull)]
    )
    network = block_network()  # last: Landlock's own calls go before the filter
    return Confinement(limits=limits, network_blocked=network, files_restricted=files)


def _run(request: dict[str, Any], faces: Any) -> tuple[dict[str, Any], np.ndarray | None]:
    op, path = request["op"], Path(request["input"])
    if op == "photo":
        from engine.media.image import find_face, load_photo
        from engine.types import PhotoIntake

        if path.stat().st_size > int(request["max_bytes"]):
            raise InvalidInput(
                f"The photo is {path.stat().st_size / 1e6:.0f} MB; the limit is "
                f"{int(request['max_bytes']) / 1e6:.0f} MB: send an ordinary photo.",
                field="photo",
            )
        image = load_photo(
            path.read_bytes(),
            max_pixels=int(request["max_pixels"]),
            working_size=int(request["working_size"]),
        )
        header: dict[str, Any] = {}
        if faces is not None:
            header["intake"] = PhotoIntake.of("", find_face(image, faces)).to_json()
        return header, image
    if op == "audio":
        from engine.media.audio import decode_audio

        audio = decode_audio(
            path,
            sample_rate=int(request["sample_rate"]),
            max_seconds=float(request["max_seconds"]),
            timeout=float(request["timeout"]),
        )
        return {"sample_rate": audio.sample_rate}, audio.samples
    if op == "inspect":
        from engine.verify import inspect

        anchor = str(request["trust_anchor"]).encode() or None
        found, sound = inspect(
            path,
            trust_anchor_pem=anchor,
            max_seconds=float(request["max_seconds"]),
            timeout=float(request["timeout"]),
        )
        if sound is None:
            return found, None
        return found | {"sample_rate": sound.sample_rate}, sound.samples
    if op == "describe":
        return {"environment": sorted(os.environ)}, None
    raise ValueError(f"unknown jail operation {op!r}")


def _answer(out: BinaryIO, header: dict[str, Any], array: np.ndarray | None) -> None:
    if array is not None:
        array = np.ascontiguousarray(array)
        header |= {"dtype": array.dtype.str, "shape": list(array.shape)}
    out.write(json.dumps(header).encode() + b"\n")
    if array is not None:
        out.write(array.tobytes())
    out.flush()


def main() -> int:
    out = sys.stdout.buffer
    request = json.loads(sys.stdin.buffer.readline())
    op = str(request.get("op", ""))
    lower_priority(int(request.get("nice", 0)))  # before the imports: they are most of its CPU
    try:
        faces = _prepare(op, bool(request.get("find_face")))
        confinement = _confine(request)
        header, array = _run(request, faces)
    except InvalidInput as e:
        _answer(out, {"ok": False, "reason": e.reason, "field": e.field}, None)
        return 0
    except MemoryError:
        _answer(out, {"ok": False, "reason": _TOO_LARGE.get(op, _TOO_LARGE["photo"])}, None)
        return 0
    except Exception as e:  # a fault of ours, not of the file: the caller reports it as one
        traceback.print_exc()
        _answer(out, {"ok": False, "error": f"{type(e).__name__}: {e}"}, None)
        return 1
    header |= {"ok": True, "confinement": confinement.__dict__}
    _answer(out, header, array)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
