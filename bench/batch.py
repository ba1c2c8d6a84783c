"""Ten videos as one `mouthpiece batch` against ten separate `mouthpiece render` runs, side by
side in one run: total wall time of each way, seconds per video, and the ratio.

Both use the embedded CPU engine (espeak + warp), the sample photo and voice, and the same ten
scripts (about 3 to 6 s of speech each). Separate runs pay, per video, a Python start, the
imports and the engine's construction, and find the photo's face again; the batch pays them
once. Each way writes into a fresh folder (the batch's resume would otherwise skip).

    .venv/bin/python bench/batch.py          # about 2 min on 2 cores
    .venv/bin/python bench/batch.py --n 4    # fewer videos
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds scripts named like stdlib modules (queue.py): keep this folder off the path.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import csv  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

PHOTO = ROOT / "data" / "samples" / "portrait.jpg"
VOICE = ROOT / "data" / "samples" / "voice.ogg"
SCRIPTS = [
    "Welcome to lesson one: the alphabet.",
    "Lesson two is about numbers, from one to ten.",
    "Today, in lesson three, we learn the days of the week.",
    "Lesson four: colours. Red, green and blue.",
    "In lesson five we count money: 3 dollars and 50 cents.",
    "Lesson six, the weather: sunny, cloudy, rainy.",
    "Lesson seven is about food and drink.",
    "Lesson eight: telling the time, at 7:30 in the morning.",
    "In lesson nine we talk about family.",
    "Lesson ten, the last one: well done, and see you soon.",
]


def _cli(*args: str | Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", *map(str, args)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"mouthpiece {args[0]} failed: {proc.stderr.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="videos (at most 10)")
    n = min(10, max(1, parser.parse_args().n))
    scripts = SCRIPTS[:n]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        manifest = work / "batch.csv"
        with manifest.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["script", "output"])
            writer.writerows([s, f"{i:02d}.mp4"] for i, s in enumerate(scripts, start=1))

        started = time.perf_counter()
        for i, script in enumerate(scripts, start=1):
            out = work / "separate" / f"{i:02d}.mp4"
            out.parent.mkdir(exist_ok=True)
            _cli("render", "--script", script, "--voice", VOICE, "--photo", PHOTO, "-o", out)
        separate = time.perf_counter() - started

        started = time.perf_counter()
        _cli("batch", manifest, "-o", work / "batch", "--voice", VOICE, "--photo", PHOTO)
        batch = time.perf_counter() - started
        made = sorted(p.name for p in (work / "batch").iterdir())
        assert len(made) == n, made

    print(f"{n} videos, embedded engine (espeak + warp), {Path(PHOTO).name}, {VOICE.name}")
    print(f"{'way':<28}{'total s':>9}{'s/video':>9}")
    print(f"{'separate mouthpiece render':<28}{separate:>9.1f}{separate / n:>9.2f}")
    print(f"{'one mouthpiece batch':<28}{batch:>9.1f}{batch / n:>9.2f}")
    print(f"batch / separate: {batch / separate:.2f} (the batch takes {batch / separate:.0%})")


if __name__ == "__main__":
    main()
