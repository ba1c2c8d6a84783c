"""MuseTalk 1.5's released layout, filled with random weights of the given configurations.

Loading and timing do not depend on the weight values, so random weights stand in for the
released files (3.4 GB UNet, sd-vae-ft-mse, Whisper tiny). The files are written the way
their publishers wrote them: ``unet.pth`` with ``torch.save`` of the UNet's state dict,
``musetalk.json`` with diffusers' ``_class_name``/``_diffusers_version`` keys, the VAE and
Whisper as safetensors with their ``config.json`` (Whisper's keys under ``model.encoder.``
beside decoder tensors, as in ``openai/whisper-tiny``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_layout", "LEGACY_VAE_NAMES"]

#: diffusers' names before its attention rewrite, as in sd-vae-ft-mse's files
LEGACY_VAE_NAMES = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def write_layout(
    root: Path, *, full_size: bool = False, seed: int = 0, legacy_vae: bool = False
) -> Path:
    """Write ``musetalkV15/``, ``sd-vae/`` and ``whisper/`` under ``root``; return ``root``."""
    import torch
    from safetensors.torch import save_file

    from engine.lipsync.musetalk.config import (
        TINY_UNET_CONFIG,
        TINY_VAE_CONFIG,
        TINY_WHISPER_CONFIG,
        UNET_CONFIG,
        VAE_CONFIG,
        WHISPER_CONFIG,
    )
    from engine.lipsync.musetalk.loading import build_unet, build_vae, build_whisper

    torch.manual_seed(seed)
    unet_cfg = UNET_CONFIG if full_size else TINY_UNET_CONFIG
    vae_cfg = VAE_CONFIG if full_size else TINY_VAE_CONFIG
    whisper_cfg = WHISPER_CONFIG if full_size else TINY_WHISPER_CONFIG
    for sub in ("musetalkV15", "sd-vae", "whisper"):
        (root / sub).mkdir(parents=True, exist_ok=True)

    _json(root / "musetalkV15" / "musetalk.json", unet_cfg, "UNet2DConditionModel", "0.6.0.dev0")
    torch.save(build_unet(unet_cfg).state_dict(), root / "musetalkV15" / "unet.pth")

    vae = _contiguous(build_vae(vae_cfg).state_dict())
    if legacy_vae:
        vae = {_legacy(k): v for k, v in vae.items()}
    _json(root / "sd-vae" / "config.json", vae_cfg, "AutoencoderKL", "0.4.2")
    save_file(vae, str(root / "sd-vae" / "diffusion_pytorch_model.safetensors"))

    encoder = build_whisper(whisper_cfg).state_dict()
    whole = {f"model.encoder.{k}": v for k, v in encoder.items()}
    whole["model.decoder.embed_tokens.weight"] = torch.zeros(8, whisper_cfg["d_model"])
    (root / "whisper" / "config.json").write_text(json.dumps(whisper_cfg))
    save_file(_contiguous(whole), str(root / "whisper" / "model.safetensors"))
    return root


def _json(path: Path, config: dict[str, Any], cls: str, version: str) -> None:
    path.write_text(json.dumps({"_class_name": cls, "_diffusers_version": version, **config}))


def _contiguous(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.contiguous() for k, v in state.items()}


def _legacy(key: str) -> str:
    for new, old in LEGACY_VAE_NAMES.items():
        if f".attentions.0.{new}." in key:
            return key.replace(f".{new}.", f".{old}.")
    return key
