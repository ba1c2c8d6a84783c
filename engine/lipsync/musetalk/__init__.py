"""MuseTalk 1.5 lip sync: one UNet pass per frame in Stable Diffusion's latent space.

MuseTalk (TMElyralab; code MIT, weights released for any purpose, even commercially)
inpaints the lower half of a 256 x 256 face crop from the crop's upper half, a reference
crop and 0.2 s of Whisper-tiny encoder states, in one step (no sampler). Built here on the
field's libraries: diffusers' UNet2DConditionModel and AutoencoderKL (sd-vae-ft-mse),
transformers' Whisper encoder; the released files load as they are.

Still-photo pipeline: the face box comes from the landmarks found once at intake; the
crop, its paste-back plan and the reference latents are made once per photo (kept for its
next render, ``MuseTalkBackend.portraits``); Whisper runs once per 30 s of speech; frames
whose audio windows are equal (every silent window counts as one) are generated once; crops
are generated in batches and pasted into the full-resolution photo with the shared
colour-matched feathering. Frames are yielded lazily.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.avatars import PortraitWork
from engine.errors import BackendUnavailable
from engine.lipsync.paste import FaceCrop, Paster
from engine.lipsync.runtime import BatchFitter, Recent, amp_dtype, check_settings, torch_device
from engine.settings import EngineSettings
from engine.types import Portrait, RenderOptions, Speech

from .audio import SAMPLE_RATE, WhisperTrack
from .config import Layout
from .crop import frame_face
from .nets import MuseTalkNets

__all__ = ["MuseTalkBackend", "check", "models_root", "Layout", "MuseTalkNets", "load_nets"]
log = logging.getLogger(__name__)

_HOW = "mouthpiece models fetch musetalk downloads them into data/models/musetalk"
_LIBRARIES = ("torch", "diffusers", "transformers", "safetensors")


def models_root(settings: EngineSettings) -> Path:
    """The folder of the released layout: ``--lipsync-model`` when set, else
    ``<models_dir>/musetalk``."""
    if settings.lipsync_model:
        return Path(settings.lipsync_model)
    return Path(settings.models_dir) / "musetalk"


def check(settings: EngineSettings) -> str | None:
    """None when usable, else one line saying why not (cheap: loads nothing)."""
    missing = [m for m in _LIBRARIES if importlib.util.find_spec(m) is None]
    if missing:
        return f"{', '.join(missing)} not installed (pip install 'mouthpiece[musetalk]')"
    found = Layout.find(models_root(settings))
    if isinstance(found, str):
        return f"model files not found: {found} ({_HOW})"
    return None


def load_nets(settings: EngineSettings) -> MuseTalkNets:
    """The three networks from the released layout, on the configured device."""
    from .loading import load_unet, load_vae, load_whisper

    found = Layout.find(models_root(settings))
    if isinstance(found, str):
        raise BackendUnavailable(f"musetalk: model files not found: {found}", hint=_HOW)
    device = torch_device(settings.device, "musetalk")
    t0 = time.perf_counter()
    nets = MuseTalkNets(
        load_unet(found),
        load_vae(found),
        load_whisper(found),
        device=device,
        dtype=amp_dtype(settings.lipsync_precision, device),
        compile=settings.lipsync_compile,
        cuda_graphs=settings.lipsync_cuda_graphs,
    )
    log.info(
        "loaded musetalk from %s in %.1f s on %s", found.root, time.perf_counter() - t0, device
    )
    return nets


class MuseTalkBackend:
    """Generates the lower face of each frame with MuseTalk 1.5, one network pass a frame."""

    name = "musetalk"

    def __init__(self, settings: EngineSettings, nets: MuseTalkNets | None = None) -> None:
        reason = check(settings) if nets is None else None
        if reason:
            raise BackendUnavailable(f"musetalk: {reason}")
        check_settings(settings.lipsync_precision, settings.lipsync_batch)
        if settings.threads:
            import torch

            torch.set_num_threads(settings.threads)
        self.settings = settings
        self.nets = nets or load_nets(settings)
        self.device = self.nets.device
        if settings.lipsync_cuda_graphs and self.device.type != "cuda":
            log.warning("musetalk: CUDA graphs need a CUDA device; ignored on %s", self.device)
        cuda = self.device.type == "cuda"
        # CPU: 1 frame per call, as Diff2Lip (bench/musetalk.py measures others); GPU: batches
        # fill the device.
        self._fit = BatchFitter(
            settings.lipsync_batch or (16 if cuda else 1), "musetalk", self.device
        )
        self._sec_per_frame: float | None = None
        # what a render makes from the photo alone, kept per photo: see _reference
        self.portraits: PortraitWork[_Reference] = PortraitWork(settings.avatar_cache)

    @property
    def batch(self) -> int:
        """Frames per network call (halved for good after an out-of-memory error)."""
        return self._fit.size

    def estimate_seconds(self, n_frames: int, options: RenderOptions) -> float | None:
        """Frames x the time of one measured single-frame step (UNet + VAE decode): an upper
        bound, since batches and reused silent frames make renders faster."""
        if self._sec_per_frame is None:
            ref = self.nets.reference_latents(np.zeros((256, 256, 3), np.float32))
            tokens = self.nets.whisper.config.d_model
            stages = len(self.nets.whisper.layers) + 1
            windows = np.zeros((1, 10 * stages, tokens), np.float32)
            t0 = time.perf_counter()
            self.nets.generate(windows, ref)
            self._sec_per_frame = time.perf_counter() - t0
        return self._sec_per_frame * n_frames

    def frames(
        self, portrait: Portrait, speech: Speech, *, n_frames: int, options: RenderOptions
    ) -> Iterator[np.ndarray]:
        """Yield ``n_frames`` full-size RGB frames, generating up to ``batch`` crops at a time."""
        # 1-3. crop, paste-back plan and reference latents once (per photo: kept)
        ref = self.portraits.get(portrait, self._reference)
        paste, reference, (top, left, h, w) = ref.paste, ref.latents, ref.frame
        track = WhisperTrack(_at_16k(speech), n_frames, options.fps, self.nets.encode_audio)
        done = Recent(limit=2 * self.batch)
        for start in range(0, n_frames, self.batch):  # 4. batches of distinct windows
            index = range(start, min(n_frames, start + self.batch))
            keys = [track.key(i) for i in index]
            todo = list(dict.fromkeys(k for k in keys if k not in done))
            if todo:
                windows = np.stack([track.window(index[keys.index(k)]) for k in todo])
                for key, crop_rgb in zip(todo, self._run(windows, reference), strict=True):
                    done.put(key, crop_rgb)
            log.debug(
                "musetalk frames %d-%d: %d generated, %d reused",
                start,
                index[-1],
                len(todo),
                len(keys) - len(todo),
            )
            for key in keys:  # 5. paste and stream; the caller may stop here
                frame = paste(done[key])
                if frame.shape[:2] != (h, w):  # the photo was padded for the crop
                    frame = np.ascontiguousarray(frame[top : top + h, left : left + w])
                yield frame

    def _reference(self, portrait: Portrait) -> _Reference:
        """The crop, its paste-back plan and the reference latents (a VAE encode): they
        depend on the photo alone, so an avatar's renders make them once."""
        image, crop, frame = frame_face(portrait)
        return _Reference(crop, Paster(image, crop), self.nets.reference_latents(crop.face), frame)

    def _run(self, windows: np.ndarray, reference: Any) -> list[np.ndarray]:
        def run(w: np.ndarray) -> list[np.ndarray]:  # CUDA graphs: one shape, the batch's
            return self.nets.generate(w, reference, self.batch if self.nets.cuda_graphs else 0)

        return self._fit(run, windows)


@dataclass(frozen=True)
class _Reference:
    """A photo's reference work: the crop, the plan that pastes generated crops into the
    (padded) photo, the reference latents, and (top, left, height, width) of the photo inside
    the padded image."""

    crop: FaceCrop
    paste: Paster
    latents: Any
    frame: tuple[int, int, int, int]


def _at_16k(speech: Speech) -> np.ndarray:
    from engine.media.audio import resample

    audio = speech.audio
    return (
        audio.samples if audio.sample_rate == SAMPLE_RATE else resample(audio, SAMPLE_RATE).samples
    )
