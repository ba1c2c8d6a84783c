"""Load a Diff2Lip checkpoint (upstream saves a raw ``model.state_dict()``), strictly.

Accepts the released file as is, a ``{"state_dict": ...}`` / ``{"model": ...}`` wrapper and
a ``module.`` prefix (DataParallel/DDP); anything else that differs from the network built
for the configuration is reported by key, never loaded partially.
"""

from __future__ import annotations

import logging
from pathlib import Path

from engine.errors import BackendUnavailable
from engine.lipsync.weights import mismatches, read_weights, unwrap_state

from .config import FULL_CONFIG, UNetConfig

__all__ = ["load_model", "unwrap_state"]
log = logging.getLogger(__name__)

_HINT = (
    "use the released e7.24.1.3_model260000_paper.pt, or describe the variant with "
    "MOUTHPIECE_LIPSYNC_CONFIG (JSON of UNetConfig fields)"
)


def load_model(path: str | Path, cfg: UNetConfig = FULL_CONFIG):  # noqa: ANN201 - nn.Module
    """Build the network for ``cfg`` and load ``path`` into it (fp32, eval mode, CPU)."""
    p = Path(path)
    if not str(path) or not p.is_file():
        raise BackendUnavailable(f"diff2lip checkpoint not found: {path!s}", hint=_HINT)
    try:
        state = unwrap_state(read_weights(p))
    except Exception as e:  # unpickling errors come in many types; all mean a bad file
        raise BackendUnavailable(
            f"diff2lip checkpoint {p} is unreadable: {type(e).__name__}: {e}", hint=_HINT
        ) from e
    try:
        from .unet import build_model
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("diff2lip needs torch: pip install 'mouthpiece[diff2lip]'") from e
    model = build_model(cfg)
    problems = mismatches(model.state_dict(), state)
    if problems:
        raise BackendUnavailable(
            f"diff2lip checkpoint {p} does not match the network: " + "; ".join(problems),
            hint=_HINT,
        )
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    log.info("loaded diff2lip checkpoint %s (%d tensors)", p, len(state))
    return model.eval()
