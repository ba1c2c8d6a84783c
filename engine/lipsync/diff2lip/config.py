"""Diff2Lip's network configuration (no torch here); the network itself is :mod:`.unet`.

The flags and their defaults follow Diff2Lip's released inference script
(``scripts/inference.sh``: ``--attention_resolutions 32,16,8 --learn_sigma True
--num_channels 128 --num_head_channels 64 --num_res_blocks 2 --resblock_updown True
--use_scale_shift_norm False --nrefer 1 --image_size 128 --use_ref True --use_audio True
--audio_as_style True``) and ``guided_diffusion/script_util.py`` (``tfg_create_model``:
channel multipliers hard-coded per image size, 128 px -> (1, 1, 2, 3, 4)). Other published
variants are described by overriding fields (:func:`config_from_overrides`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

__all__ = [
    "UNetConfig",
    "FULL_CONFIG",
    "TINY_CONFIG",
    "config_from_overrides",
    "load_config",
]

# tfg_create_model's table: image size -> channel multipliers (not a flag upstream)
_CHANNEL_MULT = {
    64: (1, 2, 3, 4),
    128: (1, 1, 2, 3, 4),
    256: (1, 1, 2, 3, 4, 4),
    512: (1, 1, 2, 2, 4, 4),
}


@dataclass(frozen=True)
class UNetConfig:
    """Architecture flags, named as in guided-diffusion's ``script_util`` where they exist."""

    image_size: int = 128
    in_channels: int = 9  # 3 x (noisy face + masked face + nrefer=1 reference face)
    model_channels: int = 128  # --num_channels
    out_channels: int = 6  # learn_sigma: eps (3) and the variance interpolation (3)
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (32, 16, 8)  # feature-map sizes, as the flag
    channel_mult: tuple[int, ...] = ()  # () = upstream's table for image_size
    num_heads: int = 4  # used only when num_head_channels == -1
    num_head_channels: int = 64
    use_scale_shift_norm: bool = False
    resblock_updown: bool = True
    use_new_attention_order: bool = False  # False: QKVAttentionLegacy (heads split first)
    groups: int = 32  # GroupNorm groups (guided-diffusion's normalization() uses 32)
    # TFGAudioEncoder (its defaults; not flags in the inference script)
    audio_dim: int = 80
    audio_frames: int = 16
    audio_init_spatial_dim: int = 64
    audio_model_channels: int = 32
    audio_channel_mult: tuple[int, ...] = (1, 2, 3, 4)
    audio_num_res_blocks: int = 2

    @property
    def mults(self) -> tuple[int, ...]:
        if self.channel_mult:
            return self.channel_mult
        if self.image_size not in _CHANNEL_MULT:
            raise ValueError(f"no default channel_mult for image_size {self.image_size}; set it")
        return _CHANNEL_MULT[self.image_size]

    @property
    def time_embed_dim(self) -> int:
        return self.model_channels * 4


FULL_CONFIG = UNetConfig()
#: A few-hundred-kilobyte network of the same structure, for fast tests.
TINY_CONFIG = UNetConfig(
    image_size=32,
    model_channels=32,
    channel_mult=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(16,),
    num_head_channels=16,
    groups=8,
    audio_model_channels=16,
    audio_channel_mult=(1, 2),
    audio_num_res_blocks=1,
)


def config_from_overrides(overrides: dict[str, Any], base: UNetConfig = FULL_CONFIG) -> UNetConfig:
    """``base`` with ``overrides`` applied; unknown names or bad values raise ValueError."""
    known = {f.name: f for f in fields(UNetConfig)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown diff2lip config fields {unknown} (known: {sorted(known)})")
    values: dict[str, Any] = {}
    for name, raw in overrides.items():
        default = getattr(base, name)
        try:
            if isinstance(default, tuple):
                items = raw.split(",") if isinstance(raw, str) else list(raw)
                values[name] = tuple(int(v) for v in items)
            elif isinstance(default, bool):
                if not isinstance(raw, bool):
                    raise TypeError("expected true or false")
                values[name] = raw
            else:
                values[name] = int(raw)
        except (TypeError, ValueError) as e:
            raise ValueError(f"diff2lip config field {name}={raw!r}: {e}") from e
    cfg = replace(base, **values)
    cfg.mults  # noqa: B018 - validates image_size / channel_mult
    return cfg


def load_config(spec: str) -> UNetConfig:
    """Config from ``spec``: '' (the paper's), 'tiny', inline JSON or a JSON file path."""
    spec = spec.strip()
    if not spec:
        return FULL_CONFIG
    if spec == "tiny":
        return TINY_CONFIG
    if spec.startswith("{"):
        text = spec
    else:
        try:
            text = Path(spec).read_text()
        except OSError as e:
            raise ValueError(
                f"diff2lip config {spec!r} is neither JSON nor a readable file: {e.strerror}"
            ) from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"diff2lip config {spec[:60]!r} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ValueError("diff2lip config must be a JSON object of UNetConfig fields")
    base = TINY_CONFIG if data.pop("base", "") == "tiny" else FULL_CONFIG
    return config_from_overrides(data, base)
