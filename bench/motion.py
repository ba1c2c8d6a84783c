"""Living faces: what the motion stage costs per frame, beside the warp backend, in one run.

For the sample portrait at 512 px and upscaled to 1024 px, over a few seconds of speech-like
audio (every frame moving), frames are made by the warp backend (mouth only) and passed
through the motion stage one by one; each frame's two times are taken back to back, so the
ratio holds even on a machine shared with other jobs. Prints, per size, ms per frame (median
and best of the repeats) for: the warp backend, the whole motion stage, the head warp alone, a
blink frame's eyelids alone, one full-frame ``cv2.warpAffine`` for scale (what the warp backend
did per frame for its own head motion before this stage), and the motion stage as a share of the
warp backend's time; then the one-off cost of planning and of building the stage.

    .venv/bin/python bench/motion.py            # about half a minute
    .venv/bin/python bench/motion.py --frames 50
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds scripts named like stdlib modules (queue.py): keep this folder off the path.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

FPS = 25
PHOTO = ROOT / "data" / "samples" / "portrait.jpg"


def _portraits() -> dict[int, object]:
    import cv2

    from engine.media.image import find_face, load_portrait

    small = load_portrait(PHOTO)
    big = find_face(cv2.resize(small.image, (1024, 1024), interpolation=cv2.INTER_CUBIC))
    return {512: small, 1024: big}


def _speech(seconds: float) -> object:
    from engine.types import Audio, Speech
    from tests.auxil.media_fixtures import tone_speech

    return Speech(audio=Audio(tone_speech(seconds), 16_000))


def _ms(samples: list[float]) -> str:
    return f"{np.median(samples) * 1e3:6.2f} (best {min(samples) * 1e3:5.2f})"


def measure(portrait: object, frames: int, repeats: int) -> dict[str, list[float]]:
    import cv2

    from engine.lipsync.warp import WarpBackend
    from engine.motion import MotionStage, plan_motion
    from engine.motion.head import pose_matrix
    from engine.settings import EngineSettings
    from engine.types import RenderOptions

    speech = _speech(frames / FPS + 0.5)
    still = RenderOptions(head_motion=False, blinks=False)
    keys = ("warp", "motion", "head", "eyes", "affine", "plan", "build")
    out: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(repeats):
        t0 = time.perf_counter()
        plan = plan_motion(speech, frames, FPS, seed=1)  # type: ignore[arg-type]
        t1 = time.perf_counter()
        stage = MotionStage(portrait, plan)  # type: ignore[arg-type]
        t2 = time.perf_counter()
        out["plan"].append(t1 - t0)
        out["build"].append(t2 - t1)
        source = WarpBackend(EngineSettings()).frames(
            portrait, speech, n_frames=frames, options=still
        )  # type: ignore[arg-type]
        warp_t = motion_t = 0.0
        for i in range(frames):
            a = time.perf_counter()
            frame = next(source)
            b = time.perf_counter()
            stage.apply(frame, i)
            c = time.perf_counter()
            warp_t += b - a
            motion_t += c - b
        out["warp"].append(warp_t / frames)
        out["motion"].append(motion_t / frames)
        assert stage.head is not None and stage.eyes
        pose = np.array([1.5, 0.015, 0.008, 0.008, 0.01])
        image = portrait.image  # type: ignore[attr-defined]
        a = time.perf_counter()
        for _ in range(frames):
            stage.head.apply(image, pose)
        b = time.perf_counter()
        for _ in range(frames):
            copy = image.copy()
            for eye in stage.eyes:
                eye.close(copy, 1.0)
        c = time.perf_counter()
        matrix = pose_matrix(pose, stage.head.pivot, stage.head.unit)
        h, w = image.shape[:2]
        for _ in range(frames):
            cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR)
        d = time.perf_counter()
        out["head"].append((b - a) / frames)
        out["eyes"].append((c - b) / frames)
        out["affine"].append((d - c) / frames)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import cv2

    print(f"cv2 {cv2.__version__}, {cv2.getNumThreads()} threads;", end=" ")
    print(f"{args.frames} frames x {args.repeats} repeats")
    for size, portrait in _portraits().items():
        r = measure(portrait, args.frames, args.repeats)
        shape = portrait.image.shape  # type: ignore[attr-defined]
        share = [m / w for m, w in zip(r["motion"], r["warp"], strict=True)]
        low, high = min(share) * 100, max(share) * 100
        print(f"\n{size} px ({shape[1]}x{shape[0]}), ms per frame: median (best)")
        print(f"  warp backend (mouth only)      {_ms(r['warp'])}")
        print(f"  motion stage (head + blinks)   {_ms(r['motion'])}")
        print(f"    head warp alone              {_ms(r['head'])}")
        print(f"    eyelids alone (blink frame)  {_ms(r['eyes'])}")
        print(f"  for scale: one full-frame cv2.warpAffine {_ms(r['affine'])}")
        print(f"  motion / warp                  {np.median(share) * 100:5.1f} %", end=" ")
        print(f"(range {low:.1f}-{high:.1f} %)")
        plan, build = np.median(r["plan"]) * 1e3, np.median(r["build"]) * 1e3
        print(f"  once per render: plan {plan:.1f} ms, build the stage {build:.1f} ms")


if __name__ == "__main__":
    main()
