"""Reading weight files and comparing them with a network, key by key, before loading.

Shared by the torch lip-sync backends: a file that does not fit the network is refused with
the keys named (missing, unexpected, not tensors, wrong shapes), never loaded partially.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["read_weights", "unwrap_state", "mismatches"]

_SHOWN = 6  # keys named per category in an error


def read_weights(path: Path) -> Any:
    """A ``.safetensors`` file, or a torch file read without unpickling code (memory-mapped
    when its format allows)."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as e:
        if "mmap" not in str(e):
            raise
        return torch.load(path, map_location="cpu", weights_only=True)  # pre-1.6 format


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


def mismatches(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """One line per kind of difference between the network's state dict and a file's."""
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
