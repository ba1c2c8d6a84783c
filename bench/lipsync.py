"""Diff2Lip speed on this machine, with the full-size network and random weights.

Timing does not depend on the weight values, so no checkpoint is needed. Prints, in one run:

1. FLOPs of one forward per 128x128 frame (torch's FlopCounterMode);
2. ms per frame per step and achieved GFLOP/s at several batch sizes, fp32 and bf16
   (bf16 autocast where the CPU has native bf16), plus fp32 channels-last at batch 8;
3. a render of a few seconds of the sample voice at 1 step through our still-photo path
   and through an upstream-style path (JPEG round trip of every full frame, face detection on
   every frame, no frame reuse, hard paste without blending), interleaved frame by frame and
   each streamed to an encoder: network time, the share of time outside the network, ratios;
4. seconds of compute per second of video at 25 and 10 steps, EXTRAPOLATED from the measured
   per-frame-step time and the measured per-frame overhead;
5. peak RSS of renders of 10 s and 60 s of video, each in its own process, with the TINY
   network (the full one would take hours at 60 s): it shows whether the pipeline streams.

    .venv/bin/python bench/lipsync.py                  # about 5-8 min on 2 CPU cores
    .venv/bin/python bench/lipsync.py --quick          # batches 1 and 8, 1 s render, 3/6 s RSS
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds scripts named like stdlib modules (queue.py); run as a script, this directory
# would shadow them, so take it off the path and put the project root there instead.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

PHOTO = ROOT / "data" / "samples" / "portrait.jpg"
VOICE = ROOT / "data" / "samples" / "voice.ogg"
FPS = 25


def _bf16_ok() -> bool:
    import torch

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return torch.cuda.is_available() or "avx512_bf16" in flags or "amx_bf16" in flags


def count_flops(model: Any, cfg: Any) -> dict[str, float]:
    """GFLOP of one batch-1 forward, split into convolution, attention and the rest."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    args = _inputs(model, cfg, 1, "cpu")
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        model(*args)
    ops = {str(k): v for k, v in fc.get_flop_counts()["Global"].items()}
    conv = sum(v for k, v in ops.items() if "convolution" in k)
    # attention: q.k and weights.v (bmm on CPU's math path, or the fused SDPA kernels)
    attn = sum(v for k, v in ops.items() if "attention" in k or "bmm" in k)
    total = fc.get_total_flops()
    return {
        "total": total / 1e9,
        "conv": conv / 1e9,
        "attention": attn / 1e9,
        "other": (total - conv - attn) / 1e9,
    }


def _inputs(model: Any, cfg: Any, b: int, device: str) -> tuple[Any, ...]:
    import torch

    s = cfg.image_size
    with torch.inference_mode():
        style = model.encode_audio(torch.randn(b, 80, 16, device=device))
    return (
        torch.randn(b, 3, s, s, device=device),
        torch.full((b,), 500, device=device),
        torch.randn(b, cfg.in_channels - 3, s, s, device=device),
        torch.ones(1, 1, s, s, device=device),
        style,
    )


def time_forward(
    model: Any, cfg: Any, b: int, dtype: str, repeat: int, device: str, channels_last: bool = False
) -> float:
    """Best of ``repeat`` timed forwards at batch ``b`` (best-of: other jobs share this CPU),
    after one warm-up forward at the same shape below batch 16 (above, the one-off set-up is
    under 1 % of a forward and the warm-up is skipped to keep the run short)."""
    import torch

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    x, t, c, m, st = _inputs(model, cfg, b, device)
    x, c = x.contiguous(memory_format=fmt), c.contiguous(memory_format=fmt)
    amp = torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=dtype == "bf16")
    with torch.inference_mode(), amp:
        if b < 16:
            model(x, t, c, m, st)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            model(x, t, c, m, st)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    model.to(memory_format=torch.contiguous_format)
    return min(times)


class _Timer:
    """Wraps a callable and adds up the seconds spent in it."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fn(*a, **k)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1


def _backend(ckpt: Path, config: str = "", batch: int = 0) -> Any:
    from engine.lipsync.diff2lip import Diff2LipBackend
    from engine.settings import EngineSettings

    return Diff2LipBackend(
        EngineSettings(
            lipsync="diff2lip",
            lipsync_model=str(ckpt),
            lipsync_config=config,
            lipsync_batch=batch,
            device="cpu",
        )
    )


def _instrument(be: Any) -> tuple[_Timer, _Timer]:
    fwd, aud = _Timer(be.forward), _Timer(be.model.encode_audio)
    be.forward = fwd
    be.model.encode_audio = aud
    return fwd, aud


def _speech(seconds: float) -> Any:
    from engine.media.audio import decode_audio
    from engine.types import Audio, Speech

    a = decode_audio(VOICE, sample_rate=16000, max_seconds=60)
    reps = int(np.ceil(seconds * 16000 / len(a.samples)))
    samples = np.tile(a.samples, reps)[: int(seconds * 16000)]
    return Speech(audio=Audio(samples.astype(np.float32), 16000))


def render_ours(be: Any, portrait: Any, speech: Any, n: int, steps: int, out: Path) -> float:
    """Our path, streamed to the encoder. Returns wall seconds."""
    from engine.media.video import VideoWriter
    from engine.types import RenderOptions

    t0 = time.perf_counter()
    with VideoWriter(out, size=portrait.size, fps=FPS, audio=speech.audio) as w:
        for frame in be.frames(
            portrait, speech, n_frames=n, options=RenderOptions(lipsync_steps=steps)
        ):
            w.write(frame)
    return time.perf_counter() - t0


def upstream_style_frames(be: Any, image: np.ndarray, speech: Any, n: int, steps: int) -> Any:
    """generate.py's per-frame work on a still photo, as a frame generator: every full frame
    goes through a JPEG round trip (its ffmpeg -> .jpg -> cv2.imread), face detection, crop
    and resize; no frame reuse; the generated crop is pasted as a hard box (no blending).
    Upstream collects all frames in memory before writing; here they stream. Our detector
    stands in for S3FD."""
    import cv2
    import torch

    from engine.lipsync.diff2lip.crop import compose, face_box, hide_mask
    from engine.lipsync.diff2lip.mel import mel_windows, melspectrogram, to_16k
    from engine.lipsync.diff2lip.sampler import DDIMSampler
    from engine.media.image import FaceDetector, find_face

    detector = FaceDetector()  # the authors' loop finds the face per frame; the model once
    s = be.cfg.image_size
    mels = mel_windows(melspectrogram(to_16k(speech.audio.samples, 16000)), n, FPS)
    noise = torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(7))
    mask = torch.from_numpy(hide_mask(s))[None, None]
    sampler = DDIMSampler(steps)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    for start in range(0, n, be.batch):
        frames, boxes, faces = [], [], []
        for _ in range(start, min(n, start + be.batch)):
            _, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
            frame = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            x0, y0, x1, y1 = face_box(find_face(frame, detector))
            face = cv2.resize(frame[y0:y1, x0:x1], (s, s)).astype(np.float32) / 127.5 - 1
            frames.append(frame)
            boxes.append((x0, y0, x1, y1))
            faces.append(face)
        f = torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2)
        cond = torch.cat([f * (1 - mask) + mask * noise, f], dim=1)
        gen = be._generate(mels[start : start + len(frames)], noise, cond, mask, sampler)
        for frame, box, sample, face in zip(frames, boxes, gen, faces, strict=True):
            x0, y0, x1, y1 = box
            g = ((compose(sample, face) + 1) * 127.5).clip(0, 255).astype(np.uint8)
            frame[y0:y1, x0:x1] = cv2.resize(g, (x1 - x0, y1 - y0))
            yield frame


def _peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: after fork + exec that also counts
    the parent's RSS at the fork."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(seconds: float, ckpt: Path, config: str) -> None:
    """One render of ``seconds`` of video in this process; prints a JSON line."""
    import torch

    from engine.media.image import load_portrait

    torch.set_num_threads(1)  # memory, not speed, is measured here; one thread is steadier
    be = _backend(ckpt, config)
    portrait = load_portrait(PHOTO)
    speech = _speech(seconds)
    n = int(round(seconds * FPS))
    with tempfile.TemporaryDirectory() as tmp:
        wall = render_ours(be, portrait, speech, n, 1, Path(tmp) / "rss.mp4")
    peak = _peak_rss_mb()
    print(json.dumps({"seconds": seconds, "frames": n, "wall": wall, "peak_rss_mb": peak}))


def _rss(seconds: float, ckpt: Path, config: str) -> dict[str, float]:
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--rss-child",
            str(seconds),
            "--ckpt",
            str(ckpt),
            "--config",
            config,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", help="default 1 8 32 (--quick: 1 8)")
    ap.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"])
    ap.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="timed forwards per point below batch 16 (best is kept); 1 above",
    )
    ap.add_argument("--render-seconds", type=float, help="default 2 (--quick: 1)")
    ap.add_argument("--rss-seconds", type=float, nargs=2, help="default 10 60 (--quick: 3 6)")
    ap.add_argument("--quick", action="store_true", help="short run: see the module docstring")
    ap.add_argument("--rss-child", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--ckpt", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--config", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    quick = {"batches": [1, 8], "render_seconds": 1.0, "rss_seconds": [3.0, 6.0]}
    full = {"batches": [1, 8, 32], "render_seconds": 2.0, "rss_seconds": [10.0, 60.0]}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def section_flops(model: Any, cfg: Any, device: str) -> dict[str, float]:
    fl = count_flops(model.cpu(), cfg)
    model.to(device)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"\n[1] network: {params / 1e6:.2f} M parameters; one forward per 128x128 frame = "
        f"{fl['total']:.1f} GFLOP (conv {fl['conv']:.1f}, attention {fl['attention']:.1f}, "
        f"other {fl['other']:.1f}); 25 steps = {25 * fl['total'] / 1e3:.2f} TFLOP per frame"
    )
    return fl


def section_speed(
    model: Any, cfg: Any, fl: dict[str, float], args: argparse.Namespace, device: str
) -> dict[str, float]:
    """Prints the forward-speed table; returns the best seconds per frame per step by dtype."""
    print(
        "\n[2] forward speed (best of --repeat timed forwards, after a warm-up, below batch 16; "
        "one timed forward above); loadavg when measured"
    )
    best: dict[str, float] = {}
    dtypes = [d for d in args.dtypes if d != "bf16" or _bf16_ok()]
    if len(dtypes) < len(args.dtypes):
        print("    bf16 skipped: no native bf16 on this CPU")
    for dt in dtypes:
        for b in args.batches:
            sec = time_forward(model, cfg, b, dt, args.repeat if b < 16 else 1, device)
            best[dt] = min(best.get(dt, float("inf")), sec / b)
            print(
                f"    {dt:5s} batch {b:3d}: {sec / b * 1e3:8.1f} ms/frame/step  "
                f"{fl['total'] * b / sec:7.1f} GFLOP/s  (loadavg {os.getloadavg()[0]:.1f})"
            )
    if "fp32" in dtypes:  # A/B, alternating, so that load changes hit both alike
        b = args.batches[0]
        ab: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(2):
            for cl in (False, True):
                ab[cl].append(time_forward(model, cfg, b, "fp32", args.repeat, device, cl))
        print(
            f"    fp32  batch {b:3d} A/B alternating: contiguous {min(ab[False]) / b * 1e3:.1f} "
            f"vs channels-last {min(ab[True]) / b * 1e3:.1f} ms/frame/step (best of "
            f"{2 * args.repeat} each)"
        )
    return best


def section_render(ckpt: Path, seconds: float, tmp: Path) -> float:
    """Ours vs upstream-style, interleaved frame by frame (so the load of other jobs on this
    machine hits both alike), each streamed to its own encoder. Returns our seconds per frame
    outside the network."""
    from engine.lipsync.diff2lip.mel import melspectrogram, to_16k
    from engine.media.image import load_portrait
    from engine.media.video import VideoWriter
    from engine.types import RenderOptions

    melspectrogram(to_16k(np.zeros(4410, np.float32), 22050))  # imports outside the timing
    n = int(round(seconds * FPS))
    speech = _speech(seconds)
    portrait = load_portrait(PHOTO)
    ours, theirs = _backend(ckpt), _backend(ckpt)
    fwd, aud = _instrument(ours)
    fwd2, aud2 = _instrument(theirs)
    g1 = ours.frames(portrait, speech, n_frames=n, options=RenderOptions(lipsync_steps=1))
    g2 = upstream_style_frames(theirs, portrait.image.copy(), speech, n, 1)
    wall = wall2 = 0.0
    kw = {"size": portrait.size, "fps": FPS, "audio": speech.audio}
    with VideoWriter(tmp / "ours.mp4", **kw) as w1, VideoWriter(tmp / "up.mp4", **kw) as w2:
        for _ in range(n):
            t0 = time.perf_counter()
            w1.write(next(g1))
            t1 = time.perf_counter()
            w2.write(next(g2))
            wall, wall2 = wall + t1 - t0, wall2 + time.perf_counter() - t1
    net, net2 = fwd.seconds + aud.seconds, fwd2.seconds + aud2.seconds
    print(
        f"\n[3] render of {seconds:g} s of the sample voice ({n} frames, "
        f"{portrait.size[0]}x{portrait.size[1]} photo), 1 step, batch {ours.batch}, fp32, "
        "streamed to the H.264 encoder; the two paths interleaved frame by frame:"
    )
    print(
        f"    ours:           {wall:7.2f} s, network {net:7.2f} s ({fwd.calls} forwards), "
        f"outside the network {wall - net:6.2f} s = {100 * (wall - net) / wall:4.1f} % "
        f"({(wall - net) / n * 1e3:6.1f} ms/frame)"
    )
    print(
        f"    upstream-style: {wall2:7.2f} s, network {net2:7.2f} s ({fwd2.calls} forwards), "
        f"outside the network {wall2 - net2:6.2f} s = {100 * (wall2 - net2) / wall2:4.1f} % "
        f"({(wall2 - net2) / n * 1e3:6.1f} ms/frame)"
    )
    print(
        f"    upstream-style / ours: total {wall2 / wall:.2f}x, outside the network "
        f"{(wall2 - net2) / max(1e-9, wall - net):.1f}x (loadavg {os.getloadavg()[0]:.1f})"
    )
    return (wall - net) / n


def section_extrapolate(best: dict[str, float], overhead: float) -> None:
    print(
        "\n[4] compute per second of video, EXTRAPOLATED: 25 frames x steps x the best "
        f"measured ms/frame/step of each precision + the measured {overhead * 1e3:.1f} ms/frame "
        "outside the network (no frame reuse assumed)"
    )
    for dt, per in best.items():
        for steps in (25, 10):
            sec = FPS * (steps * per + overhead)
            print(
                f"    {dt:5s} ({per * 1e3:4.0f} ms) {steps:2d} steps: {sec:6.0f} s per second "
                f"of video ({sec / 60:4.1f} min; real-time factor {sec:.0f}x)"
            )


def section_rss(tiny: Path, seconds: list[float]) -> None:
    print(
        "\n[5] peak RSS (VmHWM), TINY network (structure of the full one, 0.8 M params), "
        "1 step, 1 thread, sample voice looped, each render in its own process:"
    )
    for secs in seconds:
        r = _rss(secs, tiny, "tiny")
        print(
            f"    {secs:4g} s of video ({r['frames']:4d} frames): peak RSS "
            f"{r['peak_rss_mb']:6.0f} MB, wall {r['wall']:5.1f} s"
        )


def main() -> None:
    args = _parse()
    if args.rss_child:
        rss_child(args.rss_child, args.ckpt, args.config)
        return
    import torch

    from engine.lipsync.diff2lip.config import FULL_CONFIG, TINY_CONFIG
    from engine.lipsync.diff2lip.unet import build_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    started = time.perf_counter()
    print(
        f"device={device} cpu_capability={torch.backends.cpu.get_cpu_capability()} "
        f"threads={torch.get_num_threads()} torch={torch.__version__} "
        f"loadavg={os.getloadavg()[0]:.1f}"
    )
    torch.manual_seed(0)
    model = build_model(FULL_CONFIG).eval().to(device)
    fl = section_flops(model, FULL_CONFIG, device)
    best = section_speed(model, FULL_CONFIG, fl, args, device)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        ckpt, tiny = tmp / "random_full.pt", tmp / "random_tiny.pt"
        torch.save(model.cpu().state_dict(), ckpt)
        del model
        torch.save(build_model(TINY_CONFIG).state_dict(), tiny)
        overhead = section_render(ckpt, args.render_seconds, tmp)
        section_extrapolate(best, overhead)
        section_rss(tiny, args.rss_seconds)
    print(
        f"\nbench wall time {time.perf_counter() - started:.0f} s "
        f"(loadavg at the end {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
