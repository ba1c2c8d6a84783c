"""Diff2Lip diffusion lip-sync (needs torch and the authors' CC-BY-NC checkpoint).

Still-photo pipeline: the face is cropped once (the crop and its paste-back plan are kept
for the photo's next render, ``Diff2LipBackend.portraits``), the masked and reference crops
and the shared initial noise are built once, only the mouth crops are generated (in
batches, with frames whose mel windows are identical generated once), and each is pasted
back into the full-resolution photo with a feathered, colour-matched mask. Frames are
yielded lazily, so the caller streams them to the encoder and can stop between batches
(cancellation).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from engine.avatars import PortraitWork
from engine.errors import BackendUnavailable
from engine.lipsync.runtime import BatchFitter, Recent, check_settings, torch_device
from engine.settings import EngineSettings
from engine.types import Portrait, RenderOptions, Speech

from .config import FULL_CONFIG, TINY_CONFIG, UNetConfig, load_config
from .crop import FaceCrop, Paster, hide_mask, make_crop
from .mel import mel_windows, melspectrogram, to_16k
from .sampler import MAX_STEPS, MIN_STEPS, DDIMSampler

__all__ = [
    "Diff2LipBackend",
    "check",
    "checkpoint_path",
    "DDIMSampler",
    "UNetConfig",
    "FULL_CONFIG",
    "TINY_CONFIG",
]
log = logging.getLogger(__name__)

_HOW = "mouthpiece models fetch diff2lip explains how to get the checkpoint"


def checkpoint_path(settings: EngineSettings) -> Path | None:
    """The configured checkpoint, else the default place under models_dir when present."""
    if settings.lipsync_model:
        return Path(settings.lipsync_model)
    from engine.models import default_file

    path = default_file(settings.models_dir, "diff2lip")
    return path if path is not None and path.is_file() else None


def check(settings: EngineSettings) -> str | None:
    """None when usable, else one line saying why not (cheap: loads nothing)."""
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed (pip install 'mouthpiece[diff2lip]')"
    path = checkpoint_path(settings)
    if path is None:
        return (
            f"no checkpoint configured (--lipsync-model PATH or MOUTHPIECE_LIPSYNC_MODEL; {_HOW})"
        )
    if not path.is_file():
        return f"checkpoint not found: {path} ({_HOW})"
    return None


def _validate(settings: EngineSettings) -> None:
    check_settings(settings.lipsync_precision, settings.lipsync_batch)
    if not MIN_STEPS <= settings.lipsync_steps <= MAX_STEPS:
        raise ValueError(
            f"MOUTHPIECE_LIPSYNC_STEPS={settings.lipsync_steps} must be {MIN_STEPS}-{MAX_STEPS}"
        )


def _verify_sha256(path: Path, expected: str) -> None:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    if h.hexdigest() != expected.strip().lower():
        raise BackendUnavailable(
            f"diff2lip checkpoint {path} has SHA-256 {h.hexdigest()}, "
            f"expected {expected.strip().lower()}",
            hint="download it again, or fix MOUTHPIECE_LIPSYNC_MODEL_SHA256",
        )


class Diff2LipBackend:
    """Generates the lower face of each frame with DDIM, conditioned on Wav2Lip mel windows.

    ``sampler_factory(steps)`` makes the sampler (DDIM by default; swappable).
    """

    name = "diff2lip"

    def __init__(
        self, settings: EngineSettings, sampler_factory: Callable[[int], DDIMSampler] = DDIMSampler
    ) -> None:
        reason = check(settings)
        if reason:
            raise BackendUnavailable(f"diff2lip: {reason}")
        _validate(settings)
        import torch

        from .checkpoint import load_model

        if settings.threads:
            torch.set_num_threads(settings.threads)
        self.settings, self.sampler_factory = settings, sampler_factory
        self.device = torch_device(settings.device, "diff2lip")
        self.precision = _precision(settings.lipsync_precision, self.device)
        # fp16 is upstream's convert_to_fp16 (below), not autocast; bf16 is autocast
        self.amp_dtype = torch.bfloat16 if self.precision == "bf16" else None
        self.cfg: UNetConfig = load_config(settings.lipsync_config)
        path = checkpoint_path(settings)
        assert path is not None  # check() said so
        if settings.lipsync_model_sha256:
            _verify_sha256(path, settings.lipsync_model_sha256)
        self.model = load_model(path, self.cfg).to(self.device)
        if self.precision == "fp16":
            self.model.convert_to_fp16()  # upstream's use_fp16: fp16 convolutions, fp32 norms
        cuda = self.device.type == "cuda"
        # channels-last helps cuDNN; oneDNN on CPU gains nothing measurable here
        self.memory_format = torch.channels_last if cuda else torch.contiguous_format
        self.model.to(memory_format=self.memory_format)
        self.cuda_graphs = settings.lipsync_cuda_graphs and cuda
        if settings.lipsync_cuda_graphs and not cuda:
            log.warning("diff2lip: CUDA graphs need a CUDA device; ignored on %s", self.device)
        self.forward: Any = self.model
        if settings.lipsync_compile or self.cuda_graphs:
            # reduce-overhead = CUDA graphs around the compiled network
            self.forward = torch.compile(
                self.model, mode="reduce-overhead" if self.cuda_graphs else None
            )
        # On CPU one frame per forward is fastest (measured: bench/lipsync.py; larger batches
        # fall out of cache); on GPU batches fill the device.
        self._fit = BatchFitter(
            settings.lipsync_batch or (16 if cuda else 1), "diff2lip", self.device
        )
        self._sec_per_frame_step: float | None = None
        # the crop and its paste-back plan per photo (they depend on the photo alone; the
        # conditioning depends on the seed too and costs next to nothing: made per render)
        self.portraits: PortraitWork[tuple[FaceCrop, Paster]] = PortraitWork(settings.avatar_cache)

    @property
    def batch(self) -> int:
        """Frames per forward (halved for good after an out-of-memory error)."""
        return self._fit.size

    def _steps(self, options: RenderOptions) -> int:
        steps = options.lipsync_steps
        if steps is None:
            steps = self.settings.lipsync_steps
        if not MIN_STEPS <= steps <= MAX_STEPS:
            raise ValueError(f"lipsync_steps must be {MIN_STEPS}-{MAX_STEPS}, not {steps}")
        return steps

    def estimate_seconds(self, n_frames: int, options: RenderOptions) -> float | None:
        """Frames x steps x the time of one measured single-frame forward (an upper bound:
        batching and reused silent frames make renders faster)."""
        import torch

        if self._sec_per_frame_step is None:
            s = self.cfg.image_size
            dev = self.device
            x = torch.zeros(1, 3, s, s, device=dev)
            with torch.inference_mode(), self._autocast():
                style = self.model.encode_audio(
                    torch.zeros(1, self.cfg.audio_dim, self.cfg.audio_frames, device=dev)
                )
                cond = torch.zeros(1, self.cfg.in_channels - 3, s, s, device=dev)
                t0 = time.perf_counter()
                self.forward(
                    x,
                    torch.zeros(1, dtype=torch.long, device=dev),
                    cond,
                    torch.ones(1, 1, s, s, device=dev),
                    style,
                )
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                self._sec_per_frame_step = time.perf_counter() - t0
        return self._sec_per_frame_step * n_frames * self._steps(options)

    def frames(
        self, portrait: Portrait, speech: Speech, *, n_frames: int, options: RenderOptions
    ) -> Iterator[np.ndarray]:
        """Yield ``n_frames`` full-size RGB frames, generating up to ``batch`` crops at a time."""
        sampler = self.sampler_factory(self._steps(options))
        crop, paste = self.portraits.get(portrait, self._crop)  # 1-2. crop, paste plan once
        wav = to_16k(speech.audio.samples, speech.audio.sample_rate)  # 3. features once
        mels = mel_windows(melspectrogram(wav), n_frames, options.fps)
        noise, cond, mask = self._conditioning(crop, options.seed)  # 4. shared inputs once
        done = Recent(limit=2 * self.batch)
        for start in range(0, n_frames, self.batch):  # 5. batches of distinct windows
            chunk = mels[start : start + self.batch]
            keys = [m.tobytes() for m in chunk]
            # take the reused crops now: storing the new ones below may evict them
            ready = {k: done[k] for k in dict.fromkeys(keys) if k in done}
            todo = [k for k in dict.fromkeys(keys) if k not in ready]
            if todo:
                picked = np.stack([chunk[keys.index(k)] for k in todo])
                for key, sample in zip(
                    todo, self._fitting(picked, noise, cond, mask, sampler), strict=True
                ):
                    done.put(key, sample)
                    ready[key] = sample
            log.debug(
                "diff2lip frames %d-%d: %d generated, %d reused",
                start,
                start + len(keys) - 1,
                len(todo),
                len(keys) - len(todo),
            )
            for sample in (ready[k] for k in keys):  # 6. paste and stream; the caller may stop here
                yield paste(sample)

    def _crop(self, portrait: Portrait) -> tuple[FaceCrop, Paster]:
        """The face crop and its paste-back plan: made once per photo."""
        crop = make_crop(portrait, self.cfg.image_size)
        return crop, Paster(portrait.image, crop)

    def _autocast(self) -> Any:
        import torch

        return torch.autocast(
            self.device.type,
            dtype=self.amp_dtype or torch.float32,
            enabled=self.amp_dtype is not None,
        )

    def _conditioning(self, crop: FaceCrop, seed: int) -> tuple[Any, Any, Any]:
        """Shared initial noise, ``cond`` (masked face with that noise below, reference face)."""
        import torch

        s = self.cfg.image_size
        noise = torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(seed))
        face = torch.from_numpy(crop.face).permute(2, 0, 1)[None]
        mask = torch.from_numpy(hide_mask(s))[None, None]
        cond_img = face * (1 - mask) + mask * noise  # upstream's tfg_add_cond_inputs
        return noise, torch.cat([cond_img, face], dim=1), mask

    def _fitting(
        self, mel: np.ndarray, noise: Any, cond: Any, mask: Any, sampler: DDIMSampler
    ) -> list[np.ndarray]:
        """Generate, halving the batch while the device runs out of memory (BatchFitter)."""
        return self._fit(lambda m: self._generate(m, noise, cond, mask, sampler), mel)

    def _generate(
        self, mel: np.ndarray, noise: Any, cond: Any, mask: Any, sampler: DDIMSampler
    ) -> list[np.ndarray]:
        import torch

        n, dev, fmt = len(mel), self.device, self.memory_format
        with torch.inference_mode(), self._autocast():
            style = self.model.encode_audio(torch.from_numpy(mel).to(dev))
            c = cond.to(dev).expand(n, -1, -1, -1).contiguous(memory_format=fmt)
            m = mask.to(dev)
            x = noise.to(dev).expand(n, -1, -1, -1).contiguous(memory_format=fmt)

            def eps_fn(xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                return self.forward(xt.contiguous(memory_format=fmt), t, c, m, style)[:, :3]

            out = sampler.sample(eps_fn, x)
        return list(out.permute(0, 2, 3, 1).float().cpu().numpy())


def _precision(precision: str, device: Any) -> str:
    """fp32, fp16 (upstream's ``use_fp16``, its inference default on GPU) or bf16 (autocast)."""
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    return precision
