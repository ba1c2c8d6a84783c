"""Diff2Lip's denoiser in torch: guided-diffusion's UNet plus the TFG audio encoder.

Written from the published architecture; module and parameter names follow
soumik-kanad/diff2lip ``guided_diffusion/unet.py`` (``TFGModel``, ``TFGAudioEncoder``) so
that a released ``model.state_dict()`` loads as is: ``time_embed``, ``input_blocks``,
``middle_block``, ``output_blocks``, ``out``; ResBlocks with ``in_layers`` / ``emb_layers`` /
``out_layers`` / ``skip_connection``; attention with ``norm`` / ``qkv`` / ``proj_out``;
``audio_encoder`` (``time_embed``, ``input_block``, ``encoder_blocks``, ``middle_block``) and
``audio_encoder_to_style``. Its configuration is :class:`.config.UNetConfig` (no torch there);
this module is imported only when a network is built (torch is heavy).

Half precision as upstream's ``use_fp16`` (:meth:`Diff2LipUNet.convert_to_fp16`, after
guided-diffusion's ``convert_module_to_f16``): only the convolutions of the torso and the audio
encoder hold fp16 weights and run in fp16; group norms compute in fp32 and hand back fp16
(``GroupNorm32``); linear layers, hence the timestep and style embedding, and the output head
stay fp32.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .config import UNetConfig

__all__ = ["Diff2LipUNet", "build_model"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: int = 10000) -> torch.Tensor:
    """Sinusoidal embedding, cosines first (guided-diffusion's ``nn.timestep_embedding``)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class GroupNorm32(nn.GroupNorm):
    """Group norm; after :meth:`Diff2LipUNet.convert_to_fp16` it computes in fp32 and returns
    the input's dtype (guided-diffusion's ``GroupNorm32``). Until then it is a plain group
    norm, so fp32 and autocast runs are exactly as before."""

    upcast = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upcast:
            return super().forward(x.float()).to(x.dtype)
        return super().forward(x)


class _Resample(nn.Module):
    """Up (nearest x2) or down (average pool, or strided conv when ``conv``) sampling."""

    def __init__(
        self, ch: int, up: bool, conv: bool = False, stride: tuple[int, int] = (2, 2)
    ) -> None:
        super().__init__()
        self.up, self.stride = up, stride
        if conv and up:
            self.conv = nn.Conv2d(ch, ch, 3, padding=1)
        elif conv:
            self.op = nn.Conv2d(ch, ch, 3, stride=stride, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            return self.conv(x) if hasattr(self, "conv") else x
        if hasattr(self, "op"):
            return self.op(x)
        return F.avg_pool2d(x, self.stride, self.stride)


class ResBlock(nn.Module):
    def __init__(
        self,
        ch: int,
        emb: int,
        out: int | None = None,
        *,
        groups: int,
        scale_shift: bool,
        up: bool = False,
        down: bool = False,
        stride: tuple[int, int] = (2, 2),
    ) -> None:
        super().__init__()
        out = out or ch
        self.in_layers = nn.Sequential(
            GroupNorm32(groups, ch), nn.SiLU(), nn.Conv2d(ch, out, 3, padding=1)
        )
        self.updown = up or down
        if self.updown:
            self.h_upd = _Resample(ch, up, stride=stride)
            self.x_upd = _Resample(ch, up, stride=stride)
        self.scale_shift = scale_shift
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb, (2 if scale_shift else 1) * out))
        self.out_layers = nn.Sequential(
            GroupNorm32(groups, out), nn.SiLU(), nn.Dropout(0.0), nn.Conv2d(out, out, 3, padding=1)
        )
        self.skip_connection = nn.Identity() if out == ch else nn.Conv2d(ch, out, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.updown:
            h = self.in_layers[2](self.h_upd(self.in_layers[:2](x)))
            x = self.x_upd(x)
        else:
            h = self.in_layers(x)
        e = self.emb_layers(emb).to(h.dtype)[..., None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_layers[1:](self.out_layers[0](h) * (1 + scale) + shift)
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Self-attention over positions; ``legacy`` splits heads before q/k/v, as upstream."""

    def __init__(self, ch: int, heads: int, *, groups: int, legacy: bool) -> None:
        super().__init__()
        self.heads, self.legacy = heads, legacy
        self.norm = GroupNorm32(groups, ch)
        self.qkv = nn.Conv1d(ch, ch * 3, 1)
        self.proj_out = nn.Conv1d(ch, ch, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        b, c, hh, ww = x.shape
        flat = x.reshape(b, c, hh * ww)
        qkv = self.qkv(self.norm(flat))
        ch = c // self.heads
        if self.legacy:  # QKVAttentionLegacy: (B, heads * 3 * ch, T)
            q, k, v = qkv.reshape(b * self.heads, 3 * ch, -1).split(ch, dim=1)
        else:  # QKVAttention: (B, 3 * heads * ch, T)
            q, k, v = (z.reshape(b * self.heads, ch, -1) for z in qkv.chunk(3, dim=1))
        # softmax(q.k / sqrt(ch)) v, the same scale upstream applies as two fourth roots
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        h = a.transpose(1, 2).reshape(b, c, -1)
        return (flat + self.proj_out(h)).reshape(b, c, hh, ww)


class Step(nn.Sequential):
    """TimestepEmbedSequential: passes the embedding to the blocks that take one."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, (ResBlock, AttentionBlock)) else layer(x)
        return x


class AudioEncoder(nn.Module):
    """TFGAudioEncoder: a (B, 80, 16) mel window -> (B, 128, 8, 8) at the paper's sizes.

    Conv1d 80 -> 64 rows, then a small UNet encoder over the (1, 64, 16) "image" with a fixed
    t = 0 embedding; downsampling strides (2, 1) while the height exceeds the 16 mel frames.
    """

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        mc, g, ss = cfg.audio_model_channels, cfg.groups, cfg.use_scale_shift_norm
        self.mc = mc
        self.time_embed = nn.Sequential(nn.Linear(mc, mc), nn.SiLU(), nn.Linear(mc, mc))
        spatial = cfg.audio_init_spatial_dim
        self.input_block = Step(
            nn.Conv1d(cfg.audio_dim, spatial, 3, padding=1), GroupNorm32(g, spatial), nn.SiLU()
        )
        ch = cfg.audio_channel_mult[0] * mc
        self.dtype = torch.float32  # of the convolutions: fp16 after convert_to_fp16
        self.encoder_blocks = nn.ModuleList([Step(nn.Conv2d(1, ch, 3, padding=1))])
        ds = 1
        last = len(cfg.audio_channel_mult) - 1
        for level, mult in enumerate(cfg.audio_channel_mult):
            for _ in range(cfg.audio_num_res_blocks):
                self.encoder_blocks.append(
                    Step(ResBlock(ch, mc, mult * mc, groups=g, scale_shift=ss))
                )
                ch = mult * mc
            if level != last:
                stride = (2, 1) if spatial // ds > cfg.audio_frames else (2, 2)
                self.encoder_blocks.append(Step(_down(ch, mc, cfg, stride)))
                ds *= 2
        self.out_channels = cfg.audio_channel_mult[-1] * mc
        self.middle_block = Step(ResBlock(ch, mc, self.out_channels, groups=g, scale_shift=ss))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        t = torch.zeros(mel.shape[0], dtype=torch.long, device=mel.device)
        emb = self.time_embed(timestep_embedding(t, self.mc))
        h = self.input_block(mel.to(self.dtype), emb)[:, None]  # (B, 64, 16) -> (B, 1, 64, 16)
        for block in self.encoder_blocks:
            h = block(h, emb)
        return self.middle_block(h, emb)


def _down(ch: int, emb: int, cfg: UNetConfig, stride: tuple[int, int] = (2, 2)) -> nn.Module:
    if cfg.resblock_updown:
        return ResBlock(
            ch,
            emb,
            ch,
            groups=cfg.groups,
            scale_shift=cfg.use_scale_shift_norm,
            down=True,
            stride=stride,
        )
    return _Resample(ch, up=False, conv=True, stride=stride)


def _up(ch: int, emb: int, cfg: UNetConfig) -> nn.Module:
    if cfg.resblock_updown:
        return ResBlock(
            ch, emb, ch, groups=cfg.groups, scale_shift=cfg.use_scale_shift_norm, up=True
        )
    return _Resample(ch, up=True, conv=True)


class Diff2LipUNet(nn.Module):
    """TFGModel with use_ref, use_audio and audio_as_style (the released configuration).

    ``forward(x_t, t, cond, mask, style)``: ``cond`` is the masked face then the reference
    face (6 channels, upstream's ``cond_img`` and ``ref_img``); the input is
    ``cat(x_t * mask + (1 - mask) * cond_img, cond_img, ref_img)``. ``style`` is
    :meth:`encode_audio` of the mel windows, computed once per batch instead of per step:
    it does not depend on the step.
    """

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.config = cfg
        self.dtype = torch.float32  # of the torso: fp16 after convert_to_fp16
        mc, emb, g = cfg.model_channels, cfg.time_embed_dim, cfg.groups
        ss = cfg.use_scale_shift_norm
        mults = cfg.mults
        self.time_embed = nn.Sequential(nn.Linear(mc, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.audio_encoder = AudioEncoder(cfg)
        ach = self.audio_encoder.out_channels
        self.audio_encoder_to_style = nn.Sequential(
            GroupNorm32(g, ach),
            nn.SiLU(),
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Conv2d(ach, emb, 1),
            nn.Flatten(),
        )

        def res(ch: int, out: int) -> ResBlock:
            return ResBlock(ch, emb, out, groups=g, scale_shift=ss)

        def attn(ch: int) -> AttentionBlock:
            heads = cfg.num_heads if cfg.num_head_channels == -1 else ch // cfg.num_head_channels
            return AttentionBlock(ch, heads, groups=g, legacy=not cfg.use_new_attention_order)

        attn_ds = {cfg.image_size // r for r in cfg.attention_resolutions}
        ch = mults[0] * mc
        self.input_blocks = nn.ModuleList([Step(nn.Conv2d(cfg.in_channels, ch, 3, padding=1))])
        chans, ds = [ch], 1
        for level, mult in enumerate(mults):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [res(ch, mult * mc)]
                ch = mult * mc
                if ds in attn_ds:
                    layers.append(attn(ch))
                self.input_blocks.append(Step(*layers))
                chans.append(ch)
            if level != len(mults) - 1:
                self.input_blocks.append(Step(_down(ch, emb, cfg)))
                chans.append(ch)
                ds *= 2
        self.middle_block = Step(res(ch, ch), attn(ch), res(ch, ch))
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(mults))[::-1]:
            for i in range(cfg.num_res_blocks + 1):
                layers = [res(ch + chans.pop(), mc * mult)]
                ch = mc * mult
                if ds in attn_ds:
                    layers.append(attn(ch))
                if level and i == cfg.num_res_blocks:
                    layers.append(_up(ch, emb, cfg))
                    ds //= 2
                self.output_blocks.append(Step(*layers))
        self.out = nn.Sequential(
            GroupNorm32(g, ch), nn.SiLU(), nn.Conv2d(mults[0] * mc, cfg.out_channels, 3, padding=1)
        )

    def convert_to_fp16(self) -> None:
        """Upstream's ``use_fp16``: fp16 weights for the convolutions of the input, middle and
        output blocks and of the audio encoder and its style head; group norms compute in
        fp32 and hand back fp16; linear layers and the output head keep fp32."""
        for part in (
            self.input_blocks,
            self.middle_block,
            self.output_blocks,
            self.audio_encoder,
            self.audio_encoder_to_style,
        ):
            for module in part.modules():
                if isinstance(module, (nn.Conv1d, nn.Conv2d)):
                    module.half()
        for module in self.modules():
            if isinstance(module, GroupNorm32):
                module.upcast = True
        self.dtype = self.audio_encoder.dtype = torch.float16

    def encode_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, 80, 16) mel windows -> (B, time_embed_dim) style added to the time embedding."""
        return self.audio_encoder_to_style(self.audio_encoder(mel))

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        cond: torch.Tensor,
        mask: torch.Tensor,
        style: torch.Tensor,
    ) -> torch.Tensor:
        cond_img = cond[:, :3]
        x = torch.cat([x * mask + (1 - mask) * cond_img, cond], dim=1)
        emb = self.time_embed(timestep_embedding(t, self.config.model_channels)) + style
        hs, h = [], x.to(self.dtype)
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h.float() if self.dtype == torch.float16 else h)  # the head: fp32


def build_model(cfg: UNetConfig) -> Diff2LipUNet:
    """The network for ``cfg`` with fresh weights."""
    return Diff2LipUNet(cfg)
