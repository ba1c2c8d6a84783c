"""Video size: constant quality with the byte budget as a ceiling, against the old bitrate
that filled the budget, on the same frames, side by side in one run.

1. Renders the demo (data/samples, embedded backends) once, keeping the exact frames the
   pipeline hands the encoder (raw RGB in a temporary folder) and its audio track.
2. Encodes those frames, each streamed through a pipe as in a render:
   * ``free``: ``VideoWriter`` without a budget (constant quality);
   * ``old``: the earlier encoder, reproduced here: the bitrate that fills 92 % of the
     budget (less the audio), x264 ``veryfast`` one-pass ABR, 4 s keyframe interval;
   * ``new``: ``VideoWriter`` with the budget (constant quality, the budget a ceiling);
   * ``crf+2pass`` (tight budget only): the alternative design, constant quality first and,
     as the file is over the budget, a two-pass re-encode of that file at the bitrate that
     fills it; its time includes the first encode;
   at Telegram's 50 MB, Discord's 10 MiB, and a tight budget (60 % of the constant-quality
   file) where the ceiling binds.
3. For each: bytes, kB per second of video, encode wall and CPU seconds (ffmpeg's, from
   frames in to MP4 out), and SSIM / PSNR of the delivered video against the original frames
   (both as yuv420p, the delivered format), over the whole frame and over the face box.

``--choose`` adds the sweep behind ``VideoQuality`` (x264 preset, CRF, tune, keyframe
interval, all without a budget) and the quality at caps around ``MIN_BITS_PER_PIXEL``, the
floor under which a budget is refused.

    .venv/bin/python bench/video.py            # about 2-4 min on 2 CPU cores
    .venv/bin/python bench/video.py --choose   # plus the settings sweep (about 5 min more)
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds scripts named like stdlib modules (queue.py): keep this folder off the path.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

SAMPLES = ROOT / "data" / "samples"
TELEGRAM, DISCORD = 50_000_000, 10_485_760
TIGHT_SHARE = 0.6  # tight budget: this share of the constant-quality file
OLD_FILL = 0.92  # the old encoder aimed at this share of the budget


@dataclass(frozen=True)
class Clip:
    """The demo render's frames (raw RGB file) and audio track."""

    frames: Path
    size: tuple[int, int]
    fps: int
    n: int
    audio: Any  # engine.types.Audio
    face: tuple[int, int, int, int]  # x, y, w, h (even)

    @property
    def seconds(self) -> float:
        return self.n / self.fps

    def iter_frames(self) -> Iterator[np.ndarray]:
        w, h = self.size
        with self.frames.open("rb") as f:
            while chunk := f.read(w * h * 3):
                yield np.frombuffer(chunk, np.uint8).reshape(h, w, 3)


@dataclass(frozen=True)
class Row:
    name: str
    bytes: int
    wall: float
    cpu: float
    ssim: float
    psnr: float
    face_ssim: float
    face_psnr: float


# ---- 1. the demo's frames ---------------------------------------------------------------
def capture_demo(tmp: Path) -> Clip:
    """Render the demo, keeping what the pipeline writes to its VideoWriter."""
    import engine.media.video as video
    from engine import Engine, EngineSettings, RenderRequest
    from engine.media.image import load_portrait

    raw = tmp / "frames.rgb"
    seen: dict[str, Any] = {}

    class Keep(video.VideoWriter):
        def open(self) -> None:
            seen.update(size=self.size, fps=self.fps, audio=self._audio, file=raw.open("wb"))
            super().open()

        def write(self, frame: np.ndarray) -> None:
            seen["file"].write(np.ascontiguousarray(frame).data)
            super().write(frame)

    settings = EngineSettings.from_env(tts="espeak", lipsync="warp")
    engine = Engine(settings)
    request = RenderRequest(
        script=(SAMPLES / "script.txt").read_text().strip(),
        voice=SAMPLES / "voice.ogg",
        voice_text=(SAMPLES / "voice.txt").read_text().strip(),
        photo=SAMPLES / "portrait.jpg",
        output=tmp / "demo.mp4",
    )
    real = video.VideoWriter
    video.VideoWriter = Keep  # type: ignore[misc]  # the pipeline imports it at call time
    try:
        result = engine.render(request)
    finally:
        video.VideoWriter = real  # type: ignore[misc]
        if "file" in seen:
            seen["file"].close()
    box = load_portrait(
        SAMPLES / "portrait.jpg",
        max_pixels=settings.max_photo_pixels,
        working_size=settings.working_size,
    ).face
    face = (box.x // 2 * 2, box.y // 2 * 2, box.w // 2 * 2, box.h // 2 * 2)
    return Clip(raw, seen["size"], seen["fps"], result.frames, seen["audio"], face)


# ---- 2. encoders ------------------------------------------------------------------------
@contextlib.contextmanager
def _measure(out: dict[str, float]) -> Iterator[None]:
    """Wall seconds and CPU seconds of the child processes (ffmpeg) that finish inside."""
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    yield
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["wall"] = time.perf_counter() - t0
    out["cpu"] = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime


def encode_new(
    clip: Clip, out: Path, max_bytes: int | None, quality: Any = None
) -> dict[str, float]:
    from engine.media.video import VideoWriter

    t: dict[str, float] = {}
    with (
        _measure(t),
        VideoWriter(
            out,
            size=clip.size,
            fps=clip.fps,
            audio=clip.audio,
            max_bytes=max_bytes,
            n_frames=clip.n,
            quality=quality,
        ) as w,
    ):
        for frame in clip.iter_frames():
            w.write(frame)
    return t


def encode_old(clip: Clip, out: Path, max_bytes: int, tmp: Path) -> dict[str, float]:
    """The earlier encoder: ABR at the bitrate that fills the budget."""
    from engine.media.audio import save_wav

    wav = tmp / "old.wav"
    save_wav(clip.audio, wav)
    total = max_bytes * 8 * OLD_FILL / clip.seconds
    audio = 128_000 if total > 4 * 128_000 else 48_000
    rate = int(total - audio)
    w, h = clip.size
    video = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    video += ["-profile:v", "high", "-r", str(clip.fps), "-g", str(clip.fps * 4)]
    video += ["-b:v", str(rate), "-maxrate", str(int(rate * 1.2)), "-bufsize", str(rate)]
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += ["-s", f"{w}x{h}", "-r", str(clip.fps), "-i", "pipe:0", "-i", str(wav)]
    cmd += ["-map", "0:v:0", "-map", "1:a:0", *video, "-c:a", "aac", "-b:a", str(audio)]
    cmd += ["-ar", "48000", "-ac", "1", "-movflags", "+faststart", "-f", "mp4", str(out)]
    t: dict[str, float] = {}
    with _measure(t):
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        assert proc.stdin is not None
        for frame in clip.iter_frames():
            proc.stdin.write(frame.data)
        proc.stdin.close()
        if proc.wait():
            raise SystemExit("old encoder failed")
    wav.unlink()
    return t


def reencode_two_pass(clip: Clip, src: Path, out: Path, max_bytes: int, tmp: Path) -> None:
    """The alternative: re-encode a constant-quality file at the bitrate that fills the budget
    (92 % less the audio, re-encoded at the old rule's bitrate)."""
    from engine.media.audio import save_wav
    from engine.media.video import VideoQuality

    q = VideoQuality()
    wav = tmp / "alt.wav"
    save_wav(clip.audio, wav)
    total = max_bytes * 8 * OLD_FILL / clip.seconds
    audio = 128_000 if total > 4 * 128_000 else 48_000
    rate = int(total - audio)
    base = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-i", str(wav)]
    base += ["-map", "0:v:0", "-map", "1:a:0", "-c:v", "libx264", "-preset", q.preset]
    base += ["-tune", str(q.tune), "-pix_fmt", "yuv420p", "-profile:v", "high"]
    base += ["-g", str(round(clip.fps * q.keyframe_seconds)), "-b:v", str(rate)]
    base += ["-passlogfile", str(tmp / "pass")]
    subprocess.run([*base, "-pass", "1", "-an", "-f", "null", "-"], check=True)
    audio_args = ["-c:a", "aac", "-b:a", str(audio), "-ar", "48000", "-ac", "1"]
    cmd = [*base, "-pass", "2", *audio_args, "-movflags", "+faststart", str(out)]
    subprocess.run(cmd, check=True)
    wav.unlink()


# ---- 3. quality -------------------------------------------------------------------------
def quality(clip: Clip, path: Path) -> tuple[float, float, float, float]:
    """SSIM and PSNR of ``path`` against the original frames: whole frame, then face box."""
    w, h = clip.size
    x, y, fw, fh = clip.face
    crop = f"crop={fw}:{fh}:{x}:{y}"
    graph = (
        "[0:v]format=yuv420p,split=3[a1][a2][a3];[1:v]format=yuv420p,split=3[b1][b2][b3];"
        f"[a3]{crop},split[c1][c2];[b3]{crop},split[d1][d2];"
        "[a1][b1]ssim;[a2][b2]psnr;[c1][d1]ssim;[c2][d2]psnr"
    )
    cmd = ["ffmpeg", "-nostdin", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += ["-s", f"{w}x{h}", "-r", str(clip.fps), "-i", str(clip.frames)]
    cmd += ["-filter_complex", graph, "-f", "null", "-"]
    err = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    # ffmpeg prints the summaries in no fixed order: sort them by filter instance (graph order)
    found = re.findall(r"Parsed_(ssim|psnr)_(\d+) .*(?:All|average):([\d.]+|inf)", err)
    ssim = [float(v) for kind, _, v in sorted(found, key=lambda m: int(m[1])) if kind == "ssim"]
    psnr = [float(v) for kind, _, v in sorted(found, key=lambda m: int(m[1])) if kind == "psnr"]
    if len(ssim) != 2 or len(psnr) != 2:
        raise SystemExit(f"could not read SSIM/PSNR from ffmpeg:\n{err[-800:]}")
    return ssim[0], psnr[0], ssim[1], psnr[1]


def measure(clip: Clip, name: str, path: Path, t: dict[str, float]) -> Row:
    return Row(name, path.stat().st_size, t["wall"], t["cpu"], *quality(clip, path))


def show(clip: Clip, rows: list[Row], budget: int | None = None) -> None:
    for r in rows:
        over = " OVER BUDGET" if budget and r.bytes > budget else ""
        print(
            f"  {r.name:<12} {r.bytes / 1e6:7.3f} MB {r.bytes / clip.seconds / 1e3:7.1f} kB/s"
            f"  encode {r.wall:6.2f} s wall {r.cpu:6.2f} s CPU"
            f"  SSIM {r.ssim:.4f} PSNR {r.psnr:5.2f} dB"
            f"  face SSIM {r.face_ssim:.4f} PSNR {r.face_psnr:5.2f} dB{over}"
        )


# ---- the runs ---------------------------------------------------------------------------
def compare(clip: Clip, tmp: Path) -> None:
    t = encode_new(clip, tmp / "free.mp4", None)
    free = measure(clip, "free", tmp / "free.mp4", t)
    print("\nno budget (constant quality, VideoQuality defaults)")
    show(clip, [free])
    tight = int(free.bytes * TIGHT_SHARE)
    for label, budget in (
        ("Telegram 50 MB", TELEGRAM),
        ("Discord 10 MiB", DISCORD),
        (f"tight: {TIGHT_SHARE:.0%} of the constant-quality file", tight),
    ):
        rows = []
        t = encode_old(clip, tmp / "old.mp4", budget, tmp)
        rows.append(measure(clip, "old", tmp / "old.mp4", t))
        t = encode_new(clip, tmp / "new.mp4", budget)
        rows.append(measure(clip, "new", tmp / "new.mp4", t))
        if budget == tight:
            t2: dict[str, float] = {}
            with _measure(t2):
                reencode_two_pass(clip, tmp / "free.mp4", tmp / "alt.mp4", budget, tmp)
            both = {"wall": free.wall + t2["wall"], "cpu": free.cpu + t2["cpu"]}
            rows.append(measure(clip, "crf+2pass", tmp / "alt.mp4", both))
        print(f"\n{label}: budget {budget} bytes")
        show(clip, rows, budget)
        old, new = rows[0], rows[1]
        print(
            f"  new/old: bytes x{new.bytes / old.bytes:.3f}, CPU x{new.cpu / old.cpu:.2f}, "
            f"SSIM {new.ssim - old.ssim:+.4f}, PSNR {new.psnr - old.psnr:+.2f} dB; "
            f"new/no budget: bytes x{new.bytes / free.bytes:.3f}"
        )


CHOICES = [
    ("veryfast", 20, None, 4.0),  # the former default
    ("veryfast", 20, None, 10.0),
    ("faster", 21, None, 10.0),
    ("faster", 22, None, 10.0),
    ("faster", 21, "film", 10.0),
    ("faster", 22, "film", 10.0),
    ("faster", 22, "film", 4.0),
    ("faster", 22, "stillimage", 10.0),
    ("faster", 24, "film", 10.0),
    ("faster", 27, "film", 10.0),
    ("fast", 22, "film", 10.0),
    ("medium", 22, "film", 10.0),
    ("medium", 23, "film", 10.0),
]


def choose(clip: Clip, tmp: Path) -> None:
    from engine.media.video import VideoQuality

    print("\nx264 settings, no budget (preset, CRF, tune, keyframe interval)")
    rows = []
    for preset, crf, tune, key in CHOICES:
        q = VideoQuality(crf=crf, preset=preset, tune=tune, keyframe_seconds=key)
        t = encode_new(clip, tmp / "q.mp4", None, quality=q)
        rows.append(measure(clip, f"{preset} {crf} {tune or '-'} {key:g}s", tmp / "q.mp4", t))
        show(clip, rows[-1:])


def budget_for_cap(clip: Clip, cap: int) -> int:
    """The smallest byte budget whose plan gives the picture ``cap`` bits/s (bisection)."""
    from engine.errors import InvalidInput
    from engine.media.video import plan_rate

    def reaches(max_bytes: int) -> bool:
        try:
            plan = plan_rate(max_bytes, seconds=clip.seconds, size=clip.size, fps=clip.fps)
        except InvalidInput:
            return False
        return (plan.video_cap or 0) >= cap

    lo, hi = 1, 1 << 40
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid + 1, hi)
    return lo


def floor(clip: Clip, tmp: Path) -> None:
    """Quality around the refusal threshold MIN_BITS_PER_PIXEL (the plan checks the floor, so
    caps below it are reached by lowering the floor for the run)."""
    import engine.media.video as video

    per_bpp = clip.size[0] * clip.size[1] * clip.fps
    print(f"\nbudgets that cap the picture near the floor ({video.MIN_BITS_PER_PIXEL} bit/pixel)")
    real = video.MIN_BITS_PER_PIXEL
    video.MIN_BITS_PER_PIXEL = 0.0
    try:
        for bpp in (0.02, 0.015, 0.01, 0.007, 0.005):
            budget = budget_for_cap(clip, int(bpp * per_bpp))
            t = encode_new(clip, tmp / "f.mp4", budget)
            show(clip, [measure(clip, f"{bpp} bpp", tmp / "f.mp4", t)], budget)
    finally:
        video.MIN_BITS_PER_PIXEL = real


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--choose", action="store_true", help="also sweep the x264 settings")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        t0 = time.perf_counter()
        clip = capture_demo(tmp)
        print(
            f"machine: {os.cpu_count()} CPU cores; demo render {time.perf_counter() - t0:.1f} s: "
            f"{clip.n} frames, {clip.size[0]}x{clip.size[1]} at {clip.fps} fps "
            f"({clip.seconds:.2f} s), face box {clip.face[2]}x{clip.face[3]}"
        )
        print("quality: against the original frames, both as yuv420p (1.0 / inf = identical)")
        compare(clip, tmp)
        if args.choose:
            choose(clip, tmp)
            floor(clip, tmp)


if __name__ == "__main__":
    main()
