"""Render benchmark: the demo inputs end to end with the configured backends.

Prints wall time per stage, peak RSS and the real-time factor (render seconds / output
seconds) for the demo script, then peak RSS for a ~10 s and a ~60 s script side by side
(the target: flat, because frames stream into the encoder). Each render runs in its own
process so peak RSS is that render's alone.

    .venv/bin/python bench/render.py [--tts espeak] [--lipsync warp]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# bench/queue.py would shadow the standard library's queue module: keep this folder off the path.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
SAMPLES = ROOT / "data" / "samples"
DEMO = (SAMPLES / "script.txt").read_text().strip()
TEN = "Hello and welcome. Today I will show you how a single photograph can speak with a voice."
SIXTY = " ".join([DEMO, DEMO, DEMO[: len(DEMO) // 2]])


def child(script: str, out: Path, tts: str, lipsync: str) -> None:
    """Run one render in this process and print a JSON line of figures."""
    from engine import Engine, EngineSettings, RenderRequest

    t0 = time.perf_counter()
    engine = Engine(EngineSettings.from_env(tts=tts, lipsync=lipsync))
    load = time.perf_counter() - t0
    request = RenderRequest(
        script=script,
        voice=SAMPLES / "voice.ogg",
        voice_text=(SAMPLES / "voice.txt").read_text().strip(),
        photo=SAMPLES / "portrait.jpg",
        output=out,
    )
    t0 = time.perf_counter()
    result = engine.render(request)
    wall = time.perf_counter() - t0
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "load_s": load,
                "wall_s": wall,
                "stages": result.stage_seconds,
                "video_s": result.video_seconds,
                "frames": result.frames,
                "size": result.size_bytes,
                "rss_mb": rss_self,
            }
        )
    )


def run(script: str, tts: str, lipsync: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.mp4"
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--tts",
                tts,
                "--lipsync",
                lipsync,
                "--out",
                str(out),
            ],
            input=script,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode:
            raise SystemExit(f"render failed:\n{proc.stderr}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tts", default="espeak")
    ap.add_argument("--lipsync", default="warp")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.child:
        child(sys.stdin.read(), args.out, args.tts, args.lipsync)
        return

    print(f"machine: {os.cpu_count()} CPU cores; backends: tts={args.tts} lipsync={args.lipsync}")
    demo = run(DEMO, args.tts, args.lipsync)
    print(
        f"\ndemo script: {demo['video_s']:.2f} s of video, {demo['frames']} frames, "
        f"{demo['size'] / 1e6:.2f} MB"
    )
    print(f"  model load       {demo['load_s']:7.2f} s (once per process, not per render)")
    for stage, seconds in demo["stages"].items():
        print(f"  {stage:<16} {seconds:7.2f} s")
    rtf = demo["wall_s"] / demo["video_s"]
    print(
        f"  render total     {demo['wall_s']:7.2f} s  -> real-time factor {rtf:.3f}x "
        "(target <= 0.5x)"
    )
    print(f"  peak RSS         {demo['rss_mb']:7.0f} MB (engine process; ffmpeg runs apart)")

    short, long = run(TEN, args.tts, args.lipsync), run(SIXTY, args.tts, args.lipsync)
    print("\npeak RSS vs script length (target: flat)")
    for name, r in (("short", short), ("long", long)):
        print(
            f"  {name:<5} {r['video_s']:6.1f} s video: peak RSS {r['rss_mb']:6.0f} MB, "
            f"render {r['wall_s']:.2f} s (RTF {r['wall_s'] / r['video_s']:.3f}x)"
        )
    print(
        f"  ratio long/short: video x{long['video_s'] / short['video_s']:.1f}, "
        f"peak RSS x{long['rss_mb'] / short['rss_mb']:.2f}"
    )


if __name__ == "__main__":
    main()
