"""A tiny random-weight Whisper in faster-whisper's format, built offline for the ASR tests.

The network is transformers' WhisperForConditionalGeneration with tiny dimensions and random
weights; its tokenizer is a byte-level BPE written here (the 256 byte symbols, filler tokens up
to Whisper's text vocabulary size, then Whisper's special, language and task tokens in their
usual places), so nothing is downloaded. CTranslate2's own converter turns the two into the
folder faster-whisper loads (``model.bin``, ``config.json``, ``vocabulary.json``,
``tokenizer.json``, ``preprocessor_config.json``). What it hears is nonsense; the loading and
decoding path is the real one.
"""

from __future__ import annotations

from pathlib import Path

TEXT_TOKENS = 50_257  # Whisper's byte-level BPE vocabulary before <|endoftext|>
TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|>
MULTILINGUAL = 51_865  # multilingual Whisper's vocabulary (before large-v3)


def _languages() -> tuple[str, ...]:
    """99 language codes faster-whisper knows (multilingual Whisper's count before v3)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return tuple(code for code in _LANGUAGE_CODES if code != "yue")


def _specials() -> list[str]:
    return [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *(f"<|{code}|>" for code in _languages()),
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nocaptions|>",
        "<|notimestamps|>",
    ]


def _tokenizer(folder: Path) -> tuple[int, int]:
    """Save a Whisper tokenizer into ``folder``; returns the vocabulary size with timestamps,
    and the id of the space symbol."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import WhisperTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    for i in range(len(vocab), TEXT_TOKENS - 1):  # unreachable fillers keep Whisper's id layout
        vocab[f"<filler{i}>"] = i
    # Multilingual Whisper's text vocabulary holds one empty token: CTranslate2 looks for it
    # to tell a multilingual model from an English-only one.
    vocab[""] = TEXT_TOKENS - 1
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = _specials()
    stamps = [f"<|{i * 0.02:.2f}|>" for i in range(TIMESTAMPS)]
    tokenizer = WhisperTokenizerFast(
        tokenizer_object=backend,
        unk_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=specials[1:],
    )
    tokenizer.add_tokens(stamps)
    tokenizer.save_pretrained(folder)
    return TEXT_TOKENS + len(specials) + TIMESTAMPS, vocab["Ġ"]


def build_tiny_whisper(root: Path, *, seed: int = 0) -> Path:
    """Build, convert and return the faster-whisper model folder (under ``root``)."""
    import torch
    from ctranslate2.converters import TransformersConverter
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )

    source, target = root / "hf", root / "faster-whisper"
    source.mkdir(parents=True, exist_ok=True)
    vocab_size, space = _tokenizer(source)
    assert vocab_size == MULTILINGUAL, vocab_size
    eot, sot = TEXT_TOKENS, TEXT_TOKENS + 1
    first_language = sot + 1
    config = WhisperConfig(
        vocab_size=vocab_size,
        num_mel_bins=80,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=448,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    _decide_quickly(model, eot)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot,
        eos_token_id=eot,
        pad_token_id=eot,
        suppress_tokens=[],
        begin_suppress_tokens=[space, eot],  # as Whisper's: no leading space or empty text
        lang_to_id={f"<|{c}|>": first_language + i for i, c in enumerate(_languages())},
    )
    model.save_pretrained(source)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(source)
    TransformersConverter(
        str(source), copy_files=["tokenizer.json", "preprocessor_config.json"]
    ).convert(str(target), force=True)
    return target


def _decide_quickly(model: object, eot: int, *, after: int = 5) -> None:
    """Random weights, nudged so decoding is short and confident: the final layer norm is
    scaled up (peaked predictions, so faster-whisper's greedy pass is accepted with no
    temperature fallback), and from decoder position ``after`` on the position embeddings
    carry a direction that only <|endoftext|> answers (a couple of text tokens, then the end).
    """
    import torch

    decoder = model.model.decoder  # type: ignore[attr-defined]
    d = decoder.embed_tokens.weight.shape[1]
    direction = torch.zeros(d)
    direction[0], direction[1] = 1.0, -1.0  # zero mean: survives the layer norms
    direction /= direction.norm()
    with torch.no_grad():
        decoder.layer_norm.weight.mul_(500.0)
        decoder.embed_positions.weight[after:] += 10.0 * direction
        decoder.embed_tokens.weight[eot] = direction  # tied with the output projection
