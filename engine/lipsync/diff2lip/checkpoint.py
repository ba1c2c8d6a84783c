"""Load a Diff2Lip checkpoint (upstream saves a raw ``model.state_dict()``), strictly.

Accepts the released file as is, a ``{"state_dict": ...}`` / ``{"model": ...}`` wrapper and
a ``module.`` prefix (DataParallel/DDP); anything else that differs from the network built
for the configuration is reported by key, never loaded partially.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from engine.errors import BackendUnavailable

from .unet import FULL_CONFIG, UNetConfig, build_model

__all__ = ["load_model", "unwrap_state"]
log = logging.getLogger(__name__)

_SHOWN = 6  # keys named per category in the error
_HINT = (
    "use the released e7.24.1.3_model260000_paper.pt, or describe the variant with "
    "MOUTHPIECE_LIPSYNC_CONFIG (JSON of UNetConfig fields)"
)


def unwrap_state(obj: Any) -> dict[str, Any]:
    """The flat state dict inside ``obj`` (one wrapper level, ``module.`` stripped)."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise ValueError("not a state_dict")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_model(path: str | Path, cfg: UNetConfig = FULL_CONFIG):  # noqa: ANN201 - nn.Module
    """Build the network for ``cfg`` and load ``path`` into it (fp32, eval mode, CPU)."""
    p = Path(path)
    if not str(path) or not p.is_file():
        raise BackendUnavailable(f"diff2lip checkpoint not found: {path!s}", hint=_HINT)
    try:
        state = unwrap_state(_read(p))
    except Exception as e:  # unpickling errors come in many types; all mean a bad file
        raise BackendUnavailable(
            f"diff2lip checkpoint {p} is unreadable: {type(e).__name__}: {e}", hint=_HINT
        ) from e
    model = build_model(cfg)
    problems = _mismatches(model.state_dict(), state)
    if problems:
        raise BackendUnavailable(
            f"diff2lip checkpoint {p} does not match the network: " + "; ".join(problems),
            hint=_HINT,
        )
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    log.info("loaded diff2lip checkpoint %s (%d tensors)", p, len(state))
    return model.eval()


def _read(path: Path) -> Any:
    """torch.load without unpickling code; memory-mapped when the file format allows it."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as e:
        if "mmap" not in str(e):
            raise
        return torch.load(path, map_location="cpu", weights_only=True)  # pre-1.6 format


def _mismatches(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    import torch

    out = []
    missing = [k for k in want if k not in got]
    unexpected = [k for k in got if k not in want]
    not_tensor = [k for k in want if k in got and not isinstance(got[k], torch.Tensor)]
    shapes = [
        f"{k} {tuple(got[k].shape)} (expected {tuple(want[k].shape)})"
        for k in want
        if k in got and isinstance(got[k], torch.Tensor) and got[k].shape != want[k].shape
    ]
    for label, items in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("not tensors", not_tensor),
        ("wrong shapes", shapes),
    ):
        if items:
            more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
            out.append(f"{len(items)} {label}: {', '.join(items[:_SHOWN])}{more}")
    return out
