"""Hostile uploads before and after the decode jail, side by side in one run.

For every file of the bomb corpus (tests/auxil/bombs.py), the intake decode as it was before
issue 22 (``--base``, default a ``git worktree`` of 786acd3: decoded in the caller's process,
Pillow and ffmpeg unbounded but for ffmpeg's 60 s timeout) and as it is now (the engine's
decode jail: structural refusals, then a confined process bounded to 20 s and 1,000 MB). Each
decode runs in a fresh driver process; this script measures it from outside: wall time, and
the resident memory of the driver's whole process tree (driver, jail, ffmpeg) sampled every
20 ms. A "before" run is stopped after ``--limit`` seconds.

Then fairness: an ordinary render (the sample photo and voice, a short script) alone, and
again while eight of the costliest JPEGs the structural checks let through (40 MP, 100 scans)
are checked at once on the worker's intake pool (4 threads, each waiting on its jail); the
ratio of the two render times.

    .venv/bin/python bench/bombs.py              # about 3 minutes
    .venv/bin/python bench/bombs.py --only jpeg-20000-scans,wav-250mhz
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds scripts named like stdlib modules (queue.py): keep this folder off the path.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from engine.jail import tree_rss  # noqa: E402

BASE_COMMIT = "786acd3"
PHOTO = ROOT / "data" / "samples" / "portrait.jpg"
VOICE = ROOT / "data" / "samples" / "voice.ogg"

# What intake did before (in the worker's own process) and does now (through the jail): the
# same calls Engine.inspect_photo / inspect_voice make, without building a whole engine.
_DRIVER = """
import sys, json
from pathlib import Path
kind, path, jailed = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "1"
from engine.errors import InvalidInput
try:
    if jailed:
        from engine.jail import Jail
        jail = Jail()
        if kind == "photo":
            jail.photo(path, find_face=True, max_pixels=40_000_000, working_size=1024,
                       max_bytes=30_000_000)
        else:
            from engine.media.audio import clean_voice
            jailed = jail.audio(path, sample_rate=16000, max_seconds=60.0, timeout=60.0)
            from engine.types import Audio
            clean_voice(Audio(jailed.array, 16000), min_seconds=1.0, max_seconds=15.0)
    elif kind == "photo":
        from engine.media.image import FaceDetector, find_face, load_photo
        image = load_photo(path.read_bytes(), max_pixels=40_000_000, working_size=1024)
        find_face(image, FaceDetector())
    else:
        from engine.media.audio import load_voice
        load_voice(path, sample_rate=16000, min_seconds=1.0, max_seconds=15.0, timeout=60.0)
    print(json.dumps({"outcome": "decoded"}))
except InvalidInput as e:
    print(json.dumps({"outcome": "refused: " + e.reason}))
"""


def measure(tree: Path, kind: str, path: Path, jailed: bool, limit: float) -> dict[str, object]:
    """One decode in a fresh driver (``tree``'s engine): seconds, peak MB of its process tree,
    outcome. Killed after ``limit`` seconds."""
    env = {**os.environ, "PYTHONPATH": str(tree), "MOUTHPIECE_LOG_FORMAT": "text"}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, kind, str(path), "1" if jailed else "0"],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    peak, outcome = 0, ""
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        if time.monotonic() - started > limit:
            os.killpg(proc.pid, 9)
            outcome = f"killed after {limit:.0f} s"
            break
        time.sleep(0.02)
    out, _ = proc.communicate()
    seconds = time.monotonic() - started
    if not outcome:
        try:
            outcome = json.loads(out.decode().strip().splitlines()[-1])["outcome"]
        except (ValueError, IndexError, KeyError):
            outcome = f"crashed (exit {proc.returncode})"
    return {"seconds": seconds, "peak_mb": peak / 1e6, "outcome": outcome}


def _base_tree(path: Path) -> Path:
    if not (path / "engine").is_dir():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), BASE_COMMIT],
            check=True,
            capture_output=True,
        )
    return path


def _short(outcome: object) -> str:
    text = str(outcome)
    return text if len(text) <= 58 else text[:55] + "..."


def fairness(workdir: Path, bombs: int, repeats: int) -> None:
    from engine import Engine
    from engine.settings import EngineSettings
    from engine.types import RenderOptions, RenderRequest
    from tests.auxil.bombs import BOMBS

    engine = Engine(EngineSettings())
    _, build, what = BOMBS["jpeg-100-scans-40mp"]
    bomb = build(workdir / "fair")
    script = "Hello there. This is an ordinary job from another person, nothing more."

    def render(n: int) -> float:
        started = time.monotonic()
        engine.render(
            RenderRequest(script, VOICE, PHOTO, workdir / f"fair{n}.mp4", options=RenderOptions())
        )
        return time.monotonic() - started

    def check() -> str:
        try:
            engine.inspect_photo(bomb)
            return "decoded"
        except Exception as e:  # noqa: BLE001 - reported, not raised
            return type(e).__name__

    render(-1)  # warm caches (espeak, the face search's graphs in the jail are per process)
    alone = [render(i) for i in range(repeats)]
    loaded = []
    intake = ThreadPoolExecutor(4, thread_name_prefix="intake")  # the worker's INTAKE_SLOTS
    for i in range(repeats):
        checks = [intake.submit(check) for _ in range(bombs)]
        loaded.append(render(100 + i))
        [c.result() for c in checks]
    intake.shutdown()
    a, b = statistics.median(alone), statistics.median(loaded)
    print(
        f"\nfairness ({os.cpu_count()} CPUs): an ordinary render alone and while {bombs} x "
        f"'{what}' are checked on a 4-thread intake pool (median of {repeats})"
    )
    print(f"  alone {a:6.2f} s   with {bombs} bombs {b:6.2f} s   ratio {b / a:4.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=Path(tempfile.gettempdir()) / "mp-bombs-base")
    parser.add_argument("--limit", type=float, default=90.0, help="seconds a 'before' run gets")
    parser.add_argument("--only", default="", help="comma-separated bomb names")
    parser.add_argument("--bombs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-fairness", action="store_true")
    args = parser.parse_args()
    from tests.auxil.bombs import BOMBS

    names = [n for n in BOMBS if not args.only or n in args.only.split(",")]
    before_tree = _base_tree(args.base)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        head = f"{'file':<22} {'size':>9}  {'before s':>8} {'MB':>6}  {'after s':>7} {'MB':>5}"
        print(head + "  after: outcome (before: outcome)")
        for name in names:
            kind, build, what = BOMBS[name]
            path = build(work / name)
            old = measure(before_tree, kind, path, False, args.limit)
            new = measure(ROOT, kind, path, True, args.limit)
            print(
                f"{name:<22} {path.stat().st_size:>9,}  {old['seconds']:8.2f} "
                f"{old['peak_mb']:6.0f}  {new['seconds']:7.2f} {new['peak_mb']:5.0f}  "
                f"{_short(new['outcome'])} ({_short(old['outcome'])})",
                flush=True,
            )
        if not args.no_fairness:
            fairness(work, args.bombs, args.repeats)
    print(f"(before: {args.base} at {BASE_COMMIT}; after: {ROOT})")


if __name__ == "__main__":
    main()
