"""MuseTalk 1.5 backend: configurations, strict loading, audio windows, crop, still-photo frames.

Layouts with random weights are written by the tests (tests/auxil/musetalk_models.py); the
tiny configuration keeps the real interfaces (8 -> 4 latents at 32 x 32, Whisper tiny's real
encoder, 256 x 256 crops) so everything but the network widths is what a real render runs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from engine.errors import BackendUnavailable  # noqa: E402
from engine.lipsync.musetalk import MuseTalkBackend, check, load_nets  # noqa: E402
from engine.lipsync.musetalk.audio import (  # noqa: E402
    SILENT_KEY,
    WhisperTrack,
    positional_encoding,
)
from engine.lipsync.musetalk.config import (  # noqa: E402
    UNET_CONFIG,
    VAE_CONFIG,
    WHISPER_CONFIG,
    Layout,
)
from engine.lipsync.musetalk.crop import face_box, frame_face  # noqa: E402
from engine.lipsync.musetalk.loading import build_unet, build_vae, build_whisper  # noqa: E402
from engine.settings import EngineSettings  # noqa: E402
from engine.types import Audio, FaceBox, FaceLandmarks, Portrait, RenderOptions, Speech  # noqa: E402
from tests.auxil.lipsync_checks import assert_pasted_seamlessly  # noqa: E402
from tests.auxil.musetalk_models import write_layout  # noqa: E402


def _portrait(h: int = 240, w: int = 200, top: int = 40) -> Portrait:
    rng = np.random.default_rng(1)
    img = rng.integers(60, 200, (h, w, 3), dtype=np.uint8)
    y = top
    lips = np.array([[75, y + 115], [100, y + 122], [125, y + 115], [100, y + 110]], np.float32)
    jaw = np.array(
        [[40, y + 50], [48, y + 110], [100, y + 145], [152, y + 110], [160, y + 50]], np.float32
    )
    eye = np.array([[65, y + 55], [85, y + 55]], np.float32)
    lm = FaceLandmarks(
        outer_lips=lips,
        inner_lips=lips,
        left_eye=eye + [50, 0],
        right_eye=eye,
        jaw=jaw,
        nose_tip=(100.0, y + 91.0),
    )
    return Portrait(image=img, face=FaceBox(40, y, 120, 145), landmarks=lm)


def _speech(seconds: float = 0.6, rate: int = 16000, silent: bool = False) -> Speech:
    t = np.arange(int(seconds * rate)) / rate
    wave = np.zeros_like(t) if silent else 0.3 * np.sin(2 * np.pi * 180 * t) * np.sin(9 * t)
    return Speech(audio=Audio(wave.astype(np.float32), rate))


def _settings(root: Path, **kw: object) -> EngineSettings:
    return EngineSettings(lipsync="musetalk", lipsync_model=str(root), device="cpu", **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_layout(tmp_path_factory.mktemp("musetalk") / "models")


@pytest.fixture(scope="module")
def tiny(tiny_root: Path) -> MuseTalkBackend:
    return MuseTalkBackend(_settings(tiny_root, lipsync_batch=4))


# --- configurations ----------------------------------------------------------------------------


def test_unet_configuration_is_the_released_musetalk_json() -> None:
    """musetalk.json: SD 1.x's UNet with 8 input channels (masked + reference latents), 4 out,
    cross-attention on 384-wide Whisper tokens; about 0.8 B parameters (unet.pth 3.4 GB)."""
    model = build_unet(UNET_CONFIG, meta=True)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["conv_in.weight"] == (320, 8, 3, 3)
    assert shapes["conv_out.weight"] == (4, 320, 3, 3)
    assert shapes["down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"] == (
        320,
        384,
    )
    assert shapes["mid_block.attentions.0.transformer_blocks.0.attn2.to_v.weight"] == (1280, 384)
    assert model.config.attention_head_dim == 8 and len(shapes) == 686
    params = sum(math.prod(s) for s in shapes.values())
    assert params == pytest.approx(0.8e9, rel=0.1)


def test_vae_configuration_is_sd_vae_ft_mse(tiny: MuseTalkBackend) -> None:
    with torch.device("meta"):
        vae = build_vae(VAE_CONFIG)
    assert vae.config.scaling_factor == pytest.approx(0.18215)
    assert sum(p.numel() for p in vae.parameters()) == 83_653_863  # the released file's
    assert tuple(vae.state_dict()["quant_conv.weight"].shape) == (8, 8, 1, 1)  # mean + logvar
    with torch.inference_mode():  # 256 x 256 -> 32 x 32 (the tiny one has the same stages)
        latent = tiny.nets.vae.encode(torch.zeros(1, 3, 256, 256)).latent_dist.mode()
    assert tuple(latent.shape) == (1, 4, 32, 32)


def test_whisper_configuration_is_whisper_tiny_encoder() -> None:
    with torch.device("meta"):
        enc = build_whisper(WHISPER_CONFIG)
    assert len(enc.layers) == 4 and tuple(enc.embed_positions.weight.shape) == (1500, 384)
    assert enc.conv1.in_channels == 80 and enc.layers[0].self_attn.num_heads == 6
    assert sum(p.numel() for p in enc.parameters()) == 8_208_384


# --- the released layout and strict loading -------------------------------------------------


def test_layout_names_what_is_missing(tmp_path: Path) -> None:
    assert "not a folder" in str(Layout.find(tmp_path / "nowhere"))
    (tmp_path / "musetalkV15").mkdir()
    (tmp_path / "musetalkV15" / "unet.pth").write_bytes(b"")
    found = Layout.find(tmp_path)
    assert isinstance(found, str)
    assert "sd-vae/diffusion_pytorch_model.safetensors" in found and "whisper/" in found
    assert "musetalkV15/unet.pth" not in found
    reason = check(_settings(tmp_path))
    assert reason and "mouthpiece models fetch musetalk" in reason


def test_check_looks_in_the_models_dir_by_default(tiny_root: Path) -> None:
    assert check(EngineSettings(models_dir=tiny_root.parent / "elsewhere")) is not None
    assert check(EngineSettings(models_dir=tiny_root.parent, lipsync_model="")) is not None
    assert check(_settings(tiny_root)) is None


def test_legacy_vae_attention_names_load(tmp_path: Path, tiny_root: Path) -> None:
    """sd-vae-ft-mse's files use diffusers' pre-0.14 attention names (query, proj_attn...)."""
    from safetensors.torch import load_file

    legacy = write_layout(tmp_path / "legacy", legacy_vae=True)
    names = load_file(str(legacy / "sd-vae" / "diffusion_pytorch_model.safetensors"))
    assert "encoder.mid_block.attentions.0.query.weight" in names
    nets = load_nets(_settings(legacy))
    want = names["decoder.mid_block.attentions.0.proj_attn.weight"]
    got = nets.vae.state_dict()["decoder.mid_block.attentions.0.to_out.0.weight"]
    torch.testing.assert_close(got, want)


def test_whisper_keys_come_from_the_whole_model_file(tiny_root: Path) -> None:
    from safetensors.torch import load_file

    nets = load_nets(_settings(tiny_root))
    saved = load_file(str(tiny_root / "whisper" / "model.safetensors"))
    torch.testing.assert_close(
        nets.whisper.state_dict()["layers.0.fc2.weight"], saved["model.encoder.layers.0.fc2.weight"]
    )


def test_a_wrong_unet_file_is_refused_naming_the_keys(tmp_path: Path) -> None:
    root = write_layout(tmp_path / "bad")
    unet = root / "musetalkV15" / "unet.pth"
    state = torch.load(unet, weights_only=True)
    del state["conv_out.bias"]
    state["conv_in.weight"] = torch.zeros(32, 4, 3, 3)  # no reference latents
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, unet)
    with pytest.raises(BackendUnavailable) as err:
        MuseTalkBackend(_settings(root))
    msg = str(err.value)
    assert f"musetalk file {unet} does not match its network" in msg
    assert "1 missing keys: conv_out.bias" in msg
    assert "1 unexpected keys: extra.weight" in msg
    assert "1 wrong shapes: conv_in.weight (32, 4, 3, 3) (expected (32, 8, 3, 3))" in msg


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    root = write_layout(tmp_path / "junk")
    (root / "whisper" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(BackendUnavailable, match="musetalk Whisper file .* is unreadable"):
        load_nets(_settings(root))


# --- audio windows ---------------------------------------------------------------------------


def _fake_encode(calls: list[int]) -> Any:
    """(1500, 5, 3) states that depend on the samples they come from (segment-local)."""

    def encode(samples: np.ndarray) -> np.ndarray:
        calls.append(len(samples))
        padded = np.zeros(480_000, np.float32)
        padded[: len(samples)] = samples
        frames = padded.reshape(1500, 320).mean(1)
        stages = np.arange(5, dtype=np.float32)[None, :, None]
        return (frames[:, None, None] + stages + np.arange(3, dtype=np.float32)).astype(np.float32)

    return encode


def _upstream_windows(samples: np.ndarray, fps: int, encode: Any) -> np.ndarray:
    """get_whisper_chunk written out as upstream does it: all segments, trim, pad, slice."""
    segments = [samples[i : i + 480_000] for i in range(0, len(samples), 480_000)]
    feats = np.concatenate([encode(s) for s in segments])
    feats = feats[: math.floor(len(samples) / 16000 * 50)]
    mult, pad = 50 / fps, math.ceil(50 / fps)
    zeros = np.zeros_like(feats[:1])
    feats = np.concatenate([np.repeat(zeros, pad * 2, 0), feats, np.repeat(zeros, pad * 6, 0)])
    out = []
    for i in range(math.floor(len(samples) / 16000 * fps)):
        clip = feats[math.floor(i * mult) : math.floor(i * mult) + 10]
        assert len(clip) == 10
        out.append(clip.reshape(-1, clip.shape[-1]))  # "b c h w -> b (c h) w"
    return np.stack(out)


@pytest.mark.parametrize("fps", [25, 30])
def test_windows_follow_upstream_across_segments(fps: int) -> None:
    rng = np.random.default_rng(0)
    samples = rng.standard_normal(int(16000 * 61.3)).astype(np.float32)  # three segments
    want = _upstream_windows(samples, fps, _fake_encode([]))
    calls: list[int] = []
    track = WhisperTrack(samples, len(want), fps, _fake_encode(calls))
    got = np.stack([track.window(i) for i in range(len(want))])
    np.testing.assert_array_equal(got, want)
    assert calls == [480_000, 480_000, len(samples) - 960_000]  # each segment encoded once
    assert len(track._segments) == 2  # memory stays flat


def test_frame_windows_span_80_ms_before_to_120_ms_after() -> None:
    track = WhisperTrack(np.ones(16000, np.float32), 25, 25, _fake_encode([]))
    assert [track.start(i) for i in (0, 1, 10)] == [-4, -2, 16]
    assert track.window(0).shape == (50, 3)
    assert not track.window(0)[:20].any()  # four padding frames x five stages
    assert track.window(0)[20:].all()


def test_silence_shares_one_key_and_speech_is_keyed_by_content() -> None:
    samples = np.zeros(32000, np.float32)
    samples[8000:16000] = np.sin(np.arange(8000) / 5.0)  # speech from 0.5 s to 1 s
    track = WhisperTrack(samples, 60, 25, _fake_encode([]))
    assert track.key(40) == track.key(45) == SILENT_KEY  # 1.6 s on: silence
    assert track.key(50) == SILENT_KEY  # after the speech: the video's tail
    assert track.key(14) != SILENT_KEY and track.key(14) != track.key(16)
    assert track.silent(5) and not track.silent(12)  # window of frame 12: 0.40-0.60 s


def test_positional_encoding_matches_musetalks_formula() -> None:
    d, n = 384, 50
    position = torch.arange(0, 5000, dtype=torch.float).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2).float() * (-math.log(10000.0) / d))
    pe = torch.zeros(5000, d)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)
    np.testing.assert_array_equal(positional_encoding(n, d), pe[:n].numpy())


def test_whisper_states_are_transformers_hidden_states(tiny: MuseTalkBackend) -> None:
    """The embeddings, the state after each layer, the last after the final layer norm."""
    x = (np.random.default_rng(2).standard_normal(16000) * 0.1).astype(np.float32)
    got = tiny.nets.encode_audio(x)
    with torch.inference_mode():
        out = tiny.nets.whisper(tiny.nets._features(x), output_hidden_states=True)
    want = torch.stack(out.hidden_states, dim=2)[0].numpy()
    assert got.shape == (1500, 2, 384)  # embeddings + one layer (the tiny encoder)
    np.testing.assert_array_equal(got, want)


# --- crop and the network calls ----------------------------------------------------------------


def test_face_box_centres_the_crop_on_the_nose_bridge() -> None:
    p = _portrait()  # eyes at y 95, nose tip 131, chin 185
    x0, y0, x1, y1 = face_box(p)
    mid = int(95 + (131 - 95) * 2 / 3)  # point 29
    assert (x0, x1) == (40, 160)
    assert y1 == 185 + 10  # v1.5's extra margin below the chin
    assert mid - y0 == 185 - mid  # the masked half starts at point 29 (before the margin)


def test_a_box_above_the_photo_is_filled_from_its_edge() -> None:
    p = _portrait(top=-20)
    image, crop, (top, left, h, w) = frame_face(p)
    assert crop.box[1] == 0 and top > 0 and left == 0 and (h, w) == p.image.shape[:2]
    np.testing.assert_array_equal(image[top:], p.image)
    np.testing.assert_array_equal(image[0], p.image[0])
    assert crop.face.shape == (256, 256, 3) and crop.face.min() >= -1 and crop.face.max() <= 1


def test_reference_latents_are_the_masked_then_the_full_crop(tiny: MuseTalkBackend) -> None:
    seen: list[Any] = []
    hook = tiny.nets.vae.encoder.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    face = np.random.default_rng(3).uniform(-1, 1, (256, 256, 3)).astype(np.float32)
    try:
        ref = tiny.nets.reference_latents(face)
    finally:
        hook.remove()
    x = torch.from_numpy(face).permute(2, 0, 1)
    torch.testing.assert_close(seen[0][0, :, :128], x[:, :128])
    assert (seen[0][0, :, 128:] == -1).all()  # the lower half is black
    torch.testing.assert_close(seen[0][1], x)
    assert tuple(ref.shape) == (1, 8, 32, 32)
    with torch.inference_mode():
        mean = tiny.nets.vae.encode(x[None]).latent_dist.mode() * 0.18215
    torch.testing.assert_close(ref[:, 4:], mean)


def test_one_unet_pass_at_timestep_zero_on_encoded_windows(tiny: MuseTalkBackend) -> None:
    seen: dict[str, Any] = {}

    def spy(_m: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        seen.update(timestep=args[1], audio=kwargs["encoder_hidden_states"], n=seen.get("n", 0) + 1)

    hook = tiny.nets.unet.register_forward_pre_hook(spy, with_kwargs=True)
    windows = np.random.default_rng(4).standard_normal((3, 50, 384)).astype(np.float32)
    ref = tiny.nets.reference_latents(np.zeros((256, 256, 3), np.float32))
    try:
        out = tiny.nets.generate(windows, ref)
    finally:
        hook.remove()
    assert seen["n"] == 1 and seen["timestep"].tolist() == [0]
    pe = torch.from_numpy(positional_encoding(50, 384))
    torch.testing.assert_close(seen["audio"], torch.from_numpy(windows) + pe)
    assert len(out) == 3 and out[0].shape == (256, 256, 3)
    assert all(o.min() >= -1 and o.max() <= 1 for o in out)


# --- still-photo frames ------------------------------------------------------------------------


def test_frames_are_seamless_and_deterministic(tiny: MuseTalkBackend) -> None:
    p, sp = _portrait(), _speech()
    frames = list(tiny.frames(p, sp, n_frames=4, options=RenderOptions()))
    assert len(frames) == 4
    assert all(f.shape == p.image.shape and f.dtype == np.uint8 for f in frames)
    assert_pasted_seamlessly(frames[3], p.image, face_box(p))
    again = list(tiny.frames(p, sp, n_frames=4, options=RenderOptions()))
    assert all(np.array_equal(a, b) for a, b in zip(frames, again, strict=True))
    assert (tiny.estimate_seconds(10, RenderOptions()) or 0) > 0


def test_silent_frames_are_generated_once(tiny: MuseTalkBackend) -> None:
    sizes: list[int] = []
    real = tiny.nets.generate

    def counting(windows: np.ndarray, *args: Any) -> list[np.ndarray]:
        sizes.append(len(windows))
        return real(windows, *args)

    tiny.nets.generate = counting  # type: ignore[method-assign]
    try:
        frames = list(
            tiny.frames(_portrait(), _speech(silent=True), n_frames=12, options=RenderOptions())
        )
    finally:
        tiny.nets.generate = real  # type: ignore[method-assign]
    assert len(frames) == 12 and sizes == [1]
    assert all(np.array_equal(f, frames[0]) for f in frames)


def test_a_face_at_the_top_edge_renders_at_the_photos_size(tiny: MuseTalkBackend) -> None:
    p = _portrait(top=-20)
    frame = next(tiny.frames(p, _speech(), n_frames=1, options=RenderOptions()))
    assert frame.shape == p.image.shape and frame.flags.c_contiguous
    np.testing.assert_array_equal(frame[:5], p.image[:5])


def test_batch_defaults_to_one_on_cpu_and_bad_settings_are_refused(tiny_root: Path) -> None:
    nets = load_nets(_settings(tiny_root))
    assert MuseTalkBackend(_settings(tiny_root), nets=nets).batch == 1
    with pytest.raises(ValueError, match="PRECISION"):
        MuseTalkBackend(_settings(tiny_root, lipsync_precision="fp8"), nets=nets)
    with pytest.raises(ValueError, match="BATCH"):
        MuseTalkBackend(_settings(tiny_root, lipsync_batch=-1), nets=nets)


def test_bf16_on_cpu_runs(tiny_root: Path) -> None:
    be = MuseTalkBackend(_settings(tiny_root, lipsync_precision="bf16"))
    assert be.nets.unet.conv_in.weight.dtype == torch.bfloat16
    assert be.nets.whisper.conv1.weight.dtype == torch.float32
    frame = next(be.frames(_portrait(), _speech(), n_frames=1, options=RenderOptions()))
    assert frame.shape == _portrait().image.shape


def test_out_of_memory_halves_the_batch(tiny_root: Path, tiny: MuseTalkBackend) -> None:
    be = MuseTalkBackend(_settings(tiny_root, lipsync_batch=4), nets=tiny.nets)
    real = be.nets.generate
    sizes: list[int] = []

    def small_device(windows: np.ndarray, *args: Any) -> list[np.ndarray]:
        sizes.append(len(windows))
        if len(windows) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(windows, *args)

    be.nets.generate = small_device  # type: ignore[method-assign]
    try:
        frames = list(be.frames(_portrait(), _speech(), n_frames=4, options=RenderOptions()))
    finally:
        be.nets.generate = real  # type: ignore[method-assign]
    assert len(frames) == 4 and be.batch == 1 and sizes[0] == 4 and sizes[-1] == 1
