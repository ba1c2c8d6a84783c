"""MuseTalk 1.5's three networks as configurations, and where their files sit on disk.

The released layout (TMElyralab/MuseTalk's ``download_weights.sh``) under one folder::

    musetalkV15/unet.pth         the UNet's state dict (TMElyralab/MuseTalk)
    musetalkV15/musetalk.json    its diffusers UNet2DConditionModel configuration
    sd-vae/config.json           stabilityai/sd-vae-ft-mse (diffusers AutoencoderKL)
    sd-vae/diffusion_pytorch_model.safetensors  (or .bin)
    whisper/config.json          openai/whisper-tiny (only its encoder runs)
    whisper/model.safetensors    (or pytorch_model.bin)

A configuration file in the folder wins (tests write tiny ones); without it the constants
below, copied from the released files, describe the networks. No hub access either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "UNET_CONFIG",
    "VAE_CONFIG",
    "WHISPER_CONFIG",
    "TINY_UNET_CONFIG",
    "TINY_VAE_CONFIG",
    "TINY_WHISPER_CONFIG",
    "Layout",
    "UNET_DIR",
    "VAE_DIR",
    "WHISPER_DIR",
    "CROP",
    "EXTRA_MARGIN",
    "PAD_LEFT",
    "PAD_RIGHT",
    "AUDIO_FPS",
]

UNET_DIR, UNET_FILE, UNET_JSON = "musetalkV15", "unet.pth", "musetalk.json"
VAE_DIR, WHISPER_DIR = "sd-vae", "whisper"
VAE_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
WHISPER_FILES = ("model.safetensors", "pytorch_model.bin")
CONFIG_JSON = "config.json"

CROP = 256  # the face crop's side: 32 x 32 latents
EXTRA_MARGIN = 10  # v1.5: pixels added below the chin (inference.py --extra_margin)
PAD_LEFT = PAD_RIGHT = 2  # video frames of audio context each side (audio_padding_length_*)
AUDIO_FPS = 50  # Whisper encoder frames per second

#: ``models/musetalkV15/musetalk.json`` (the same file as v1's ``models/musetalk/``).
UNET_CONFIG: dict[str, Any] = {
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 384,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 8,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": [
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ],
}

#: ``stabilityai/sd-vae-ft-mse`` ``config.json`` (scaling factor: diffusers' default 0.18215).
VAE_CONFIG: dict[str, Any] = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 256,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}

#: ``openai/whisper-tiny`` ``config.json``, the fields its encoder uses.
WHISPER_CONFIG: dict[str, Any] = {
    "d_model": 384,
    "encoder_layers": 4,
    "encoder_attention_heads": 6,
    "encoder_ffn_dim": 1536,
    "decoder_layers": 4,
    "decoder_attention_heads": 6,
    "decoder_ffn_dim": 1536,
    "num_mel_bins": 80,
    "max_source_positions": 1500,
    "max_target_positions": 448,
    "vocab_size": 51865,
    "activation_function": "gelu",
    "scale_embedding": False,
}

#: Test-size networks with the real interfaces (8 -> 4 latent channels at 32 x 32, audio
#: tokens of width 384, 256 -> 32 VAE): seconds to build, milliseconds to run.
TINY_UNET_CONFIG: dict[str, Any] = {
    **UNET_CONFIG,
    "attention_head_dim": 2,
    "block_out_channels": [32, 64],
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "layers_per_block": 1,
    "sample_size": 32,
}
TINY_VAE_CONFIG: dict[str, Any] = {
    **VAE_CONFIG,
    "block_out_channels": [8, 8, 16, 16],
    "layers_per_block": 1,
    "norm_num_groups": 4,
}
#: one encoder layer: 2 stages, so 20 tokens per frame instead of 50
TINY_WHISPER_CONFIG: dict[str, Any] = {
    **WHISPER_CONFIG,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
}


@dataclass(frozen=True)
class Layout:
    """The files of one MuseTalk installation (``find`` says what is missing)."""

    root: Path
    unet: Path
    vae_weights: Path
    whisper_weights: Path

    @property
    def unet_json(self) -> Path:
        return self.unet.parent / UNET_JSON

    @property
    def vae_json(self) -> Path:
        return self.vae_weights.parent / CONFIG_JSON

    @property
    def whisper_json(self) -> Path:
        return self.whisper_weights.parent / CONFIG_JSON

    @classmethod
    def find(cls, root: Path) -> Layout | str:
        """The layout under ``root``, or one line naming what is missing."""
        root = Path(root)
        if not root.is_dir():
            return f"not a folder: {root}"
        unet = root / UNET_DIR / UNET_FILE
        vae = _first(root / VAE_DIR, VAE_FILES)
        whisper = _first(root / WHISPER_DIR, WHISPER_FILES)
        missing = [
            name
            for name, path in (
                (f"{UNET_DIR}/{UNET_FILE}", unet if unet.is_file() else None),
                (f"{VAE_DIR}/{VAE_FILES[0]} (or .bin)", vae),
                (f"{WHISPER_DIR}/{WHISPER_FILES[0]} (or {WHISPER_FILES[1]})", whisper),
            )
            if path is None
        ]
        if missing or vae is None or whisper is None:
            return f"{root} lacks {', '.join(missing)}"
        return cls(root, unet, vae, whisper)


def _first(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None
