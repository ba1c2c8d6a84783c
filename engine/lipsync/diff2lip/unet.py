"""The Diff2Lip network's builder, and its configuration (re-exported from :mod:`.config`).

The configuration lives in its own torch-free module so that the network (``_net``, which
reads it) and this builder (which imports the network only when called) do not import each
other.
"""

from __future__ import annotations

from .config import FULL_CONFIG, TINY_CONFIG, UNetConfig, config_from_overrides, load_config

__all__ = [
    "UNetConfig",
    "FULL_CONFIG",
    "TINY_CONFIG",
    "build_model",
    "config_from_overrides",
    "load_config",
]


def build_model(cfg: UNetConfig = FULL_CONFIG):  # noqa: ANN201 - a torch.nn.Module
    """Build the network for ``cfg`` with fresh weights (torch is imported here)."""
    try:
        from . import _net
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("diff2lip needs torch: pip install 'mouthpiece[diff2lip]'") from e
    return _net.Diff2LipUNet(cfg)
