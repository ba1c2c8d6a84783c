"""Renders of a saved avatar: "cold" (nothing kept from the photo) against "warm" (the same
photo rendered before), side by side in one run, per stage.

A person renders many videos from one saved photo and voice. A warm render reuses what the
engine keeps per photo (engine.avatars: the decoded image and its face, the lip-sync
backend's crop, paste plan and reference latents, the motion geometry) and per voice (the
speech backend's reference codes on disk, voice analyses in memory). Three ways alternate on
one engine with the same script and files, after one untimed render that loads what every
render shares (imports, graphs):

- cold: everything dropped first (``Engine.clear_memory`` and ``voice_cache.forget``);
- photo cold: only the photo's work dropped (``Engine.forget_photos``): what per-avatar
  reuse of the photo saves, the voice's caches being warm in both;
- warm: nothing dropped (the avatar the render before made).

Prints the mean seconds of each stage (``RenderResult.stage_seconds``) and of the whole
render, the ratios of the totals, and the memory one avatar's photo keeps.

The engine runs with the product's settings (the decode jail, provenance, the watermark);
``--no-jail`` decodes in this process, as benchmarks of trusted files may.

    .venv/bin/python bench/avatar.py                        # espeak + warp, about 30 s
    .venv/bin/python bench/avatar.py --photo-side 2048      # a phone-sized photo (1024 working)
    .venv/bin/python bench/avatar.py --lipsync musetalk     # the configured models
    .venv/bin/python bench/avatar.py --lipsync diff2lip --tiny --steps 1  # random tiny networks
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds scripts named like stdlib modules (queue.py): keep this folder off the path.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

PHOTO = ROOT / "data" / "samples" / "portrait.jpg"
VOICE = ROOT / "data" / "samples" / "voice.ogg"
VOICE_TEXT = (ROOT / "data" / "samples" / "voice.txt").read_text().strip()
WAYS = ("cold", "photo cold", "warm")
SCRIPT = "Hello again! Here is this week's news, in a short message from my saved avatar."


def _photo(side: int, folder: Path) -> Path:
    """The sample photo, or (``side`` > 0) the sample scaled to ``side`` pixels, as a phone's
    JPEG would be: a larger decode, and a working image at the engine's working size."""
    if not side:
        return PHOTO
    from PIL import Image

    path = folder / f"portrait-{side}.jpg"
    with Image.open(PHOTO) as im:
        im.convert("RGB").resize((side, side), Image.Resampling.LANCZOS).save(path, quality=92)
    return path


def _settings(args: argparse.Namespace, folder: Path) -> Any:
    from engine import EngineSettings

    settings = EngineSettings.from_env(tts=args.tts, lipsync=args.lipsync)
    settings = replace(settings, cache_dir=folder / "cache")  # NeuTTS codes: this run's own
    if args.no_jail:
        settings = replace(settings, decode_jail=False)
    if args.tiny and args.lipsync == "diff2lip":
        from tests.auxil.diff2lip_models import write_random_checkpoint

        ckpt = write_random_checkpoint(folder / "tiny.pt", full_size=False)
        settings = replace(settings, lipsync_model=str(ckpt), lipsync_config="tiny")
    elif args.tiny and args.lipsync == "musetalk":
        from tests.auxil.musetalk_models import write_layout

        settings = replace(settings, lipsync_model=str(write_layout(folder / "musetalk")))
    return settings


def _kept_bytes(*roots: object) -> int:
    """Bytes of the arrays and tensors reachable from ``roots`` (each counted once; a view
    counts the array it keeps alive)."""
    seen: set[int] = set()
    counted: set[int] = set()
    total = 0
    todo = list(roots)
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            while isinstance(obj.base, np.ndarray):
                obj = obj.base
            if id(obj) not in counted:
                counted.add(id(obj))
                total += obj.nbytes
            continue
        if type(obj).__module__ == "torch" and hasattr(obj, "element_size"):
            tensor: Any = obj
            total += tensor.element_size() * tensor.nelement()
            continue
        if isinstance(obj, dict):
            todo.extend(obj.values())
        elif isinstance(obj, list | tuple | set):
            todo.extend(obj)
        elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("engine"):
            todo.extend(vars(obj).values())
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5, help="renders each way (default 5)")
    ap.add_argument("--tts", default="espeak")
    ap.add_argument("--lipsync", default="warp")
    ap.add_argument("--tiny", action="store_true", help="diff2lip/musetalk: random tiny networks")
    ap.add_argument("--no-jail", action="store_true", help="decode in this process")
    ap.add_argument("--photo-side", type=int, default=0, help="scale the sample photo to this")
    ap.add_argument("--script", default=SCRIPT)
    ap.add_argument("--steps", type=int, help="Diff2Lip's diffusion steps (default: settings')")
    args = ap.parse_args()

    from engine import Engine, RenderOptions, RenderRequest
    from engine.tts.refcache import file_sha256

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photo = _photo(args.photo_side, folder)
        engine = Engine(_settings(args, folder))
        voice_digest, photo_digest = file_sha256(VOICE), file_sha256(photo)

        def render(name: str) -> tuple[float, dict[str, float]]:
            request = RenderRequest(
                script=args.script,
                voice=VOICE,
                voice_text=VOICE_TEXT,
                photo=photo,
                output=folder / f"{name}.mp4",
                options=RenderOptions(lipsync_steps=args.steps),
            )
            t0 = time.perf_counter()
            result = engine.render(request)
            return time.perf_counter() - t0, result.stage_seconds

        def cold() -> None:
            engine.clear_memory()
            engine.voice_cache.forget(voice_digest)

        cold()
        render("warm-up")
        runs: dict[str, list[tuple[float, dict[str, float]]]] = {w: [] for w in WAYS}
        for i in range(max(1, args.n)):
            cold()
            runs["cold"].append(render(f"cold-{i}"))
            engine.forget_photos([photo_digest])
            runs["photo cold"].append(render(f"photo-{i}"))
            runs["warm"].append(render(f"warm-{i}"))  # the avatar the render before made
        backend = getattr(engine.lipsync, "portraits", None)
        kept = _kept_bytes(engine._portraits, backend, engine._motion_geometry)
        videos = len(list(folder.glob("*.mp4")))
        engine.close()

    stages: list[str] = []
    for way in WAYS:
        for _, seconds in runs[way]:
            stages += [s for s in seconds if s not in stages]

    def mean(way: str, stage: str | None = None) -> float:
        values = [wall if stage is None else seconds.get(stage, 0.0) for wall, seconds in runs[way]]
        return float(np.mean(values))

    jail = "in-process decode" if args.no_jail else "decode jail"
    tiny = " (random tiny networks)" if args.tiny else ""
    tiny += (
        f", diffusion steps: {args.steps}"
        if args.steps and engine.lipsync.name == "diff2lip"
        else ""
    )
    side = f"{args.photo_side} px" if args.photo_side else "512 px"
    print(
        f"{os.cpu_count()} CPU cores; tts={engine.tts.name} lipsync={engine.lipsync.name}{tiny}, "
        f"{jail}; sample photo at {side}, working size {engine.settings.working_size}; "
        f"{args.n} renders each way, alternating ({videos} videos in all)"
    )
    print(f"{'stage (mean s)':<16}{'cold':>9}{'photo cold':>12}{'warm':>9}")
    for stage in [*stages, None]:
        c, p, w = (mean(way, stage) for way in WAYS)
        print(f"{stage or 'whole render':<16}{c:>9.3f}{p:>12.3f}{w:>9.3f}")
    c, p, w = (mean(way) for way in WAYS)
    print(f"warm / cold: {w / c:.2f} (a warm render saves {c - w:.2f} s of {c:.2f} s)")
    print(f"warm / photo cold: {w / p:.2f} (reusing the photo's work saves {p - w:.2f} s)")
    print(f"kept in memory for the photo: {kept / 1e6:.1f} MB (image, face, backend, motion)")


if __name__ == "__main__":
    main()
