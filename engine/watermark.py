"""Inaudible watermark on generated speech: Resemble AI's Perth implicit watermarker.

The network weights ship inside the ``resemble-perth`` wheel. Its own Python front end
imports torchaudio (whose PyPI build does not load beside torch CPU) and ``pkg_resources``,
so this module rebuilds the two small convolutional nets (state-dict compatible) and their
STFT on plain torch, and reads the weights file from the installed wheel without importing
the package. The watermark is embedded at 32 kHz below 2 kHz, so it survives AAC encoding.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import BackendUnavailable
from engine.types import Audio

__all__ = ["apply_watermark", "detect_watermark", "is_watermarked", "available", "THRESHOLD"]

THRESHOLD = 0.5  # detect_watermark() above this: watermarked
_RATE = 32_000
_N_FFT = 2048
_HOP = 320
_MAX_FREQ = 2000.0
_HIDDEN = 256
_MAG_MIN_DB = 20 * np.log10(1e-9)
_HEADROOM_DB = 15.0
_MIN_SECONDS = 0.1
_BLOCK = 10.0  # seconds marked at once (memory does not grow with the script)
_OVERLAP = 0.5  # seconds cross-faded between blocks

_lock = threading.Lock()
_model: Any = None


def available() -> str | None:
    """Why the watermark cannot be applied here, or None."""
    try:
        _weights_file()
    except BackendUnavailable as e:
        return str(e)
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed: pip install 'mouthpiece[neutts]'"
    return None


def apply_watermark(audio: Audio) -> Audio:
    """Return ``audio`` with the Perth watermark embedded (same rate and length)."""
    if audio.duration < _MIN_SECONDS:
        return audio

    from engine.media.audio import resample

    net = _net()
    x = resample(audio, _RATE).samples
    out = _in_blocks(x, lambda block: _mark(net, block))
    back = resample(Audio(out.astype(np.float32), _RATE), audio.sample_rate).samples
    n = len(audio.samples)
    back = np.pad(back[:n], (0, max(0, n - len(back))))
    return Audio(np.clip(back, -1.0, 1.0).astype(np.float32), audio.sample_rate)


def _mark(net: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        signal = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        mag, phase = _magphase(signal, net.window)
        marked = net.encode(mag[None])[0]
        return np.asarray(_signal(marked, phase, net.window, len(x)).numpy())


def _in_blocks(x: np.ndarray, mark: Any) -> np.ndarray:
    """Apply ``mark`` to overlapping blocks of ``x`` and cross-fade them, so memory stays
    bounded by the block (``_BLOCK`` s) whatever the length of the speech."""
    block, overlap = int(_BLOCK * _RATE), int(_OVERLAP * _RATE)
    if len(x) <= block + overlap:
        return np.asarray(mark(x), dtype=np.float32)
    out = np.zeros(len(x), np.float64)
    weight = np.zeros(len(x), np.float64)
    ramp = np.linspace(0.0, 1.0, overlap + 2)[1:-1]
    for start in range(0, len(x), block):
        lo, hi = max(0, start - overlap), min(len(x), start + block + overlap)
        piece = np.asarray(mark(x[lo:hi]), dtype=np.float64)
        fade = np.ones(hi - lo)
        if lo > 0:
            fade[:overlap] = ramp
        if hi < len(x):
            fade[-overlap:] = ramp[::-1]
        out[lo:hi] += piece * fade
        weight[lo:hi] += fade
        if hi == len(x):
            break
    return (out / np.maximum(weight, 1e-9)).astype(np.float32)


def detect_watermark(audio: Audio) -> float:
    """Confidence in [0, 1] that ``audio`` carries the watermark (above 0.5: it does)."""
    if audio.duration < _MIN_SECONDS:
        return 0.0
    import torch

    from engine.media.audio import resample

    net = _net()
    x = resample(audio, _RATE).samples
    with torch.inference_mode():
        mag, _ = _magphase(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), net.window)
        return float(net.decode(mag[None])[0].clamp(0.0, 1.0))


def is_watermarked(audio: Audio) -> bool:
    return detect_watermark(audio) > THRESHOLD


# ---- the nets ------------------------------------------------------------------------------
def _weights_file() -> Path:
    spec = importlib.util.find_spec("perth")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(
            "resemble-perth is not installed", hint="pip install 'mouthpiece[neutts]'"
        )
    folder = (
        Path(next(iter(spec.submodule_search_locations))) / "perth_net" / "pretrained" / "implicit"
    )
    found = sorted(folder.glob("perth_net_*.pth.tar"))
    if not found:
        raise BackendUnavailable(f"no Perth weights in {folder}", hint="reinstall resemble-perth")
    return found[-1]


def _net() -> Any:
    global _model
    with _lock:
        if _model is None:
            _model = _build()
        return _model


def _build() -> Any:
    import torch

    path = _weights_file()
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in ckpt["model"].items() if k.startswith(("encoder.", "decoder."))}
        net = _perth_net_class()()
        net.load_state_dict(state, strict=True)
    except Exception as e:  # a damaged install fails in many ways; say which file
        raise BackendUnavailable(
            f"cannot load the Perth watermark weights {path}: {e}", hint="reinstall resemble-perth"
        ) from e
    return net.eval()


def _perth_net_class() -> Any:
    """PerthNet's encoder and decoder, with the parameter names of the published weights."""
    import torch
    from torch import nn

    subband = int(round((_N_FFT // 2 + 1) * _MAX_FREQ / (_RATE / 2)))

    class Conv(nn.Module):
        def __init__(self, i: int, o: int, k: int, act: bool = True) -> None:
            super().__init__()
            self.conv = nn.Conv1d(i, o, k, padding=(k - 1) // 2)
            self.act = nn.LeakyReLU() if act else nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.conv(x))

    def layers(out: int) -> nn.Sequential:
        return nn.Sequential(
            Conv(subband, _HIDDEN, 1),
            *(Conv(_HIDDEN, _HIDDEN, 7) for _ in range(5)),
            Conv(_HIDDEN, out, 1, act=False),
        )

    def mask(mag: torch.Tensor) -> torch.Tensor:  # frames loud enough to carry the mark
        s = mag.sum(dim=1)
        return (s > s.max(dim=1).values[:, None] * 0.05).float()[:, None]

    def masked_mean(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return (x * m).sum(dim=2) / m.sum(dim=2).clamp_min(1e-9)

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = layers(subband)

    class Decoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.slow_layers = layers(2)
            self.normal_layers = layers(2)
            self.fast_layers = layers(2)

    class PerthNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = Encoder()
            self.decoder = Decoder()
            self.register_buffer("window", torch.hann_window(_N_FFT), persistent=False)

        def encode(self, mag: torch.Tensor) -> torch.Tensor:
            mag = mag.clone()
            mag[:, :subband] += self.encoder.layers(mag[:, :subband]) * mask(mag)
            return mag

        def decode(self, mag: torch.Tensor) -> torch.Tensor:
            m = mask(mag)
            sub = mag[:, :subband]
            t = sub.shape[2]
            marks, attn = [], []
            for net, size in (
                (self.decoder.slow_layers, int(t * 1.25)),
                (self.decoder.normal_layers, t),
                (self.decoder.fast_layers, int(t * 0.75)),
            ):
                x = (
                    sub
                    if size == t
                    else nn.functional.interpolate(
                        sub, size=size, mode="linear", align_corners=True
                    )
                )
                out = net(x)
                mm = nn.functional.interpolate(m, size=out.shape[2], mode="nearest")
                attn.append(masked_mean(out[:, :1], mm))
                marks.append(masked_mean(out[:, 1:], mm))
            weights = torch.softmax(torch.cat(attn, dim=1), dim=1)
            return (torch.cat(marks, dim=1) * weights).sum(dim=1)

    return PerthNet


def _magphase(signal: Any, window: Any) -> tuple[Any, Any]:
    import torch

    spec = torch.stft(
        signal,
        _N_FFT,
        _HOP,
        _N_FFT,
        window,
        center=True,
        pad_mode="reflect",
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    mag = 20 * torch.log10(spec.abs().clamp_min(1e-9))
    mag = (mag - _MAG_MIN_DB) / (-_MAG_MIN_DB + _HEADROOM_DB)
    return mag, torch.angle(spec)


def _signal(mag: Any, phase: Any, window: Any, length: int) -> Any:
    import torch

    db = mag * (-_MAG_MIN_DB + _HEADROOM_DB) + _MAG_MIN_DB
    spec = 10.0 ** (db / 20).clamp(max=10) * torch.exp(1j * phase)
    return torch.istft(
        spec,
        _N_FFT,
        _HOP,
        _N_FFT,
        window,
        center=True,
        normalized=False,
        onesided=True,
        length=length,
    )
