"""MuseTalk 1.5 speed on this machine's CPU, with the full-size networks and random weights.

Timing does not depend on the weight values, so no model file is needed. Prints, in one run:

1. FLOPs per frame (torch's FlopCounterMode on the meta device: nothing is computed): the UNet
   pass and the VAE decode per frame; per render the reference latents (VAE encode of two
   crops); per 30 s of speech the Whisper encoder; side by side with Diff2Lip's;
2. ms per frame of the per-frame step (UNet + VAE decode) at several batch sizes, fp32, and
   bf16 where the CPU has it natively; beside it, in the same run, one full-size Diff2Lip
   forward (a frame's step) at batch 1, fp32;
3. a render of a few seconds of the sample voice through ``MuseTalkBackend.frames`` (crop,
   paste, streamed to the H.264 encoder): network time and the share of time outside it;
4. compute per second of video, EXTRAPOLATED from 2 and 3, beside Diff2Lip's.

    .venv/bin/python bench/musetalk.py            # about 5-10 min on 2 idle CPU cores
    .venv/bin/python bench/musetalk.py --quick    # batch 1 only, 0.6 s render
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from bench.lipsync import _speech, _Timer  # noqa: E402  (shared helpers)

PHOTO = ROOT / "data" / "samples" / "portrait.jpg"
FPS = 25
DIFF2LIP_GFLOP_PER_STEP = 157.0  # bench/lipsync.py


def count_flops() -> dict[str, float]:
    """GFLOP of each stage, counted on the meta device (shapes only)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from engine.lipsync.musetalk.config import UNET_CONFIG, VAE_CONFIG, WHISPER_CONFIG
    from engine.lipsync.musetalk.loading import build_unet, build_vae, build_whisper

    def gflop(fn: Any) -> float:
        with torch.inference_mode(), FlopCounterMode(display=False) as fc:
            fn()
        return fc.get_total_flops() / 1e9

    with torch.device("meta"):
        unet, vae = build_unet(UNET_CONFIG), build_vae(VAE_CONFIG)
        whisper = build_whisper(WHISPER_CONFIG)
        t0 = torch.zeros(1, dtype=torch.long)
        return {
            "unet": gflop(
                lambda: unet(
                    torch.zeros(1, 8, 32, 32), t0, encoder_hidden_states=torch.zeros(1, 50, 384)
                )
            ),
            "decode": gflop(lambda: vae.decode(torch.zeros(1, 4, 32, 32))),
            "encode_reference": gflop(lambda: vae.encode(torch.zeros(2, 3, 256, 256))),
            "whisper_30s": gflop(lambda: whisper(torch.zeros(1, 80, 3000))),
        }


def section_flops() -> dict[str, float]:
    fl = count_flops()
    per_frame = fl["unet"] + fl["decode"]
    print(
        f"\n[1] FLOPs: per frame {per_frame:.0f} GFLOP = UNet {fl['unet']:.1f} + VAE decode "
        f"{fl['decode']:.1f} ({100 * fl['decode'] / per_frame:.0f} % in the decoder); per render "
        f"the reference latents {fl['encode_reference']:.0f} GFLOP; per 30 s of speech Whisper "
        f"{fl['whisper_30s']:.1f} GFLOP ({fl['whisper_30s'] / 750:.2f} a frame)"
    )
    for steps in (25, 10):
        d2l = steps * DIFF2LIP_GFLOP_PER_STEP
        print(
            f"    Diff2Lip at {steps} steps: {d2l:.0f} GFLOP a frame = "
            f"{d2l / per_frame:.1f}x MuseTalk's"
        )
    return fl


def _networks() -> tuple[Any, Any, Any]:
    import torch

    from engine.lipsync.musetalk.config import UNET_CONFIG, VAE_CONFIG, WHISPER_CONFIG
    from engine.lipsync.musetalk.loading import build_unet, build_vae, build_whisper

    torch.manual_seed(0)
    return (
        build_unet(UNET_CONFIG).eval(),
        build_vae(VAE_CONFIG).eval(),
        build_whisper(WHISPER_CONFIG).eval(),
    )


def _bf16_ok() -> bool:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return "avx512_bf16" in flags or "amx_bf16" in flags


def section_speed(parts: Any, fl: dict[str, float], args: argparse.Namespace) -> dict[str, float]:
    """Best seconds per frame per precision."""
    import torch

    from engine.lipsync.musetalk.nets import MuseTalkNets

    print("\n[2] per-frame step (UNet + VAE decode), best of --repeat calls after a warm-up")
    per_frame = fl["unet"] + fl["decode"]
    best: dict[str, float] = {}
    for precision in ["fp32"] + (["bf16"] if _bf16_ok() and not args.quick else []):
        dtype = torch.bfloat16 if precision == "bf16" else None
        nets = MuseTalkNets(*parts, device=torch.device("cpu"), dtype=dtype)
        ref = nets.reference_latents(np.zeros((256, 256, 3), np.float32))
        for batch in args.batches:
            windows = np.random.default_rng(batch).standard_normal((batch, 50, 384))
            windows = windows.astype(np.float32)
            nets.generate(windows[:1], ref)  # warm-up
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                nets.generate(windows, ref)
                times.append(time.perf_counter() - t0)
            sec = min(times) / batch
            best[precision] = min(best.get(precision, float("inf")), sec)
            print(
                f"    {precision} batch {batch:2d}: {sec * 1e3:7.0f} ms/frame  "
                f"{per_frame / sec:6.0f} GFLOP/s  (loadavg {os.getloadavg()[0]:.1f})"
            )
    # the casts above changed the shared modules; back to fp32 for the render
    for module in parts:
        torch.nn.Module.to(module, dtype=torch.float32)
    best["diff2lip_step"] = _diff2lip_step(args.repeat)
    d2l = best["diff2lip_step"]
    print(
        f"    Diff2Lip fp32 batch  1: {d2l * 1e3:7.0f} ms/frame/step "
        f"{DIFF2LIP_GFLOP_PER_STEP / d2l:6.0f} GFLOP/s; a Diff2Lip frame costs "
        f"{25 * d2l / best['fp32']:.1f}x (25 steps) or {10 * d2l / best['fp32']:.1f}x (10 steps) "
        f"a MuseTalk frame here (loadavg {os.getloadavg()[0]:.1f})"
    )
    return best


def _diff2lip_step(repeat: int) -> float:
    """Seconds of one full-size Diff2Lip forward at batch 1, fp32 (bench/lipsync.py's timer)."""
    import torch

    from bench.lipsync import time_forward
    from engine.lipsync.diff2lip.config import FULL_CONFIG
    from engine.lipsync.diff2lip.unet import build_model

    torch.manual_seed(0)
    model = build_model(FULL_CONFIG).eval()
    return time_forward(model, FULL_CONFIG, 1, "fp32", repeat, "cpu")


def section_render(parts: Any, seconds: float, tmp: Path) -> float:
    """Returns the seconds per frame outside the networks."""
    import torch

    from engine.lipsync.musetalk import MuseTalkBackend
    from engine.lipsync.musetalk.nets import MuseTalkNets
    from engine.media.image import load_portrait
    from engine.media.video import VideoWriter
    from engine.settings import EngineSettings
    from engine.types import RenderOptions

    nets = MuseTalkNets(*parts, device=torch.device("cpu"))
    be = MuseTalkBackend(EngineSettings(lipsync="musetalk", device="cpu"), nets=nets)
    timers = {
        name: _Timer(getattr(nets, name))
        for name in ("generate", "encode_audio", "reference_latents")
    }
    for name, timer in timers.items():
        setattr(nets, name, timer)
    portrait = load_portrait(PHOTO)
    speech = _speech(seconds)
    n = int(round(seconds * FPS))
    t0 = time.perf_counter()
    with VideoWriter(tmp / "mt.mp4", size=portrait.size, fps=FPS, audio=speech.audio) as w:
        for frame in be.frames(portrait, speech, n_frames=n, options=RenderOptions()):
            w.write(frame)
    wall = time.perf_counter() - t0
    net = sum(t.seconds for t in timers.values())
    gen = timers["generate"]
    print(
        f"\n[3] render of {seconds:g} s of the sample voice ({n} frames, {gen.calls} network "
        f"calls: {n - gen.calls} frames reused), {portrait.size[0]}x{portrait.size[1]} photo, "
        "fp32, batch 1, streamed to the H.264 encoder:"
    )
    ref, whisper = timers["reference_latents"].seconds, timers["encode_audio"].seconds
    print(
        f"    total {wall:7.1f} s: UNet + decode {gen.seconds:6.1f} s, reference latents "
        f"{ref:5.1f} s, Whisper {whisper:5.1f} s; outside the networks {wall - net:5.1f} s = "
        f"{100 * (wall - net) / wall:4.1f} % "
        f"({(wall - net) / n * 1e3:5.1f} ms a frame; loadavg {os.getloadavg()[0]:.1f})"
    )
    return (wall - net) / n


def section_extrapolate(best: dict[str, float], overhead: float) -> None:
    print(
        "\n[4] compute per second of video, EXTRAPOLATED: 25 frames x the best measured "
        f"ms/frame + {overhead * 1e3:.0f} ms/frame outside the networks (no frame reused), "
        "plus the once-per-render reference latents and Whisper not counted"
    )
    for precision, per in best.items():
        if precision == "diff2lip_step":
            continue
        sec = FPS * (per + overhead)
        print(
            f"    MuseTalk {precision} ({per * 1e3:.0f} ms a frame): {sec:5.0f} s per second of "
            f"video (real-time factor {sec:.0f}x; 10 s of video: {sec / 6:.1f} min)"
        )
    for steps in (25, 10):
        sec = FPS * (steps * best["diff2lip_step"] + overhead)
        print(f"    Diff2Lip fp32 at {steps} steps, same machine and run: {sec:5.0f} s per second")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+")
    ap.add_argument("--render-seconds", type=float)
    args = ap.parse_args()
    args.batches = args.batches or ([1] if args.quick else [1, 2, 4])
    args.render_seconds = args.render_seconds or (0.6 if args.quick else 2.0)
    import torch

    started = time.perf_counter()
    print(
        f"cpu_capability={torch.backends.cpu.get_cpu_capability()} "
        f"threads={torch.get_num_threads()} torch={torch.__version__} "
        f"loadavg={os.getloadavg()[0]:.1f}"
    )
    fl = section_flops()
    parts = _networks()
    best = section_speed(parts, fl, args)
    with tempfile.TemporaryDirectory() as name:
        overhead = section_render(parts, args.render_seconds, Path(name))
    section_extrapolate(best, overhead)
    print(f"\nbench wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
