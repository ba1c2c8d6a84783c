"""NeuCodec, rebuilt on plain torch: state-dict compatible with ``neuphonic/neucodec``.

Why not ``import neucodec``: its ``model.py`` imports torchaudio at import time (PyPI's
torchaudio is a CUDA build that does not load beside torch CPU), its transformer pulls
torchtune (which clashes with torchao), and its constructor always fetches
``facebook/w2v-bert-2.0`` from the hub. The modules below hold the same parameters under
the same names, so the published ``pytorch_model.bin`` loads into them unchanged.

Two halves, loaded separately:

* the **decoder** (``generator.*``, ``fc_post_a.*``): FSQ codes -> 24 kHz audio. Loaded at
  start; it is all a render needs once the reference voice's codes are cached.
* the **encoder** (``CodecEnc.*``, ``SemanticEncoder_module.*``, ``fc_prior.*`` and the
  w2v-BERT semantic model): 16 kHz audio -> codes. Loaded on the first uncached reference.

Faithfulness notes (they matter for real weights): the decoder's rotary embedding rotates by
*head index*, not time (upstream passes ``(b, h, t, d)`` to torchtune's RoPE, which expects
``(b, t, h, d)``); the semantic encoder's in-place ReLU also changes its skip path; the FSQ
bound is applied twice on encode. All three are reproduced on purpose.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import BackendUnavailable

__all__ = ["CodecConfig", "NeuCodecDecoder", "NeuCodecEncoder", "NeuCodec", "load_codec"]

log = logging.getLogger(__name__)

CONFIG_NAME = "neucodec_config.json"
_WEIGHT_NAMES = ("pytorch_model.bin", "model.safetensors", "neucodec.pt", "model.pt")
_IGNORED = ("fc_post_s", "SemanticDecoder")  # training-only heads in the published file
_DECODER_PREFIXES = ("generator.", "fc_post_a.")
_ENCODER_PREFIXES = ("CodecEnc.", "SemanticEncoder_module.", "fc_prior.", "semantic_model.")


@dataclass(frozen=True)
class CodecConfig:
    """Architecture of a NeuCodec. Defaults are the published ``neuphonic/neucodec``."""

    sample_rate: int = 24_000
    hop_length: int = 480  # output samples per code (50 codes per second)
    encoder_rate: int = 16_000
    levels: tuple[int, ...] = (4, 4, 4, 4, 4, 4, 4, 4)  # FSQ: 4**8 = 65,536 codes
    vq_dim: int = 2048
    hidden_dim: int = 1024  # decoder width
    depth: int = 12
    heads: int = 16
    rope_dim: int = 64
    acoustic_ngf: int = 48
    acoustic_ratios: tuple[int, ...] = (2, 2, 4, 4, 5)
    acoustic_dim: int = 1024
    semantic_dim: int = 1024  # w2v-BERT hidden size
    semantic_code_dim: int = 1024
    semantic_layer: int = 16  # which hidden state of w2v-BERT feeds the codec
    semantic_config: dict[str, Any] = field(default_factory=dict)  # Wav2Vec2BertConfig overrides

    @property
    def codebook_size(self) -> int:
        return int(np.prod(self.levels))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodecConfig:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known
        }
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- shared pieces ---------------------------------------------------------------------------
class _WNConv1d(nn.Module):
    """Conv1d with weight normalisation stored as ``weight_g`` / ``weight_v`` (torch's legacy
    ``weight_norm`` layout, which the published checkpoint uses)."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
    ) -> None:
        super().__init__()
        v = torch.empty(cout, cin, kernel)
        nn.init.trunc_normal_(v, std=0.02)
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(v.flatten(1).norm(dim=1).view(cout, 1, 1).clone())
        self.bias = nn.Parameter(torch.zeros(cout))
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.weight_v
        w = self.weight_g * v / v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
        return F.conv1d(x, w, self.bias, self.stride, self.padding, self.dilation)


def _kaiser_sinc(cutoff: float, half_width: float, kernel: int) -> torch.Tensor:
    half = kernel // 2
    a = 2.285 * (half - 1) * math.pi * 4 * half_width + 7.95
    beta = (
        0.1102 * (a - 8.7)
        if a > 50
        else (0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21) if a >= 21 else 0.0)
    )
    window = torch.kaiser_window(kernel, beta=beta, periodic=False)
    t = torch.arange(-half, half) + 0.5 if kernel % 2 == 0 else torch.arange(kernel) - half
    filt = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
    return (filt / filt.sum()).view(1, 1, kernel)


class _Up(nn.Module):
    filter: torch.Tensor

    def __init__(self, kernel: int = 12) -> None:
        super().__init__()
        self.register_buffer("filter", _kaiser_sinc(0.25, 0.3, kernel))
        self.pad = kernel // 2 - 1
        self.crop_l = self.pad * 2 + (kernel - 2) // 2
        self.crop_r = self.pad * 2 + (kernel - 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = 2 * F.conv_transpose1d(x, self.filter.expand(c, -1, -1), stride=2, groups=c)
        return x[..., self.crop_l : -self.crop_r]


class _LowPass(nn.Module):
    filter: torch.Tensor

    def __init__(self, kernel: int = 12) -> None:
        super().__init__()
        self.register_buffer("filter", _kaiser_sinc(0.25, 0.3, kernel))
        self.pad_l, self.pad_r = kernel // 2 - int(kernel % 2 == 0), kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        x = F.pad(x, (self.pad_l, self.pad_r), mode="replicate")
        return F.conv1d(x, self.filter.expand(c, -1, -1), stride=2, groups=c)


class _Down(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lowpass = _LowPass()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class _SnakeBeta(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(dim))  # log scale
        self.beta = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha.exp()[None, :, None]
        b = self.beta.exp()[None, :, None]
        return x + (1.0 / (b + 1e-9)) * torch.sin(x * a).pow(2)


class _Act(nn.Module):
    """Anti-aliased SnakeBeta: upsample x2, activate, downsample x2."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.act = _SnakeBeta(dim)
        self.upsample = _Up()
        self.downsample = _Down()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


# ---- acoustic + semantic encoders ------------------------------------------------------------
class _ResidualUnit(nn.Module):
    def __init__(self, dim: int, dilation: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            _Act(dim),
            _WNConv1d(dim, dim, 7, dilation=dilation, padding=3 * dilation),
            _Act(dim),
            _WNConv1d(dim, dim, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class _EncoderBlock(nn.Module):
    def __init__(self, dim: int, stride: int) -> None:
        super().__init__()
        half = dim // 2
        self.block = nn.Sequential(
            *(_ResidualUnit(half, d) for d in (1, 3, 9)),
            _Act(half),
            _WNConv1d(half, dim, 2 * stride, stride=stride, padding=stride // 2 + stride % 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class _AcousticEncoder(nn.Module):
    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        d = cfg.acoustic_ngf
        blocks: list[nn.Module] = [_WNConv1d(1, d, 7, padding=3)]
        for stride in cfg.acoustic_ratios:
            d *= 2
            blocks.append(_EncoderBlock(d, stride))
        self.conv_blocks = nn.Sequential(*blocks)
        self.conv_final_block = nn.Sequential(_Act(d), _WNConv1d(d, cfg.acoustic_dim, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_final_block(self.conv_blocks(x)).transpose(1, 2)


class _SemanticEncoder(nn.Module):
    def __init__(self, cin: int, code_dim: int, channels: int) -> None:
        super().__init__()
        self.initial_conv = nn.Conv1d(cin, channels, 3, padding=1, bias=False)
        self.residual_blocks = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, padding=1),
        )
        self.final_conv = nn.Conv1d(channels, code_dim, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Upstream's first ReLU is in place, so its skip connection adds relu(x), not x.
        x = F.relu(self.initial_conv(x))
        return self.final_conv(self.residual_blocks(x) + x)


# ---- FSQ quantiser ---------------------------------------------------------------------------
class _ResidualFSQ(nn.Module):
    """One-level residual finite scalar quantiser (vector-quantize-pytorch 1.17 layout)."""

    _levels: torch.Tensor
    _basis: torch.Tensor

    def __init__(self, dim: int, levels: tuple[int, ...]) -> None:
        super().__init__()
        self.project_in = nn.Linear(dim, len(levels))
        self.project_out = nn.Linear(len(levels), dim)
        lv = torch.tensor(levels, dtype=torch.int64)
        self.register_buffer("_levels", lv, persistent=False)
        basis = torch.cumprod(torch.tensor([1, *levels[:-1]], dtype=torch.int64), 0)
        self.register_buffer("_basis", basis, persistent=False)

    def _bound(self, z: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
        half_l = (self._levels - 1) * (1 + eps) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = (offset / half_l).atanh()
        return (z + shift).tanh() * half_l - offset

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, dim) -> (B, T) code indices."""
        z = self._bound(self._bound(self.project_in(x)))  # upstream bounds twice
        half = self._levels // 2
        level_idx = torch.round(z) + half
        return (level_idx * self._basis).sum(-1).to(torch.int64)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, T) code indices -> (B, T, dim)."""
        level_idx = (codes[..., None] // self._basis) % self._levels
        half = self._levels // 2
        return self.project_out(((level_idx - half) / half).float())


# ---- Vocos decoder ---------------------------------------------------------------------------
class _ResnetBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(32, c, eps=1e-6)
        self.conv1 = nn.Conv1d(c, c, 3, padding=1)
        self.norm2 = nn.GroupNorm(32, c, eps=1e-6)
        self.conv2 = nn.Conv1d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class _RMSNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class _Attention(nn.Module):
    rope: torch.Tensor

    def __init__(self, dim: int, heads: int, rope: torch.Tensor) -> None:
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(dim, 3 * dim, bias=False)
        self.c_proj = nn.Linear(dim, dim, bias=False)
        self.register_buffer("rope", rope, persistent=False)  # (heads, head_dim/2, 2)

    def _rotate(self, x: torch.Tensor) -> torch.Tensor:
        # x: (b, h, t, d); position = head index (see the module docstring)
        xs = x.float().reshape(*x.shape[:-1], -1, 2)
        c = self.rope[: x.shape[1]].view(1, x.shape[1], 1, xs.shape[3], 2)
        out = torch.stack(
            [
                xs[..., 0] * c[..., 0] - xs[..., 1] * c[..., 1],
                xs[..., 1] * c[..., 0] + xs[..., 0] * c[..., 1],
            ],
            -1,
        )
        return out.flatten(3).type_as(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(self._rotate(q), self._rotate(k), v)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, d))


class _MLP(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim, bias=False)
        self.fc2 = nn.Linear(4 * dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.silu(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, rope: torch.Tensor) -> None:
        super().__init__()
        self.att_norm = _RMSNorm(dim)
        self.ffn_norm = _RMSNorm(dim)
        self.att = _Attention(dim, heads, rope)
        self.mlp = _MLP(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.att(self.att_norm(x))
        return x + self.mlp(self.ffn_norm(x))


def _rope_table(dim: int, n: int, base: float = 10_000.0) -> torch.Tensor:
    theta = 1.0 / (base ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
    angles = torch.outer(torch.arange(n, dtype=torch.float32), theta)
    return torch.stack([angles.cos(), angles.sin()], -1)


class _Backbone(nn.Module):
    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        h = cfg.hidden_dim
        if h // cfg.heads != cfg.rope_dim:
            raise ValueError(f"head dim {h // cfg.heads} must equal rope_dim {cfg.rope_dim}")
        rope = _rope_table(cfg.rope_dim, max(cfg.heads, 1))
        self.embed = nn.Conv1d(h, h, 7, padding=3)
        self.prior_net = nn.Sequential(_ResnetBlock(h), _ResnetBlock(h))
        self.transformers = nn.Sequential(*(_Block(h, cfg.heads, rope) for _ in range(cfg.depth)))
        self.final_layer_norm = nn.LayerNorm(h, eps=1e-6)
        self.post_net = nn.Sequential(_ResnetBlock(h), _ResnetBlock(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, T, H)
        x = self.prior_net(self.embed(x.transpose(1, 2))).transpose(1, 2)
        x = self.transformers(x)
        x = self.post_net(x.transpose(1, 2)).transpose(1, 2)
        return self.final_layer_norm(x)


class _ISTFT(nn.Module):
    """Inverse STFT with "same" padding (torch.istft cannot trim windowed edges this way)."""

    window: torch.Tensor

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:  # (B, N, T) complex -> (B, L)
        pad = (self.n_fft - self.hop) // 2
        frames = (
            torch.fft.irfft(spec, self.n_fft, dim=1, norm="backward") * self.window[None, :, None]
        )
        t = spec.shape[-1]
        size = (t - 1) * self.hop + self.n_fft
        out, kernel, stride = (1, size), (1, self.n_fft), (1, self.hop)
        y = F.fold(frames, out, kernel, stride=stride)[:, 0, 0, pad:-pad]
        window_sq = self.window.square().expand(1, t, -1).transpose(1, 2)
        env = F.fold(window_sq, out, kernel, stride=stride).squeeze()[pad:-pad]
        return y / env


class _Head(nn.Module):
    def __init__(self, dim: int, hop: int) -> None:
        super().__init__()
        n_fft = hop * 4
        self.out = nn.Linear(dim, n_fft + 2)
        self.istft = _ISTFT(n_fft, hop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mag, phase = self.out(x).transpose(1, 2).chunk(2, dim=1)
        mag = mag.exp().clip(max=1e2)
        return self.istft(mag * (phase.cos() + 1j * phase.sin()))


class _Generator(nn.Module):
    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        self.quantizer = _ResidualFSQ(cfg.vq_dim, cfg.levels)
        self.backbone = _Backbone(cfg)
        self.head = _Head(cfg.hidden_dim, cfg.hop_length)


class NeuCodecDecoder(nn.Module):
    """Codes (50 per second) -> 24 kHz audio."""

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.generator = _Generator(cfg)
        self.fc_post_a = nn.Linear(cfg.vq_dim, cfg.hidden_dim)

    @torch.inference_mode()
    def decode(self, codes: np.ndarray | list[int]) -> np.ndarray:
        """1-D code indices -> float32 samples at ``cfg.sample_rate``."""
        device = self.fc_post_a.weight.device
        idx = torch.as_tensor(np.asarray(codes, dtype=np.int64), device=device)[None]
        x = self.fc_post_a(self.generator.quantizer.decode(idx))
        audio = self.generator.head(self.generator.backbone(x))
        return audio[0].float().cpu().numpy()


class NeuCodecEncoder(nn.Module):
    """16 kHz audio -> codes (acoustic conv encoder + w2v-BERT semantic features)."""

    def __init__(self, cfg: CodecConfig, semantic_model: nn.Module) -> None:
        super().__init__()
        self.cfg = cfg
        self.CodecEnc = _AcousticEncoder(cfg)
        self.SemanticEncoder_module = _SemanticEncoder(
            cfg.semantic_dim, cfg.semantic_code_dim, cfg.semantic_dim
        )
        self.fc_prior = nn.Linear(cfg.semantic_code_dim + cfg.acoustic_dim, cfg.vq_dim)
        self.semantic_model = semantic_model
        self.quantizer = _ResidualFSQ(cfg.vq_dim, cfg.levels)  # loaded from generator.quantizer.*
        self._features = _feature_extractor()

    @torch.inference_mode()
    def encode(self, samples: np.ndarray) -> np.ndarray:
        """Mono float32 samples at 16 kHz -> 1-D int64 codes."""
        device = self.fc_prior.weight.device
        y = np.asarray(samples, dtype=np.float32)
        y = np.pad(y, (0, 320 - len(y) % 320))
        feats = self._features(y, sampling_rate=16_000, return_tensors="pt").input_features.to(
            device
        )
        acoustic = self.CodecEnc(torch.from_numpy(y)[None, None].to(device)).transpose(1, 2)
        # The semantic model is cut after ``semantic_layer`` layers: its last hidden state is
        # upstream's hidden_states[semantic_layer] (the encoder has no final norm).
        hidden = self.semantic_model(feats).last_hidden_state
        semantic = self.SemanticEncoder_module(hidden.transpose(1, 2))
        n = min(acoustic.shape[-1], semantic.shape[-1])
        joint = torch.cat([semantic[..., :n], acoustic[..., :n]], dim=1)
        codes = self.quantizer.encode(self.fc_prior(joint.transpose(1, 2)))
        return codes[0].cpu().numpy().astype(np.int64)


def _feature_extractor() -> Any:
    """w2v-BERT 2.0's log-mel front end (numpy), configured without the hub."""
    from transformers import SeamlessM4TFeatureExtractor

    return SeamlessM4TFeatureExtractor(
        feature_size=80, num_mel_bins=80, sampling_rate=16_000, stride=2, padding_value=1.0
    )


def _semantic_model(cfg: CodecConfig, layers: int) -> nn.Module:
    from transformers import Wav2Vec2BertConfig, Wav2Vec2BertModel

    overrides = dict(cfg.semantic_config)
    overrides["num_hidden_layers"] = layers
    overrides.setdefault("hidden_size", cfg.semantic_dim)
    return Wav2Vec2BertModel(Wav2Vec2BertConfig(**overrides))


# ---- loading ---------------------------------------------------------------------------------
@dataclass
class NeuCodec:
    """A loaded codec: the decoder now, the encoder on first use (it is the heavy half)."""

    cfg: CodecConfig
    decoder: NeuCodecDecoder
    weights: Path
    device: str = "cpu"
    _encoder: NeuCodecEncoder | None = None

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    def decode(self, codes: np.ndarray | list[int]) -> np.ndarray:
        return self.decoder.decode(codes)

    def encode(self, samples_16k: np.ndarray) -> np.ndarray:
        if self._encoder is None:
            self._encoder = _load_encoder(self.cfg, self.weights, self.device)
        return self._encoder.encode(samples_16k)


def find_weights(path: Path) -> Path:
    """The weights file in a codec directory (or the file itself)."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise BackendUnavailable(
            f"NeuCodec weights not found: {path} does not exist",
            hint="mouthpiece models fetch neucodec, or pass --tts-codec PATH",
        )
    for name in _WEIGHT_NAMES:
        if (path / name).is_file():
            return path / name
    raise BackendUnavailable(
        f"no NeuCodec weights in {path} (looked for {', '.join(_WEIGHT_NAMES)})",
        hint="mouthpiece models fetch neucodec",
    )


def read_config(weights: Path) -> CodecConfig:
    """Architecture from ``neucodec_config.json`` beside the weights; defaults otherwise."""
    cfg_file = weights.parent / CONFIG_NAME
    if not cfg_file.is_file():
        return CodecConfig()
    try:
        return CodecConfig.from_dict(json.loads(cfg_file.read_text()))
    except (ValueError, TypeError) as e:
        raise BackendUnavailable(f"{cfg_file} is not a valid codec config: {e}") from e


def _read_state(weights: Path) -> dict[str, torch.Tensor]:
    state: Any
    try:
        if weights.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(weights))
        else:
            try:
                state = torch.load(weights, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as e:
                if "mmap" not in str(e):
                    raise
                state = torch.load(weights, map_location="cpu", weights_only=True)  # legacy format
    except Exception as e:  # corrupt files fail in many ways; the file name is what matters
        raise BackendUnavailable(
            f"cannot read NeuCodec weights {weights}: {type(e).__name__}: {e}",
            hint="the file is corrupt or not a PyTorch state dict; download it again",
        ) from e
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BackendUnavailable(f"{weights} does not hold a NeuCodec state dict")
    out = {}
    for key, value in state.items():
        if any(part in key for part in _IGNORED):
            continue
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        out[key.replace(".parametrizations.weight.original1", ".weight_v")] = value
    return out


def _load_into(module: nn.Module, state: dict[str, torch.Tensor], weights: Path, what: str) -> None:
    expected = set(module.state_dict())
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_few(unexpected)}")
        raise BackendUnavailable(
            f"{weights} does not match the NeuCodec {what}: " + "; ".join(parts),
            hint="use the neuphonic/neucodec weights (or a neucodec_config.json that matches)",
        )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise BackendUnavailable(
            f"{weights} does not match the NeuCodec {what}: {first[-1].strip() if first else e}",
            hint="the architecture in neucodec_config.json differs from the weights",
        ) from e


def _few(keys: list[str], n: int = 4) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_codec(path: Path, device: str = "cpu") -> NeuCodec:
    """Load NeuCodec's decoder from a local weights file or directory (no hub access)."""
    weights = find_weights(Path(path))
    cfg = read_config(weights)
    state = _read_state(weights)
    unknown = sorted(k for k in state if not k.startswith(_DECODER_PREFIXES + _ENCODER_PREFIXES))
    if unknown:
        raise BackendUnavailable(
            f"{weights} does not match NeuCodec: unexpected keys {_few(unknown)}",
            hint="is this a NeuCodec checkpoint?",
        )
    decoder = NeuCodecDecoder(cfg)
    _load_into(
        decoder,
        {k: v for k, v in state.items() if k.startswith(_DECODER_PREFIXES)},
        weights,
        "decoder",
    )
    decoder.eval().to(device)
    return NeuCodec(cfg=cfg, decoder=decoder, weights=weights, device=device)


def _load_encoder(cfg: CodecConfig, weights: Path, device: str) -> NeuCodecEncoder:
    state = _read_state(weights)
    layers = cfg.semantic_layer  # later w2v-BERT layers never reach the codec: skip them
    has_semantic = any(k.startswith("semantic_model.") for k in state)
    semantic = _semantic_model(cfg, layers) if has_semantic else _local_w2v_bert(weights, layers)
    encoder = NeuCodecEncoder(cfg, semantic)
    sub = {}
    for key, value in state.items():
        if key.startswith("generator.quantizer."):
            sub[key.removeprefix("generator.")] = value
        elif key.startswith(_ENCODER_PREFIXES):
            if key.startswith("semantic_model.") and not _keep_semantic_key(key, layers):
                continue
            sub[key] = value
    own = {f"semantic_model.{k}": v for k, v in semantic.state_dict().items()}
    if not has_semantic:
        sub.update(own)
    mask_key = "semantic_model.masked_spec_embed"  # training-only; some checkpoints lack it
    if mask_key in own and mask_key not in sub:
        sub[mask_key] = own[mask_key]
    _load_into(encoder, sub, weights, "encoder")
    return encoder.eval().to(device)


def _keep_semantic_key(key: str, layers: int) -> bool:
    parts = key.split(".")
    if len(parts) > 3 and parts[1] == "encoder" and parts[2] == "layers":
        return int(parts[3]) < layers
    return not (len(parts) > 1 and parts[1] in ("adapter", "intermediate_ffn"))


def _local_w2v_bert(weights: Path, layers: int) -> nn.Module:
    """The semantic model, when the codec file does not carry it: a local w2v-bert-2.0 dir."""
    for candidate in (weights.parent / "w2v-bert-2.0", weights.parent.parent / "w2v-bert-2.0"):
        if (candidate / "config.json").is_file():
            from transformers import Wav2Vec2BertModel

            return Wav2Vec2BertModel.from_pretrained(str(candidate), num_hidden_layers=layers)
    raise BackendUnavailable(
        f"{weights} has no semantic model weights and no w2v-bert-2.0 folder beside it",
        hint="mouthpiece models fetch w2v-bert (needed only to encode new reference voices)",
    )
