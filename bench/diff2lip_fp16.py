"""Diff2Lip half precision on a CUDA GPU: upstream's ``use_fp16`` against fp16 autocast.

Full-size network, random weights (seeded; timing does not depend on the values). One run
prints, side by side:

1. ms per frame per step at batch 1 and 16 for fp32, ``fp16`` (the default on CUDA:
   upstream's ``convert_to_fp16``: fp16 convolution weights, group norms and embeddings in
   fp32) and fp16 autocast (the path used before, kept here only for the comparison);
2. rel-L2 of one forward's eps against fp32 for each half path, and between the two, at
   t = 500 and t = 20: how far each is from fp32 and from the other.

    .venv/bin/python bench/diff2lip_fp16.py            # about a minute on one GPU
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import copy  # noqa: E402
import time  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from typing import Any  # noqa: E402


def _inputs(cfg: Any, n: int, dev: Any) -> tuple[Any, ...]:
    import torch

    from engine.lipsync.diff2lip.crop import hide_mask

    g = torch.Generator().manual_seed(1)
    s = cfg.image_size
    x = torch.randn(n, 3, s, s, generator=g)
    cond = torch.rand(n, 6, s, s, generator=g) * 2 - 1
    mask = torch.from_numpy(hide_mask(s))[None, None]
    mel = torch.rand(n, cfg.audio_dim, cfg.audio_frames, generator=g) * 8 - 4
    return tuple(a.to(dev) for a in (x, cond, mask, mel))


def _eps(model: Any, inputs: tuple[Any, ...], t: int, amp: bool) -> Any:
    import torch

    x, cond, mask, mel = inputs
    ctx = torch.autocast("cuda", dtype=torch.float16) if amp else nullcontext()
    with torch.inference_mode(), ctx:
        tt = torch.full((len(x),), t, dtype=torch.long, device=x.device)
        out = model(x, tt, cond, mask, model.encode_audio(mel))
    return out[:, :3].float()


def _ms_per_frame_step(model: Any, inputs: tuple[Any, ...], amp: bool, reps: int = 10) -> float:
    import torch

    _eps(model, inputs, 500, amp)  # warm-up (cuDNN autotuning)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        _eps(model, inputs, 500, amp)
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / reps / len(inputs[0]) * 1e3


def main() -> int:
    import torch

    from engine.lipsync.diff2lip.config import FULL_CONFIG
    from engine.lipsync.diff2lip.unet import build_model

    if not torch.cuda.is_available():
        print("needs a CUDA GPU (fp16 convolutions on a CPU are very slow)")
        return 1
    dev = torch.device("cuda")
    torch.manual_seed(0)
    fp32 = build_model(FULL_CONFIG).eval().to(dev)
    upstream = copy.deepcopy(fp32)
    upstream.convert_to_fp16()
    paths = {"fp32": (fp32, False), "fp16 (upstream)": (upstream, False), "autocast": (fp32, True)}
    print(f"{torch.cuda.get_device_name(dev)}, torch {torch.__version__}")
    for batch in (1, 16):
        inputs = _inputs(FULL_CONFIG, batch, dev)
        times = {name: _ms_per_frame_step(m, inputs, amp) for name, (m, amp) in paths.items()}
        row = ", ".join(f"{k} {v:.2f}" for k, v in times.items())
        ratio = times["autocast"] / times["fp16 (upstream)"]
        print(f"batch {batch:2d}: ms per frame per step: {row}; autocast / upstream {ratio:.2f}x")
    inputs = _inputs(FULL_CONFIG, 4, dev)
    for t in (500, 20):
        eps = {name: _eps(m, inputs, t, amp) for name, (m, amp) in paths.items()}

        def rel(a: str, b: str) -> float:
            return float((eps[a] - eps[b]).norm() / eps[b].norm())  # noqa: B023

        print(
            f"t={t}: rel-L2 vs fp32: fp16 (upstream) {rel('fp16 (upstream)', 'fp32'):.2e}, "
            f"autocast {rel('autocast', 'fp32'):.2e}; "
            f"autocast vs upstream {rel('autocast', 'fp16 (upstream)'):.2e}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
