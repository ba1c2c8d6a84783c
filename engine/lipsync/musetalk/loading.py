"""Build MuseTalk's three networks from the field's libraries and load the released files.

* UNet: diffusers ``UNet2DConditionModel(**musetalk.json)``, weights ``musetalkV15/unet.pth``
  (the raw state dict upstream loads with ``load_state_dict``, strict).
* VAE: diffusers ``AutoencoderKL`` with ``stabilityai/sd-vae-ft-mse``'s configuration.
  That repository's weights predate diffusers' renaming of the attention block
  (``query``/``key``/``value``/``proj_attn``), which is mapped here as diffusers does.
* Audio: transformers' ``WhisperEncoder`` of ``openai/whisper-tiny``; the checkpoint holds
  the whole encoder-decoder, of which the ``model.encoder.*`` tensors are taken.

Every file is compared with its network key by key first; a mismatch is refused with the
keys named (``engine.lipsync.weights``), nothing is loaded partially.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from engine.errors import BackendUnavailable
from engine.lipsync.weights import mismatches, read_weights, unwrap_state

from .config import UNET_CONFIG, VAE_CONFIG, WHISPER_CONFIG, Layout

__all__ = ["load_unet", "load_vae", "load_whisper", "read_config", "build_unet", "build_vae"]
log = logging.getLogger(__name__)

_HINT = "mouthpiece models fetch musetalk downloads the released files"
_LEGACY_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}
_WHISPER_PREFIXES = ("model.encoder.", "encoder.")  # whole model, WhisperModel, encoder alone


def read_config(path: Path, default: dict[str, Any]) -> dict[str, Any]:
    """The JSON configuration at ``path`` if present (diffusers' ``_``-keys dropped)."""
    if not path.is_file():
        return dict(default)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise BackendUnavailable(f"musetalk: {path} is not a JSON configuration: {e}") from e
    if not isinstance(data, dict):
        raise BackendUnavailable(f"musetalk: {path} is not a JSON object")
    return {k: v for k, v in data.items() if not k.startswith("_")}


def build_unet(config: dict[str, Any], *, meta: bool = False) -> Any:
    """diffusers' UNet2DConditionModel for ``config`` (on the meta device: no memory)."""
    import torch
    from diffusers import UNet2DConditionModel

    if meta:
        with torch.device("meta"):
            return UNet2DConditionModel.from_config(config)
    return UNet2DConditionModel.from_config(config)


def build_vae(config: dict[str, Any]) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_config(config)


def build_whisper(config: dict[str, Any]) -> Any:
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    return WhisperEncoder(WhisperConfig(**config))


def load_unet(layout: Layout) -> Any:
    """The UNet in fp32 eval mode on the CPU. Built on the meta device and filled from the
    file (no random initialisation of 0.8 B parameters), unless something stays unfilled."""
    config = read_config(layout.unet_json, UNET_CONFIG)
    state = _state(layout.unet, "UNet")
    model = build_unet(config, meta=True)
    _check(layout.unet, model.state_dict(), state)
    model.load_state_dict(_float(state), assign=True)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        model = build_unet(config)
        model.load_state_dict(_float(state))
    return model.eval().requires_grad_(False)


def load_vae(layout: Layout) -> Any:
    """sd-vae-ft-mse in fp32 eval mode on the CPU."""
    config = read_config(layout.vae_json, VAE_CONFIG)
    state = _renamed_attention(_state(layout.vae_weights, "VAE"))
    model = build_vae(config)
    _check(layout.vae_weights, model.state_dict(), state)
    model.load_state_dict(_float(state))
    return model.eval().requires_grad_(False)


def load_whisper(layout: Layout) -> Any:
    """Whisper tiny's encoder in fp32 eval mode on the CPU (decoder tensors are skipped)."""
    config = {**WHISPER_CONFIG, **read_config(layout.whisper_json, WHISPER_CONFIG)}
    full = _state(layout.whisper_weights, "Whisper")
    prefix = next((p for p in _WHISPER_PREFIXES if any(k.startswith(p) for k in full)), "")
    skipped = ("model.decoder.", "decoder.", "proj_out.")
    state = {
        k.removeprefix(prefix): v
        for k, v in full.items()
        if k.startswith(prefix) and not k.startswith(skipped)
    }
    model = build_whisper(config)
    _check(layout.whisper_weights, model.state_dict(), state)
    model.load_state_dict(_float(state))
    return model.eval().requires_grad_(False)


def _state(path: Path, what: str) -> dict[str, Any]:
    try:
        return unwrap_state(read_weights(path))
    except Exception as e:  # unpickling errors come in many types; all mean a bad file
        raise BackendUnavailable(
            f"musetalk {what} file {path} is unreadable: {type(e).__name__}: {e}", hint=_HINT
        ) from e


def _check(path: Path, want: dict[str, Any], got: dict[str, Any]) -> None:
    problems = mismatches(want, got)
    if problems:
        raise BackendUnavailable(
            f"musetalk file {path} does not match its network: " + "; ".join(problems),
            hint=_HINT,
        )


def _float(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _renamed_attention(state: dict[str, Any]) -> dict[str, Any]:
    """Pre-0.14 diffusers attention names to today's, where the new name is absent."""
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if "attentions" in parts and len(parts) >= 2 and parts[-2] in _LEGACY_ATTENTION:
            key = ".".join([*parts[:-2], _LEGACY_ATTENTION[parts[-2]], parts[-1]])
        out[key] = value
    return out
