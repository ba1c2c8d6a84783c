"""Diff2Lip backend: network layout, checkpoint loading, mel features, DDIM, still-photo frames.

Full-size tests build the released architecture with random weights (loading and timing do
not depend on the values); everything else uses the tiny configuration.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

# the diff2lip extra: make test installs it, so a missing one fails here instead of skipping
import torch  # noqa: E402

if TYPE_CHECKING:
    from torch import Tensor

from engine.errors import BackendUnavailable  # noqa: E402
from engine.lipsync.diff2lip import Diff2LipBackend, check  # noqa: E402
from engine.lipsync.diff2lip.config import (  # noqa: E402
    FULL_CONFIG,
    TINY_CONFIG,
    config_from_overrides,
    load_config,
)
from engine.lipsync.diff2lip.crop import face_box  # noqa: E402
from engine.lipsync.diff2lip.mel import mel_windows, melspectrogram, to_16k  # noqa: E402
from engine.lipsync.diff2lip.sampler import DDIMSampler, space_timesteps  # noqa: E402
from engine.lipsync.diff2lip.unet import build_model  # noqa: E402
from engine.settings import EngineSettings  # noqa: E402
from engine.types import Audio, FaceBox, FaceLandmarks, Portrait, RenderOptions, Speech  # noqa: E402
from tests.auxil.diff2lip_models import tiny_config_json, write_random_checkpoint  # noqa: E402
from tests.auxil.lipsync_checks import assert_pasted_seamlessly  # noqa: E402


def _portrait(h: int = 200, w: int = 160) -> Portrait:
    rng = np.random.default_rng(1)
    img = rng.integers(60, 200, (h, w, 3), dtype=np.uint8)
    pts = np.array([[60, 140], [80, 148], [100, 140], [80, 134]], np.float32)
    jaw = np.array([[30, 80], [40, 150], [80, 175], [120, 150], [130, 80]], np.float32)
    eye = np.array([[55, 90], [65, 90]], np.float32)
    lm = FaceLandmarks(
        outer_lips=pts,
        inner_lips=pts,
        left_eye=eye + [50, 0],
        right_eye=eye,
        jaw=jaw,
        nose_tip=(80.0, 120.0),
    )
    return Portrait(image=img, face=FaceBox(30, 60, 100, 115), landmarks=lm)


def _speech(seconds: float = 0.6, rate: int = 22050, silent: bool = False) -> Speech:
    t = np.arange(int(seconds * rate)) / rate
    wave = np.zeros_like(t) if silent else 0.3 * np.sin(2 * np.pi * 180 * t) * np.sin(9 * t)
    return Speech(audio=Audio(wave.astype(np.float32), rate))


def _settings(ckpt: Path, **kw: object) -> EngineSettings:
    return EngineSettings(
        lipsync="diff2lip", lipsync_model=str(ckpt), lipsync_config="tiny", device="cpu", **kw
    )  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("d2l") / "tiny.pt", full_size=False)


@pytest.fixture(scope="module")
def tiny(tiny_ckpt: Path) -> Diff2LipBackend:
    return Diff2LipBackend(_settings(tiny_ckpt, lipsync_batch=4))


# --- network layout --------------------------------------------------------------------------


def test_full_network_has_the_released_layout() -> None:
    """Key names and shapes of TFGModel(use_ref, audio_as_style) at the paper's flags."""
    model = build_model(FULL_CONFIG)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert len(shapes) == 632
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(101.67e6, rel=1e-3)
    assert shapes["input_blocks.0.0.weight"] == (128, 9, 3, 3)  # 3 x (1 + 1 + nrefer)
    assert shapes["input_blocks.1.0.emb_layers.1.weight"] == (128, 512)  # no scale-shift
    assert shapes["input_blocks.3.0.in_layers.2.weight"] == (128, 128, 3, 3)  # resblock down
    assert shapes["input_blocks.13.0.skip_connection.weight"] == (512, 384, 1, 1)  # mult 3 -> 4
    assert shapes["middle_block.1.qkv.weight"] == (1536, 512, 1)
    assert shapes["output_blocks.2.2.in_layers.2.weight"] == (512, 512, 3, 3)  # attn, then up
    assert shapes["out.2.weight"] == (6, 128, 3, 3)  # learn_sigma
    assert shapes["audio_encoder.input_block.0.weight"] == (64, 80, 3)
    assert shapes["audio_encoder.encoder_blocks.0.0.weight"] == (32, 1, 3, 3)
    assert shapes["audio_encoder.middle_block.0.out_layers.3.weight"] == (128, 128, 3, 3)
    assert shapes["audio_encoder_to_style.3.weight"] == (512, 128, 1, 1)
    attn = {k.split(".")[1] for k in shapes if k.startswith("input_blocks") and ".qkv." in k}
    assert attn == {"7", "8", "10", "11", "13", "14"}  # feature maps 32, 16 and 8
    with torch.inference_mode():
        assert tuple(model.audio_encoder(torch.zeros(2, 80, 16)).shape) == (2, 128, 8, 8)
        assert tuple(model.encode_audio(torch.zeros(2, 80, 16)).shape) == (2, 512)


def test_attention_uses_the_legacy_head_order() -> None:
    """Against QKVAttentionLegacy written out: heads split before q/k/v, ch**-0.25 scaling."""
    torch.manual_seed(0)
    block = build_model(TINY_CONFIG).middle_block[1]
    x = torch.randn(2, 64, 4, 4)
    with torch.no_grad():
        qkv = block.qkv(block.norm(x.reshape(2, 64, 16)))
        heads, ch = block.heads, 64 // block.heads
        q, k, v = qkv.reshape(2 * heads, 3 * ch, 16).split(ch, dim=1)
        s = 1 / math.sqrt(math.sqrt(ch))
        w = torch.softmax(torch.einsum("bct,bcs->bts", q * s, k * s), dim=-1)
        h = torch.einsum("bts,bcs->bct", w, v).reshape(2, 64, 16)
        ref = x.reshape(2, 64, 16) + block.proj_out(h)
        torch.testing.assert_close(block(x), ref.reshape(2, 64, 4, 4), atol=1e-5, rtol=1e-5)


def test_fp16_is_upstreams_use_fp16() -> None:
    """guided-diffusion's ``convert_to_fp16``: fp16 weights on the convolutions of the input,
    middle and output blocks, the audio encoder and its style head, nothing else; group norms
    compute in fp32 and hand back fp16; the timestep + style embedding reaches every ResBlock
    in fp32; the output head runs in fp32 on fp32 input."""
    from torch import nn

    from engine.lipsync.diff2lip.unet import GroupNorm32, ResBlock

    torch.manual_seed(0)
    model = build_model(TINY_CONFIG).eval()
    s = TINY_CONFIG.image_size
    args = (torch.randn(1, 3, s, s), torch.tensor([500]), torch.randn(1, 6, s, s))
    mask = torch.zeros(1, 1, s, s)
    mask[..., s // 2 :, :] = 1
    mel = torch.rand(1, 80, 16) * 8 - 4
    with torch.inference_mode():
        ref = model(*args, mask, model.encode_audio(mel))
    model.convert_to_fp16()
    torso = ("input_blocks", "middle_block", "output_blocks", "audio_encoder", "audio_encoder_")
    convs = {
        f"{name}.{p}"
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv1d, nn.Conv2d)) and name.startswith(torso)
        for p, _ in m.named_parameters()
    }
    halves = {n for n, p in model.named_parameters() if p.dtype == torch.float16}
    assert halves == convs and any(n.startswith("audio_encoder_to_style") for n in halves)

    seen: list[str] = []

    def norm_hook(m: Any, a: tuple[Tensor, ...], out: Tensor) -> None:
        if a[0].dtype == torch.float16:
            full = torch.nn.functional.group_norm(a[0].float(), m.num_groups, m.weight, m.bias)
            assert out.dtype == torch.float16 and torch.equal(out, full.half())
            seen.append("norm")

    def emb_hook(m: Any, a: tuple[Tensor, ...]) -> None:
        assert a[1].dtype == torch.float32
        seen.append("emb")

    for m in model.modules():
        if isinstance(m, GroupNorm32):
            m.register_forward_hook(norm_hook)
        elif isinstance(m, ResBlock):
            m.register_forward_pre_hook(emb_hook)
    model.out.register_forward_pre_hook(lambda m, a: seen.append(str(a[0].dtype)))
    with torch.inference_mode():
        got = model(*args, mask, model.encode_audio(mel))
    assert {"norm", "emb", "torch.float32"} <= set(seen)
    assert got.dtype == torch.float32
    err = float((got - ref).norm() / ref.norm())
    assert 0 < err < 1e-2  # really computed in fp16, and close to fp32


def test_fp16_setting_converts_and_auto_stays_fp32_on_cpu(tiny_ckpt: Path) -> None:
    be = Diff2LipBackend(_settings(tiny_ckpt, lipsync_precision="fp16"))
    assert be.precision == "fp16" and be.amp_dtype is None
    assert be.model.input_blocks[0][0].weight.dtype == torch.float16
    frame = next(
        be.frames(_portrait(), _speech(), n_frames=1, options=RenderOptions(lipsync_steps=2))
    )
    assert frame.shape == _portrait().image.shape
    auto = Diff2LipBackend(_settings(tiny_ckpt))
    assert auto.precision == "fp32"
    assert all(p.dtype == torch.float32 for p in auto.model.parameters())


def test_input_is_masked_noise_then_cond_then_reference() -> None:
    """x_t enters only below the mask; above it the masked frame replaces it (upstream)."""
    torch.manual_seed(0)
    model = build_model(TINY_CONFIG).eval()
    seen: list[Tensor] = []
    model.input_blocks[0].register_forward_hook(lambda m, a, o: seen.append(a[0]))
    s = TINY_CONFIG.image_size
    x, cond = torch.randn(1, 3, s, s), torch.randn(1, 6, s, s)
    mask = torch.zeros(1, 1, s, s)
    mask[..., s // 2 :, :] = 1
    with torch.inference_mode():
        model(x, torch.tensor([10]), cond, mask, torch.zeros(1, TINY_CONFIG.time_embed_dim))
    got = seen[0]
    torch.testing.assert_close(got[:, :3, : s // 2], cond[:, :3, : s // 2])
    torch.testing.assert_close(got[:, :3, s // 2 :], x[:, :, s // 2 :])
    torch.testing.assert_close(got[:, 3:], cond)


# --- checkpoint loading ----------------------------------------------------------------------


def test_wrapped_and_prefixed_checkpoints_load(tmp_path: Path, tiny_ckpt: Path) -> None:
    ref = torch.load(tiny_ckpt, weights_only=True)
    wrapped = write_random_checkpoint(
        tmp_path / "w.pt", full_size=False, prefix="module.", wrap="state_dict"
    )
    be = Diff2LipBackend(_settings(wrapped))
    torch.testing.assert_close(be.model.state_dict()["out.2.weight"], ref["out.2.weight"])


def test_wrong_checkpoint_names_keys(tmp_path: Path, tiny_ckpt: Path) -> None:
    state = torch.load(tiny_ckpt, weights_only=True)
    state.pop("out.2.bias")
    state["bogus.weight"] = torch.zeros(1)
    state["time_embed.0.weight"] = torch.zeros(3, 3)
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(BackendUnavailable) as err:
        Diff2LipBackend(_settings(bad))
    msg = str(err.value)
    assert "missing keys: out.2.bias" in msg
    assert "unexpected keys: bogus.weight" in msg
    assert "time_embed.0.weight (3, 3) (expected (128, 32))" in msg
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(BackendUnavailable, match="unreadable"):
        Diff2LipBackend(_settings(corrupt))


def test_tiny_checkpoint_does_not_fit_the_paper_network(tiny_ckpt: Path) -> None:
    with pytest.raises(BackendUnavailable, match="wrong shapes"):
        Diff2LipBackend(replace(_settings(tiny_ckpt), lipsync_config=""))


def test_sha256_pin_is_enforced(tiny_ckpt: Path) -> None:
    with pytest.raises(BackendUnavailable, match="SHA-256"):
        Diff2LipBackend(_settings(tiny_ckpt, lipsync_model_sha256="0" * 64))


def test_config_override(tmp_path: Path) -> None:
    assert load_config("") == FULL_CONFIG
    assert load_config(tiny_config_json()) == TINY_CONFIG
    path = tmp_path / "variant.json"
    path.write_text(json.dumps({"num_channels_ignored": 1}))
    with pytest.raises(ValueError, match="num_channels_ignored"):
        load_config(str(path))
    path.write_text(json.dumps({"image_size": 256, "attention_resolutions": "32,16"}))
    cfg = load_config(str(path))
    assert cfg.mults == (1, 1, 2, 3, 4, 4) and cfg.attention_resolutions == (32, 16)
    with pytest.raises(ValueError, match="image_size"):
        config_from_overrides({"image_size": 96}).mults  # noqa: B018


def test_check_reports_missing_checkpoint(tmp_path: Path) -> None:
    none = EngineSettings(lipsync_model="", models_dir=tmp_path)
    assert "no checkpoint" in (check(none) or "")
    assert "not found" in (check(EngineSettings(lipsync_model=str(tmp_path / "x.pt"))) or "")
    default = tmp_path / "diff2lip" / "e7.24.1.3_model260000_paper.pt"
    default.parent.mkdir()
    default.write_bytes(b"x")
    assert check(none) is None  # found in the default place


# --- mel features ----------------------------------------------------------------------------


def _reference_logmel(wav: np.ndarray) -> np.ndarray:
    """Wav2Lip's recipe written out independently: loops, a plain DFT, Slaney filters."""
    sr, n_fft, hop, n_mels = 16000, 800, 200, 80
    y = np.empty(len(wav))
    y[0] = wav[0]
    y[1:] = wav[1:] - 0.97 * wav[:-1]  # pre-emphasis
    padded = np.concatenate([np.zeros(400), y, np.zeros(400)])  # centred, zeros (librosa 0.9)

    def hz_to_mel(f: float) -> float:  # Slaney (librosa htk=False)
        return f / (200 / 3) if f < 1000 else 15 + math.log(f / 1000) * 27 / math.log(6.4)

    def mel_to_hz(m: float) -> float:
        return m * (200 / 3) if m < 15 else 1000 * math.exp((m - 15) * math.log(6.4) / 27)

    lo, hi = hz_to_mel(55), hz_to_mel(7600)
    edges = [mel_to_hz(lo + (hi - lo) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    freqs = [k * sr / n_fft for k in range(n_fft // 2 + 1)]
    basis = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        a, b, c = edges[m], edges[m + 1], edges[m + 2]
        for k, f in enumerate(freqs):
            w = (f - a) / (b - a) if a <= f <= b else (c - f) / (c - b) if b < f <= c else 0.0
            basis[m, k] = w * 2 / (c - a)  # area normalisation
    n = np.arange(n_fft)
    win = 0.5 * (1 - np.cos(2 * np.pi * n / n_fft))  # periodic Hann
    bins = np.arange(n_fft // 2 + 1)[:, None]
    cos, sin = np.cos(2 * np.pi * bins * n / n_fft), np.sin(2 * np.pi * bins * n / n_fft)
    cols = []
    for start in range(0, len(padded) - n_fft + 1, hop):
        seg = padded[start : start + n_fft] * win
        cols.append(np.hypot(cos @ seg, sin @ seg))
    mel = basis @ np.array(cols).T
    db = 20 * np.log10(np.maximum(1e-5, mel)) - 20
    return np.clip(8 * (db + 100) / 100 - 4, -4, 4)


def test_mel_matches_an_independent_implementation() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(8000) / 16000
    wav = 0.4 * np.sin(2 * np.pi * 220 * t) * np.sin(7 * t) + 0.05 * rng.standard_normal(8000)
    ours = melspectrogram(wav.astype(np.float32))
    ref = _reference_logmel(wav.astype(np.float32).astype(np.float64))
    assert ours.shape == ref.shape == (80, 41)
    np.testing.assert_allclose(ours, ref, atol=2e-4)


def test_mel_edges_are_zero_padded_like_librosa_0_9_2() -> None:
    """The frames that reach past the clip (0, 1 and the last two) see zeros there, as
    upstream's librosa 0.9.2 ``stft`` default (``pad_mode="constant"``) gives them."""
    rng = np.random.default_rng(5)
    t = np.arange(6100) / 16000  # loud from the first sample to the last, not a whole hop
    wav = 0.5 * np.sin(2 * np.pi * 180 * t) + 0.2 * rng.standard_normal(len(t))
    ours = melspectrogram(wav.astype(np.float32))
    ref = _reference_logmel(wav.astype(np.float32).astype(np.float64))
    assert ours.shape == ref.shape == (80, 1 + 6100 // 200)
    for frame in (0, 1, ours.shape[1] - 2, ours.shape[1] - 1):
        assert ref[:, frame].max() > -3.0  # sound reaches these frames: the test can tell
        np.testing.assert_allclose(ours[:, frame], ref[:, frame], atol=2e-4, err_msg=str(frame))
    np.testing.assert_allclose(ours[:, 2:-2], ref[:, 2:-2], atol=2e-4)


def test_mel_known_values() -> None:
    """Silence is -4 everywhere; a 1 kHz tone peaks in the filter centred nearest 1 kHz."""
    assert np.all(melspectrogram(np.zeros(3200, np.float32)) == -4.0)
    t = np.arange(16000) / 16000
    mel = melspectrogram((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    peak = int(np.argmax(mel[:, 40]))
    lo, hi = 55 * 3 / 200, 15 + math.log(7600 / 1000) * 27 / math.log(6.4)
    centres = [lo + (hi - lo) * (i + 1) / 81 for i in range(80)]
    assert peak == int(np.argmin([abs(c - 15.0) for c in centres]))  # 1 kHz is mel 15


def test_mel_windows_follow_generate_py_indexing() -> None:
    wav = to_16k(_speech(1.0).audio.samples, 22050)
    assert abs(len(wav) - 16000) <= 1
    mel = melspectrogram(wav)
    wins = mel_windows(mel, 30, 25)
    assert wins.shape == (30, 80, 16)
    np.testing.assert_array_equal(wins[0], mel[:, 0:16])
    np.testing.assert_array_equal(wins[1], mel[:, 0:16])  # frame id 2 - 2 = 0
    np.testing.assert_array_equal(wins[2], mel[:, 3:19])  # int(80 * 1 / 25)
    np.testing.assert_array_equal(wins[10], mel[:, 28:44])  # int(80 * 9 / 25)
    assert np.all(wins[-1] == -4.0)  # past the audio: silence


# --- sampler ---------------------------------------------------------------------------------


def test_timestep_spacing_matches_guided_diffusion() -> None:
    assert DDIMSampler(25).timesteps() == list(range(960, -1, -40))  # "ddim25": stride 40
    assert DDIMSampler(10).timesteps() == list(range(900, -1, -100))
    assert DDIMSampler(30).timesteps()[:2] == [986, 952]  # stride 34, ceil(1000 / 34) = 30
    assert len(space_timesteps(1000, 37)) == 37  # no integer stride: the section rule
    assert space_timesteps(1000, 37)[-1] == 999
    for bad in (0, 101):
        with pytest.raises(ValueError):
            DDIMSampler(bad)


def test_ddim_steps_use_respaced_alphas_and_original_timesteps() -> None:
    s = DDIMSampler(steps=2)
    assert s.timesteps() == [500, 0]
    ac = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    x = torch.full((1, 1, 1, 1), 0.3)
    seen: list[int] = []

    def eps_fn(xt: Tensor, t: Tensor) -> Tensor:
        seen.append(int(t[0]))
        return torch.full_like(xt, 0.5)

    out = s.sample(eps_fn, x)
    assert seen == [500, 0]
    v = 0.3
    for t, prev in ((500, ac[0]), (0, 1.0)):  # by hand: clip x0, re-derive eps, eta = 0
        x0 = min(1.0, max(-1.0, (v - math.sqrt(1 - ac[t]) * 0.5) / math.sqrt(ac[t])))
        eps = (v - math.sqrt(ac[t]) * x0) / math.sqrt(1 - ac[t])
        v = math.sqrt(prev) * x0 + math.sqrt(1 - prev) * eps
    assert float(out) == pytest.approx(v, abs=1e-5)


def test_ddim_with_exact_eps_recovers_x0() -> None:
    s = DDIMSampler(steps=5)
    x0 = torch.rand(1, 3, 4, 4) * 2 - 1
    ac = torch.tensor(s.alphas_cumprod(), dtype=torch.float32)
    t0 = s.timesteps()[0]
    xt = ac[t0].sqrt() * x0 + (1 - ac[t0]).sqrt() * torch.randn_like(x0)

    def eps_fn(x: Tensor, t: Tensor) -> Tensor:
        a = ac[t[0]]
        return (x - a.sqrt() * x0) / (1 - a).sqrt()

    torch.testing.assert_close(s.sample(eps_fn, xt), x0, atol=1e-4, rtol=0)


# --- still-photo pipeline (tiny network) -----------------------------------------------------


def test_conditioning_hides_the_lower_half_under_the_shared_noise(tiny: Diff2LipBackend) -> None:
    from engine.lipsync.diff2lip.crop import make_crop

    crop = make_crop(_portrait(), 32)
    noise, cond, mask = tiny._conditioning(crop, seed=5)
    face = torch.from_numpy(crop.face).permute(2, 0, 1)
    torch.testing.assert_close(cond[0, :3, :16], face[:, :16])
    torch.testing.assert_close(cond[0, :3, 16:], noise[0, :, 16:])
    torch.testing.assert_close(cond[0, 3:], face)
    again, _, _ = tiny._conditioning(crop, seed=5)
    torch.testing.assert_close(noise, again)


def test_tiny_frames_are_seamless_deterministic_and_seeded(tiny: Diff2LipBackend) -> None:
    p, sp = _portrait(), _speech()
    opts = RenderOptions(lipsync_steps=3, seed=7)
    frames = list(tiny.frames(p, sp, n_frames=10, options=opts))
    assert len(frames) == 10
    assert all(f.shape == p.image.shape and f.dtype == np.uint8 for f in frames)
    assert_pasted_seamlessly(frames[0], p.image, face_box(p))
    again = list(tiny.frames(p, sp, n_frames=10, options=opts))
    assert all(np.array_equal(a, b) for a, b in zip(frames, again, strict=True))
    other = next(tiny.frames(p, sp, n_frames=1, options=replace(opts, seed=8)))
    assert not np.array_equal(other, frames[0])
    assert (tiny.estimate_seconds(10, opts) or 0) > 0


def test_identical_mel_windows_are_generated_once(tiny_ckpt: Path) -> None:
    calls: list[int] = []

    class Counting(DDIMSampler):
        def sample(self, eps_fn: Any, noise: Any, on_step: Any = None) -> Any:
            calls.append(int(noise.shape[0]))
            return super().sample(eps_fn, noise, on_step)

    be = Diff2LipBackend(_settings(tiny_ckpt, lipsync_batch=4), sampler_factory=Counting)
    frames = list(
        be.frames(
            _portrait(),
            _speech(0.5, silent=True),
            n_frames=12,
            options=RenderOptions(lipsync_steps=2),
        )
    )
    assert len(frames) == 12 and calls == [1]  # silence: one crop for all 12 frames
    assert all(np.array_equal(f, frames[0]) for f in frames)


def test_a_reused_crop_survives_the_new_ones_of_its_batch(
    tiny: Diff2LipBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # batch 4 keeps 8 crops; the third batch reuses the oldest (A) and adds three new ones,
    # which evict A from the cache before the batch is pasted
    import engine.lipsync.diff2lip as d2l

    order = "ABCDEFGHAIJK"
    windows = np.stack([np.full((80, 16), float(ord(c)), np.float32) for c in order])
    monkeypatch.setattr(d2l, "mel_windows", lambda mel, n, fps: windows[:n])
    s = tiny.cfg.image_size

    def fake(mel: np.ndarray, *args: object) -> list[np.ndarray]:
        return [np.full((s, s, 3), m[0, 0] / 100 - 0.7, np.float32) for m in mel]

    monkeypatch.setattr(tiny, "_fitting", fake)
    frames = list(tiny.frames(_portrait(), _speech(0.5), n_frames=12, options=RenderOptions()))
    assert len(frames) == 12 and np.array_equal(frames[8], frames[0])


def test_batch_defaults_to_one_on_cpu(tiny_ckpt: Path) -> None:
    assert Diff2LipBackend(_settings(tiny_ckpt)).batch == 1


def test_bad_settings_are_refused(tiny_ckpt: Path) -> None:
    with pytest.raises(ValueError, match="PRECISION"):
        Diff2LipBackend(_settings(tiny_ckpt, lipsync_precision="fp8"))
    with pytest.raises(ValueError, match="BATCH"):
        Diff2LipBackend(_settings(tiny_ckpt, lipsync_batch=-1))


def test_bf16_autocast_on_cpu_runs(tiny_ckpt: Path) -> None:
    be = Diff2LipBackend(_settings(tiny_ckpt, lipsync_precision="bf16"))
    opts = RenderOptions(lipsync_steps=2)
    frame = next(be.frames(_portrait(), _speech(), n_frames=1, options=opts))
    assert frame.shape == _portrait().image.shape


def test_out_of_memory_halves_the_batch_then_gives_a_transient_error(tiny_ckpt: Path) -> None:
    from engine.errors import TransientError

    be = Diff2LipBackend(_settings(tiny_ckpt, lipsync_batch=4))
    real = be._generate
    sizes: list[int] = []

    def small_device(mel, *args):  # type: ignore[no-untyped-def]
        sizes.append(len(mel))
        if len(mel) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(mel, *args)

    be._generate = small_device  # type: ignore[method-assign]
    opts = RenderOptions(lipsync_steps=2, seed=3)
    frames = list(be.frames(_portrait(), _speech(), n_frames=4, options=opts))
    assert len(frames) == 4 and be.batch == 1
    assert sizes[0] > 1 and 1 in sizes  # halved until it fitted...
    assert sizes[-1] == 1  # ...and the later batches stay small

    def no_memory(mel, *args):  # type: ignore[no-untyped-def]
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    be._generate = no_memory  # type: ignore[method-assign]
    with pytest.raises(TransientError, match="out of memory"):
        list(be.frames(_portrait(), _speech(), n_frames=2, options=opts))
