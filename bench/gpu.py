"""GPU speed of the lip-sync backends and the speech codec, in one run of a few minutes.

Runs the engine's own backend classes (device placement, dtype casts, autocast,
channels-last, CUDA graphs through torch.compile) with random weights of the real
configurations and synthetic crops and audio, so no model file, no network and none of the
engine's media stack (OpenCV, SciPy, MediaPipe, llama.cpp) is needed. Prints one table and,
when $OUT is set, writes every figure (and every error) to $OUT/gpu.json.

1. MuseTalk 1.5 (``MuseTalkBackend`` on ``MuseTalkNets``): frames per second of the per-frame
   step (UNet at timestep 0 + VAE decode), fp16 and bf16, batches 1/8/32/64; once per render
   the reference latents (VAE encode) and per 30 s of speech the Whisper encoder.
2. Diff2Lip (``Diff2LipBackend``): the real DDIM loop at 10 steps, fp32/fp16/bf16 autocast,
   batches 1/16/64: ms per frame per step, fps at 10 steps, fps at 25 steps (from the same
   per-step time).
3. NeuCodec decoder: seconds of compute per second of 24 kHz speech, fp32 and bf16 autocast.
4. CUDA graphs (``lipsync_cuda_graphs``: torch.compile mode reduce-overhead) for one MuseTalk
   and one Diff2Lip configuration, compile time and steady fps, while the time budget lasts.

    bash bench/gpu.sh                          # on the GPU machine (unpacks carried wheels)
    python bench/gpu.py --smoke                # here: tiny networks on the CPU, a few minutes
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

# Per-frame work of the full-size networks, counted with torch's FlopCounterMode on the meta
# device (bench/musetalk.py prints them; bench/lipsync.py for Diff2Lip).
MUSETALK_GFLOP_PER_FRAME = 177.8 + 622.2  # UNet + VAE decode
DIFF2LIP_GFLOP_PER_STEP = 157.0


@dataclass
class Row:
    section: str
    config: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None


class Bench:
    """Collects rows; each measurement runs guarded, so one failure does not end the run."""

    def __init__(self, budget: float, environment: dict[str, str]) -> None:
        self.rows: list[Row] = []
        self.started = time.perf_counter()
        self.budget, self.environment = budget, environment

    def save(self) -> None:
        """$OUT/gpu.json with every row so far (written after each one: a run killed by its
        time limit still leaves what it measured)."""
        out = os.environ.get("OUT")
        if out:
            report = {
                "environment": self.environment,
                "wall_s": round(time.perf_counter() - self.started, 1),
                "rows": [asdict(r) for r in self.rows],
            }
            Path(out, "gpu.json").write_text(json.dumps(report, indent=1))

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.started)

    def measure(
        self, section: str, config: dict[str, Any], fn: Callable[[], dict[str, float]]
    ) -> dict[str, float] | None:
        label = " ".join(f"{k}={v}" for k, v in config.items())
        try:
            metrics = fn()
        except Exception as e:  # report and go on: the next configuration may work
            err = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            print(f"  {section:9s} {label:42s} ERROR {err}")
            traceback.print_exc(limit=3, file=sys.stdout)
            self.rows.append(Row(section, config, error=err))
            self.save()
            _empty_cache()
            return None
        shown = "  ".join(f"{k} {_fmt(v)}" for k, v in metrics.items())
        print(f"  {section:9s} {label:42s} {shown}", flush=True)
        self.rows.append(Row(section, config, metrics))
        self.save()
        return metrics


def _fmt(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _empty_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def timed(fn: Callable[[], Any], device: Any, repeat: int, warmup: int = 1) -> float:
    """Median seconds of ``repeat`` calls after ``warmup`` (device synchronised)."""
    import torch

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _peak_gb(device: Any) -> float:
    import torch

    if device.type != "cuda":
        return 0.0
    peak = torch.cuda.max_memory_allocated(device) / 1e9
    torch.cuda.reset_peak_memory_stats(device)
    return round(peak, 2)


# ---- 1. MuseTalk -------------------------------------------------------------------------------
def _musetalk_networks(device: Any, smoke: bool) -> tuple[Any, Any, Any]:
    """Random full-size (or tiny) networks, initialised on the device itself (fast)."""
    import torch

    from engine.lipsync.musetalk import config as c
    from engine.lipsync.musetalk.loading import build_unet, build_vae, build_whisper

    torch.manual_seed(0)
    with torch.device(device):
        unet = build_unet(c.TINY_UNET_CONFIG if smoke else c.UNET_CONFIG)
        vae = build_vae(c.TINY_VAE_CONFIG if smoke else c.VAE_CONFIG)
        whisper = build_whisper(c.TINY_WHISPER_CONFIG if smoke else c.WHISPER_CONFIG)
    return unet.eval(), vae.eval(), whisper.eval()


def _musetalk_backend(nets_parts: Any, device: Any, precision: str, graphs: bool) -> Any:
    from engine.lipsync.musetalk import MuseTalkBackend, MuseTalkNets
    from engine.lipsync.runtime import amp_dtype
    from engine.settings import EngineSettings

    unet, vae, whisper = nets_parts
    settings = EngineSettings(
        lipsync="musetalk",
        device=str(device),
        lipsync_precision=precision,
        lipsync_batch=64,
        lipsync_cuda_graphs=graphs,
    )
    nets = MuseTalkNets(
        unet,
        vae,
        whisper,
        device=device,
        dtype=amp_dtype(precision, device),
        cuda_graphs=graphs,
    )
    return MuseTalkBackend(settings, nets=nets)


def _windows(be: Any, n: int) -> np.ndarray:
    tokens = 10 * (len(be.nets.whisper.layers) + 1)
    rng = np.random.default_rng(n)
    return rng.standard_normal((n, tokens, be.nets.whisper.config.d_model)).astype(np.float32)


def _musetalk_per_render(be: Any, device: Any) -> dict[str, float]:
    face = np.random.default_rng(0).uniform(-1, 1, (256, 256, 3)).astype(np.float32)
    audio = (np.random.default_rng(1).standard_normal(16000 * 30) * 0.1).astype(np.float32)
    t_ref = timed(lambda: be.nets.reference_latents(face), device, 3)
    t_whisper = timed(lambda: be.nets.encode_audio(audio), device, 2)
    eta = be.estimate_seconds(25, _options())
    return {"reference_ms": t_ref * 1e3, "whisper_30s_ms": t_whisper * 1e3, "eta_1s": eta}


def _musetalk_step(be: Any, batch: int, device: Any, args: argparse.Namespace) -> dict:
    ref = be.nets.reference_latents(np.zeros((256, 256, 3), np.float32))
    windows = _windows(be, batch)
    t = timed(lambda: be._run(windows, ref), device, args.repeat)
    fps = batch / t
    return {
        "ms_per_frame": t / batch * 1e3,
        "fps": fps,
        "tflops": 0.0 if args.smoke else fps * MUSETALK_GFLOP_PER_FRAME / 1e3,
        "peak_gb": _peak_gb(device),
    }


def section_musetalk(b: Bench, device: Any, args: argparse.Namespace) -> None:
    print(
        f"\n[1] MuseTalk 1.5 per-frame step (UNet + VAE decode, "
        f"{MUSETALK_GFLOP_PER_FRAME:.0f} GFLOP a frame at full size), random weights"
    )
    parts = _musetalk_networks(device, args.smoke)
    for precision in args.musetalk_precisions:
        be = _musetalk_backend(parts, device, precision, graphs=False)
        config = {"precision": precision}
        b.measure(
            "musetalk", {**config, "stage": "per render"}, partial(_musetalk_per_render, be, device)
        )
        for batch in args.musetalk_batches:
            step = partial(_musetalk_step, be, batch, device, args)
            b.measure("musetalk", {**config, "batch": batch}, step)
        if args.frames:
            frames = partial(_frames, be, 10 if args.smoke else 100)
            b.measure("musetalk", {**config, "stage": "frames()"}, frames)
        del be
        _empty_cache()


def _options() -> Any:
    from engine.types import RenderOptions

    return RenderOptions()


def _frames(be: Any, n_frames: int) -> dict[str, float]:
    """The whole still-photo path (needs OpenCV and SciPy; skipped where they are absent)."""
    from engine.types import Audio, FaceBox, FaceLandmarks, Portrait, Speech

    img = np.random.default_rng(0).integers(60, 200, (512, 512, 3), dtype=np.uint8)
    eye = np.array([[200, 220], [240, 220]], np.float32)
    lips = np.array([[210, 360], [256, 372], [302, 360], [256, 350]], np.float32)
    jaw = np.array([[140, 220], [160, 360], [256, 420], [352, 360], [372, 220]], np.float32)
    lm = FaceLandmarks(lips, lips, eye + [72, 0], eye, jaw, (256.0, 300.0))
    portrait = Portrait(img, FaceBox(140, 160, 232, 260), lm)
    t = np.arange(16000 * 4) / 16000
    speech = Speech(
        Audio((0.3 * np.sin(2 * np.pi * 180 * t) * np.sin(9 * t)).astype(np.float32), 16000)
    )
    t0 = time.perf_counter()
    n = sum(1 for _ in be.frames(portrait, speech, n_frames=n_frames, options=_options()))
    return {"frames": n, "fps_with_paste": n / (time.perf_counter() - t0)}


# ---- 2. Diff2Lip -------------------------------------------------------------------------------
def _diff2lip_checkpoint(tmp: Path, smoke: bool) -> Path:
    import torch

    from engine.lipsync.diff2lip.config import FULL_CONFIG, TINY_CONFIG
    from engine.lipsync.diff2lip.unet import build_model

    torch.manual_seed(0)
    path = tmp / "diff2lip_random.pt"
    torch.save(build_model(TINY_CONFIG if smoke else FULL_CONFIG).state_dict(), path)
    return path


def _diff2lip_backend(ckpt: Path, device: Any, precision: str, smoke: bool, graphs: bool) -> Any:
    from engine.lipsync.diff2lip import Diff2LipBackend
    from engine.settings import EngineSettings

    return Diff2LipBackend(
        EngineSettings(
            lipsync="diff2lip",
            lipsync_model=str(ckpt),
            lipsync_config="tiny" if smoke else "",
            device=str(device),
            lipsync_precision=precision,
            lipsync_batch=64,
            lipsync_cuda_graphs=graphs,
        )
    )


def _diff2lip_inputs(be: Any, batch: int) -> tuple[Any, ...]:
    from engine.lipsync.diff2lip.mel import MEL_STEP
    from engine.lipsync.paste import FaceCrop

    s = be.cfg.image_size
    face = np.random.default_rng(0).uniform(-1, 1, (s, s, 3)).astype(np.float32)
    noise, cond, mask = be._conditioning(FaceCrop((0, 0, s, s), face), seed=0)
    mel = np.random.default_rng(batch).uniform(-4, 4, (batch, 80, MEL_STEP)).astype(np.float32)
    return mel, noise, cond, mask


def _diff2lip_run(be: Any, batch: int, device: Any, args: argparse.Namespace) -> dict:
    from engine.lipsync.diff2lip.sampler import DDIMSampler

    steps = args.steps
    mel, noise, cond, mask = _diff2lip_inputs(be, batch)
    sampler = DDIMSampler(steps)
    t = timed(lambda: be._fitting(mel, noise, cond, mask, sampler), device, args.repeat)
    per = t / (batch * steps)
    return {
        "ms_frame_step": per * 1e3,
        f"fps@{steps}": 1 / (per * steps),
        "fps@25": 1 / (per * 25),
        "tflops": 0.0 if args.smoke else DIFF2LIP_GFLOP_PER_STEP / per / 1e3,
        "peak_gb": _peak_gb(device),
    }


def _diff2lip_estimate(be: Any) -> dict[str, float]:
    return {"eta_1s_25steps": be.estimate_seconds(25, _options())}


def section_diff2lip(b: Bench, device: Any, args: argparse.Namespace, tmp: Path) -> None:
    print(
        f"\n[2] Diff2Lip, the DDIM loop at {args.steps} steps ({DIFF2LIP_GFLOP_PER_STEP:.0f} GFLOP "
        "a frame a step at full size); fps@25 from the same per-step time"
    )
    ckpt = _diff2lip_checkpoint(tmp, args.smoke)
    for precision in args.diff2lip_precisions:
        be = _diff2lip_backend(ckpt, device, precision, args.smoke, graphs=False)
        for batch in args.diff2lip_batches:
            run = partial(_diff2lip_run, be, batch, device, args)
            b.measure("diff2lip", {"precision": precision, "batch": batch}, run)
        b.measure(
            "diff2lip",
            {"precision": precision, "stage": "estimate"},
            partial(_diff2lip_estimate, be),
        )
        del be
        _empty_cache()


# ---- 3. NeuCodec -------------------------------------------------------------------------------
def section_neucodec(b: Bench, device: Any, args: argparse.Namespace) -> None:
    import torch

    from engine.tts._neucodec import CodecConfig, NeuCodecDecoder

    print("\n[3] NeuCodec decoder (random weights): compute seconds per second of 24 kHz speech")
    torch.manual_seed(0)
    cfg = (
        CodecConfig(vq_dim=64, hidden_dim=64, depth=1, heads=2, rope_dim=32)
        if args.smoke
        else CodecConfig()
    )
    decoder = NeuCodecDecoder(cfg).eval().to(device)
    seconds = 2.0 if args.smoke else 10.0
    codes = np.random.default_rng(0).integers(0, cfg.codebook_size, int(seconds * 50))
    for precision in ("fp32", "bf16"):

        def run(precision: str = precision) -> dict[str, float]:
            amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
            with amp:
                t = timed(lambda: decoder.decode(codes), device, args.repeat)
            return {"seconds": seconds, "rtf": t / seconds, "x_realtime": seconds / t}

        b.measure("neucodec", {"precision": precision}, run)


# ---- 4. CUDA graphs ----------------------------------------------------------------------------
def section_graphs(b: Bench, device: Any, args: argparse.Namespace, tmp: Path) -> None:
    print(
        "\n[4] CUDA graphs (lipsync_cuda_graphs = torch.compile mode reduce-overhead): first call "
        "(compiles) and steady state"
    )
    if device.type != "cuda":
        print("  skipped: no CUDA device (the settings ignore CUDA graphs on a CPU)")
        return
    if b.left() < args.compile_need:
        print(f"  skipped: {b.left():.0f} s of the budget left, {args.compile_need:.0f} s needed")
        return
    batch = args.graph_batch

    def musetalk() -> dict[str, float]:
        be = _musetalk_backend(_musetalk_networks(device, args.smoke), device, "fp16", graphs=True)
        be._fit.size = batch
        ref = be.nets.reference_latents(np.zeros((256, 256, 3), np.float32))
        windows = _windows(be, batch)
        t0 = time.perf_counter()
        be._run(windows, ref)
        first = time.perf_counter() - t0
        t = timed(lambda: be._run(windows, ref), device, args.repeat, warmup=2)
        return {"first_call_s": first, "ms_per_frame": t / batch * 1e3, "fps": batch / t}

    b.measure("graphs", {"model": "musetalk", "precision": "fp16", "batch": batch}, musetalk)
    _empty_cache()
    if b.left() < args.compile_need:
        print(f"  Diff2Lip skipped: {b.left():.0f} s of the budget left")
        return

    def diff2lip() -> dict[str, float]:
        from engine.lipsync.diff2lip.sampler import DDIMSampler

        ckpt = tmp / "diff2lip_random.pt"
        if not ckpt.exists():
            ckpt = _diff2lip_checkpoint(tmp, args.smoke)
        be = _diff2lip_backend(ckpt, device, "fp16", args.smoke, graphs=True)
        mel, noise, cond, mask = _diff2lip_inputs(be, batch)
        sampler = DDIMSampler(args.steps)
        t0 = time.perf_counter()
        be._fitting(mel, noise, cond, mask, sampler)
        first = time.perf_counter() - t0
        t = timed(lambda: be._fitting(mel, noise, cond, mask, sampler), device, args.repeat)
        per = t / (batch * args.steps)
        return {"first_call_s": first, "ms_frame_step": per * 1e3, "fps@25": 1 / (per * 25)}

    b.measure("graphs", {"model": "diff2lip", "precision": "fp16", "batch": batch}, diff2lip)


# ---- main --------------------------------------------------------------------------------------
def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny networks, small batches (CPU)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--budget", type=float, default=210.0, help="seconds for the whole run")
    ap.add_argument("--compile-need", type=float, default=75.0, help="budget left to compile")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--only", nargs="+", default=["musetalk", "diff2lip", "neucodec", "graphs"])
    args = ap.parse_args()
    if args.smoke:
        args.musetalk_batches, args.diff2lip_batches, args.graph_batch = [1, 2], [1, 2], 2
        args.musetalk_precisions, args.diff2lip_precisions = ["fp32", "bf16"], ["fp32", "bf16"]
        args.steps, args.repeat = 2, 1
    else:
        args.musetalk_batches, args.diff2lip_batches, args.graph_batch = (
            [1, 8, 32, 64],
            [1, 16, 64],
            16,
        )
        args.musetalk_precisions, args.diff2lip_precisions = (
            ["fp16", "bf16"],
            ["fp32", "fp16", "bf16"],
        )
    args.frames = _has("cv2") and _has("scipy")
    return args


def _has(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _environment(device: Any) -> dict[str, str]:
    import torch

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor(),
    }
    for module in ("diffusers", "transformers"):
        try:
            env[module] = __import__(module).__version__
        except Exception as e:  # report what is missing; its sections will fail on their own
            env[module] = f"missing ({type(e).__name__})"
    return env


def main() -> int:
    args = _parse()
    import torch

    from engine.lipsync.runtime import torch_device

    device = torch_device(args.device, "bench")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    env = _environment(device)
    print(" ".join(f"{k}={v}" for k, v in env.items()), f"smoke={args.smoke}", flush=True)
    b = Bench(args.budget, env)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        sections: dict[str, Callable[[], None]] = {
            "musetalk": lambda: section_musetalk(b, device, args),
            "diff2lip": lambda: section_diff2lip(b, device, args, tmp),
            "neucodec": lambda: section_neucodec(b, device, args),
            "graphs": lambda: section_graphs(b, device, args, tmp),
        }
        for key in args.only:
            try:
                sections[key]()
            except Exception as e:  # a section that cannot even start (import, build)
                print(f"  {key}: section failed: {type(e).__name__}: {e}")
                traceback.print_exc(limit=4, file=sys.stdout)
                b.rows.append(Row(key, {"stage": "section"}, error=f"{type(e).__name__}: {e}"))
                b.save()
    wall = time.perf_counter() - b.started
    failed = sum(1 for r in b.rows if r.error)
    print(f"\n{len(b.rows)} measurements, {failed} failed, {wall:.0f} s")
    b.save()
    if os.environ.get("OUT"):
        print(f"wrote {Path(os.environ['OUT'], 'gpu.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
