"""MuseTalk's networks on one device and the computation of a batch of mouths.

Per render: the reference latents (VAE encoder, once). Per 30 s of audio: Whisper's encoder
states. Per frame: one UNet pass at timestep 0 (MuseTalk is not a diffusion sampler: it
predicts the latents in one step) and one VAE decode. This module needs torch, diffusers and
transformers, nothing of the engine's media stack, so benchmarks can drive it alone.

Precision: the UNet and the VAE are cast to fp16 (upstream's ``--use_float16``) or bf16;
Whisper runs in fp32 (it is cheap and runs once per 30 s).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .audio import SAMPLE_RATE, SEGMENT, positional_encoding
from .config import CROP

__all__ = ["MuseTalkNets"]
log = logging.getLogger(__name__)


class MuseTalkNets:
    """UNet + VAE + Whisper encoder, placed on ``device`` in ``dtype``.

    ``compile``: torch.compile the per-frame step (UNet + VAE decode) on first use;
    ``cuda_graphs``: compile mode ``reduce-overhead`` (CUDA graphs), with every batch padded
    to ``batch`` frames so that one graph serves the whole render.
    """

    def __init__(
        self,
        unet: Any,
        vae: Any,
        whisper: Any,
        *,
        device: Any,
        dtype: Any = None,
        compile: bool = False,
        cuda_graphs: bool = False,
    ) -> None:
        import torch

        self.device = device
        self.dtype = dtype or torch.float32
        cuda = device.type == "cuda"
        self.memory_format = torch.channels_last if cuda else torch.contiguous_format
        # torch's Module.to: diffusers' override only adds a warning about fp32-only modules,
        # which these networks do not have
        place = {"device": device, "dtype": self.dtype, "memory_format": self.memory_format}
        self.unet = torch.nn.Module.to(unet, **place)
        self.vae = torch.nn.Module.to(vae, **place)
        self.whisper = whisper.to(device=device, dtype=torch.float32)
        self.scale = float(vae.config.scaling_factor)
        self.cuda_graphs = cuda_graphs and cuda
        self.step: Any = self._step
        if compile or self.cuda_graphs:
            self.step = torch.compile(
                self._step, mode="reduce-overhead" if self.cuda_graphs else None
            )
        self._t0 = torch.zeros(1, dtype=torch.long, device=device)
        self._pe: Any = None
        self._extractor: Any = None

    # ---- per render ----------------------------------------------------------------------
    def reference_latents(self, face: np.ndarray) -> Any:
        """(1, 8, 32, 32): the masked crop's latents, then the crop's own latents
        (upstream's ``get_latents_for_unet``).

        ``face`` is the (256, 256, 3) RGB crop in [-1, 1]; the masked one has its lower half
        black (-1), as upstream multiplies the [0, 1] image by its half mask. Latents are the
        posterior means (upstream's inference draws one sample; its training uses the mode)
        times the VAE's scaling factor.
        """
        import torch

        x = torch.from_numpy(np.ascontiguousarray(face, np.float32)).permute(2, 0, 1)[None]
        masked = x.clone()
        masked[:, :, CROP // 2 :] = -1.0
        both = torch.cat([masked, x]).to(self.device, self.dtype)
        with torch.inference_mode():
            latents = self.vae.encode(both.contiguous(memory_format=self.memory_format))
            mean = latents.latent_dist.mode() * self.scale
        return torch.cat([mean[:1], mean[1:]], dim=1)

    # ---- per 30 s of audio ---------------------------------------------------------------
    def encode_audio(self, samples: np.ndarray) -> np.ndarray:
        """(1500, stages, dim) float32 Whisper encoder states of up to 30 s of 16 kHz audio."""
        import torch

        if len(samples) > SEGMENT:
            raise ValueError(f"{len(samples)} samples: at most {SEGMENT} per segment")
        features = self._features(samples).to(self.device)
        states: list[Any] = []

        def keep(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            states.append(args[0] if args else kwargs["hidden_states"])

        hooks = [
            layer.register_forward_pre_hook(keep, with_kwargs=True) for layer in self.whisper.layers
        ]
        try:
            with torch.inference_mode():
                out = self.whisper(features)
        finally:
            for hook in hooks:
                hook.remove()
        last = out[0] if isinstance(out, tuple) else out.last_hidden_state
        stacked = torch.stack([*states, last], dim=2)[0]  # (1500, layers + 1, dim)
        return stacked.float().cpu().numpy()

    def _features(self, samples: np.ndarray) -> Any:
        if self._extractor is None:
            from transformers import WhisperFeatureExtractor

            mels = int(self.whisper.config.num_mel_bins)
            self._extractor = WhisperFeatureExtractor(feature_size=mels)
        return self._extractor(
            np.asarray(samples, np.float32), sampling_rate=SAMPLE_RATE, return_tensors="pt"
        ).input_features

    # ---- per frame -----------------------------------------------------------------------
    def generate(self, windows: np.ndarray, reference: Any, pad_to: int = 0) -> list[np.ndarray]:
        """(256, 256, 3) float32 RGB crops in [-1, 1], one per (tokens, dim) audio window.

        ``pad_to``: run at least this many frames (CUDA graphs need one shape); the extra
        ones repeat the last window and are dropped.
        """
        import torch

        n = len(windows)
        if pad_to > n:
            windows = np.concatenate([windows, np.repeat(windows[-1:], pad_to - n, axis=0)])
        pe = self._positional(windows.shape[1], windows.shape[2])
        with torch.inference_mode():
            audio = (torch.from_numpy(np.ascontiguousarray(windows)).to(self.device) + pe).to(
                self.dtype
            )
            latents = reference.expand(len(windows), -1, -1, -1).contiguous(
                memory_format=self.memory_format
            )
            images = self.step(latents, audio)
            out = images[:n].clamp(-1, 1).permute(0, 2, 3, 1).float().cpu().numpy()
        return list(out)

    def _step(self, latents: Any, audio: Any) -> Any:
        """One UNet pass at timestep 0, then the VAE decoder: (B, 3, 256, 256)."""
        pred = self.unet(latents, self._t0, encoder_hidden_states=audio).sample
        return self.vae.decode(pred / self.scale).sample

    def _positional(self, length: int, dim: int) -> Any:
        import torch

        if self._pe is None or tuple(self._pe.shape) != (length, dim):
            self._pe = torch.from_numpy(positional_encoding(length, dim)).to(self.device)
        return self._pe
