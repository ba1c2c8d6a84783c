"""Our NeuCodec rebuild: published key layout, local loading, clear errors for bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import BackendUnavailable
from engine.tts._neucodec import CodecConfig, NeuCodecDecoder, NeuCodecEncoder, load_codec

# Names from neuphonic/neucodec's modules (model.py, codec_decoder_vocos.py, codec_encoder.py,
# module.py): the published pytorch_model.bin uses exactly these.
PUBLISHED_DECODER_KEYS = {
    "fc_post_a.weight": (1024, 2048),
    "generator.quantizer.project_in.weight": (8, 2048),
    "generator.quantizer.project_out.weight": (2048, 8),
    "generator.backbone.embed.weight": (1024, 1024, 7),
    "generator.backbone.prior_net.0.norm1.weight": (1024,),
    "generator.backbone.transformers.11.att.c_attn.weight": (3072, 1024),
    "generator.backbone.transformers.0.mlp.fc1.weight": (4096, 1024),
    "generator.backbone.final_layer_norm.bias": (1024,),
    "generator.backbone.post_net.1.conv2.weight": (1024, 1024, 3),
    "generator.head.out.weight": (1922, 1024),
    "generator.head.istft.window": (1920,),
}
PUBLISHED_ENCODER_KEYS = {
    "CodecEnc.conv_blocks.0.weight_v": (48, 1, 7),
    "CodecEnc.conv_blocks.1.block.0.block.0.act.alpha": (48,),
    "CodecEnc.conv_blocks.1.block.0.block.0.upsample.filter": (1, 1, 12),
    "CodecEnc.conv_blocks.1.block.0.block.0.downsample.lowpass.filter": (1, 1, 12),
    "CodecEnc.conv_blocks.5.block.4.weight_g": (1536, 1, 1),
    "CodecEnc.conv_final_block.1.weight_v": (1024, 1536, 3),
    "SemanticEncoder_module.initial_conv.weight": (1024, 1024, 3),
    "SemanticEncoder_module.residual_blocks.1.bias": (1024,),
    "fc_prior.weight": (2048, 2048),
}


def test_full_size_modules_have_the_published_key_layout() -> None:
    """Built on the meta device: shapes and names without allocating 800 M parameters."""
    with torch.device("meta"):
        decoder = NeuCodecDecoder(CodecConfig())
        encoder = NeuCodecEncoder(CodecConfig(), torch.nn.Identity())
    dec = {k: tuple(v.shape) for k, v in decoder.state_dict().items()}
    enc = {k: tuple(v.shape) for k, v in encoder.state_dict().items()}
    for key, shape in PUBLISHED_DECODER_KEYS.items():
        assert dec.get(key) == shape, key
    for key, shape in PUBLISHED_ENCODER_KEYS.items():
        assert enc.get(key) == shape, key


def test_tiny_codec_encodes_at_50_hz_and_decodes_at_24_khz(tiny_models: tuple[Path, Path]) -> None:
    codec = load_codec(tiny_models[1])
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(16_000 * 2) * 0.1).astype(np.float32)
    codes = codec.encode(audio)
    assert codes.ndim == 1 and abs(len(codes) - 100) <= 1
    assert codes.min() >= 0 and codes.max() < 65_536
    out = codec.decode(codes)
    assert out.dtype == np.float32 and len(out) == len(codes) * 480
    assert np.isfinite(out).all()


def test_fsq_codes_decode_to_distinct_embeddings(tiny_models: tuple[Path, Path]) -> None:
    q = load_codec(tiny_models[1]).decoder.generator.quantizer
    with torch.no_grad():
        emb = q.decode(torch.tensor([[0, 1, 4, 65_535]]))
    assert len({tuple(np.round(e.numpy(), 5)) for e in emb[0]}) == 4


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_missing_and_unexpected_keys_are_named(
    tiny_models: tuple[Path, Path], tmp_path: Path
) -> None:
    folder = _copy(tiny_models[1], tmp_path / "codec")
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    del state["generator.head.out.weight"]
    state["generator.extra.weight"] = torch.zeros(1)
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(BackendUnavailable) as err:
        load_codec(folder)
    message = str(err.value)
    assert "pytorch_model.bin" in message
    assert "missing keys generator.head.out.weight" in message
    assert "unexpected keys generator.extra.weight" in message


def test_corrupt_and_absent_codec_files_fail_clearly(
    tiny_models: tuple[Path, Path], tmp_path: Path
) -> None:
    folder = _copy(tiny_models[1], tmp_path / "codec")
    data = (folder / "pytorch_model.bin").read_bytes()
    (folder / "pytorch_model.bin").write_bytes(data[: len(data) // 3])
    with pytest.raises(
        BackendUnavailable, match="cannot read NeuCodec weights .*pytorch_model.bin"
    ):
        load_codec(folder)
    with pytest.raises(BackendUnavailable, match="does not exist"):
        load_codec(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendUnavailable, match="no NeuCodec weights"):
        load_codec(tmp_path / "empty")
