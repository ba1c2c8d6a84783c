"""Tiny random-weight stand-ins for NeuTTS Air's two models, built in a second.

* :func:`build_tiny_gguf`: a Qwen2 GGUF with NeuTTS Air's vocabulary layout (byte-level BPE
  text tokens, the chat specials, ``<|speech_0|>`` .. ``<|speech_65535|>``), random weights.
  One residual-stream channel is held constant through every layer so that its output column
  acts as a logit bias: text tokens are pushed far down (a random model that emits raw byte
  tokens can stall detokenisers) and ``<|SPEECH_GENERATION_END|>`` gets a tunable chance, so
  generation ends on its own after a few dozen speech tokens.
* :func:`build_tiny_codec`: a NeuCodec with the real architecture at toy widths, saved as
  ``pytorch_model.bin`` + ``neucodec_config.json`` exactly as the backend loads them.

Nothing here touches the network.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SPEECH_TOKENS = 65_536
SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|TEXT_REPLACE|>",
    "<|TEXT_PROMPT_START|>",
    "<|TEXT_PROMPT_END|>",
    "<|SPEECH_REPLACE|>",
    "<|SPEECH_GENERATION_START|>",
    "<|SPEECH_GENERATION_END|>",
)
_MERGES = ("Ġ t", "Ġ a", "h e", "i n", "Ġt he")


def _byte_tokens() -> list[str]:
    """GPT-2's byte-to-unicode table: the 256 base tokens of a byte-level BPE vocabulary."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs, strict=True))
    return [chr(table[b]) for b in range(256)]


def neutts_vocab() -> tuple[list[str], list[int]]:
    """(tokens, token types) in NeuTTS Air's order: text, merges, specials, speech codes."""
    # text tokens: five that no phoneme string contains (upper case, digits), three it may
    extra = [f"Ġ{w}" for w in ("The", "Quick", "yoga", "XML", "gq", "2024", "Why", "gxy")]
    text = _byte_tokens() + [m.replace(" ", "") for m in _MERGES] + extra
    tokens = text + list(SPECIALS) + [f"<|speech_{i}|>" for i in range(SPEECH_TOKENS)]
    types = [1] * len(text) + [3] * len(SPECIALS) + [4] * SPEECH_TOKENS  # normal/control/user
    return tokens, types


def build_tiny_gguf(
    path: Path,
    *,
    n_embd: int = 32,
    n_layer: int = 2,
    n_head: int = 4,
    n_head_kv: int = 2,
    n_ff: int = 64,
    end_bias: float = 0.32,
    seed: int = 0,
    tokens: list[str] | None = None,
    types: list[int] | None = None,
) -> Path:
    """Write a tiny Qwen2 GGUF with the NeuTTS vocabulary (or ``tokens``) to ``path``."""
    import gguf

    if tokens is None or types is None:
        tokens, types = neutts_vocab()
    rng = np.random.default_rng(seed)
    n_vocab = len(tokens)
    end_id = tokens.index("<|SPEECH_GENERATION_END|>")
    speech = np.array([t.startswith("<|speech_") for t in tokens])

    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_name("tiny-neutts")
    w.add_context_length(2048)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_freq_base(1_000_000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(0)  # all F32
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(list(_MERGES))
    w.add_bos_token_id(tokens.index("<|endoftext|>"))
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_add_bos_token(False)

    def rand(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    emb = rand(n_vocab, n_embd, scale=1.0)
    emb[:, 0] = 50.0  # channel 0: constant through the network (see below), a logit bias
    w.add_tensor("token_embd.weight", emb)
    w.add_tensor("output_norm.weight", np.ones(n_embd, np.float32))
    out = rand(n_vocab, n_embd, scale=0.1)
    out[:, 0] = -8.0  # text and specials: never
    out[speech, 0] = 0.0
    out[end_id] = 0.0
    out[end_id, 0] = end_bias  # the end token: a fixed, tunable logit
    w.add_tensor("output.weight", out)
    head_dim = n_embd // n_head
    for i in range(n_layer):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(n_embd, np.float32))
        w.add_tensor(p + "attn_q.weight", rand(n_embd, n_embd))
        w.add_tensor(p + "attn_q.bias", rand(n_embd, scale=0.1))
        w.add_tensor(p + "attn_k.weight", rand(n_head_kv * head_dim, n_embd))
        w.add_tensor(p + "attn_k.bias", rand(n_head_kv * head_dim, scale=0.1))
        w.add_tensor(p + "attn_v.weight", rand(n_head_kv * head_dim, n_embd))
        w.add_tensor(p + "attn_v.bias", rand(n_head_kv * head_dim, scale=0.1))
        o = rand(n_embd, n_embd)
        o[0] = 0.0  # nothing writes to channel 0
        w.add_tensor(p + "attn_output.weight", o)
        w.add_tensor(p + "ffn_norm.weight", np.ones(n_embd, np.float32))
        w.add_tensor(p + "ffn_gate.weight", rand(n_ff, n_embd))
        w.add_tensor(p + "ffn_up.weight", rand(n_ff, n_embd))
        down = rand(n_embd, n_ff)
        down[0] = 0.0
        w.add_tensor(p + "ffn_down.weight", down)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return Path(path)


def tiny_codec_config() -> dict[str, object]:
    """NeuCodec's architecture at toy widths (GroupNorm needs multiples of 32)."""
    return {
        "vq_dim": 64,
        "hidden_dim": 64,
        "depth": 1,
        "heads": 2,
        "rope_dim": 32,
        "acoustic_ngf": 2,
        "acoustic_dim": 32,
        "semantic_dim": 32,
        "semantic_code_dim": 32,
        "semantic_layer": 2,
        "semantic_config": {
            "hidden_size": 32,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "output_hidden_size": 32,
            "conv_depthwise_kernel_size": 3,
        },
    }


def build_tiny_codec(folder: Path, *, seed: int = 0) -> Path:
    """Save a random tiny NeuCodec (full state dict: decoder + encoder) into ``folder``."""
    import torch

    from engine.tts._neucodec import (
        CONFIG_NAME,
        CodecConfig,
        NeuCodecDecoder,
        NeuCodecEncoder,
        _semantic_model,
    )

    torch.manual_seed(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    raw = tiny_codec_config()
    cfg = CodecConfig.from_dict(raw)
    state = dict(NeuCodecDecoder(cfg).state_dict())
    encoder = NeuCodecEncoder(cfg, _semantic_model(cfg, cfg.semantic_layer))
    state.update({k: v for k, v in encoder.state_dict().items() if not k.startswith("quantizer.")})
    torch.save(state, folder / "pytorch_model.bin")
    (folder / CONFIG_NAME).write_text(json.dumps(raw, indent=1))
    return folder
