"""Random-weight Diff2Lip checkpoints in the released format (a raw ``state_dict``).

Upstream saves ``model.state_dict()`` with ``torch.save``; timing and loading do not depend on
the weight values, so random weights stand in for the real (CC-BY-NC, 0.4 GB) checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

__all__ = ["write_random_checkpoint", "tiny_config_json"]


def write_random_checkpoint(
    path: Path, *, full_size: bool, prefix: str = "", wrap: str | None = None, seed: int = 0
) -> Path:
    """Save a freshly initialised network's state dict to ``path``.

    ``prefix`` (e.g. ``"module."``) and ``wrap`` (e.g. ``"state_dict"``) imitate checkpoints
    saved from DataParallel or by training scripts that wrap the weights.
    """
    import torch

    from engine.lipsync.diff2lip.config import FULL_CONFIG, TINY_CONFIG
    from engine.lipsync.diff2lip.unet import build_model

    torch.manual_seed(seed)
    model = build_model(FULL_CONFIG if full_size else TINY_CONFIG)
    state: dict[str, object] = {prefix + k: v for k, v in model.state_dict().items()}
    path = Path(path)
    torch.save({wrap: state} if wrap else state, path)
    return path


def tiny_config_json() -> str:
    """The tiny test network as a MOUTHPIECE_LIPSYNC_CONFIG JSON override."""
    from engine.lipsync.diff2lip.config import TINY_CONFIG

    return json.dumps(asdict(TINY_CONFIG))
