"""A faster NeuTTS Air GGUF: the same network with the text tokens phoneme prompts never use
removed from the vocabulary (so from the embedding and, above all, the output matrix).

Generation on CPU is memory-bound and the 217k-row output matrix is about half the bytes read
per token, yet only the 65,536 speech tokens and the end token are ever valid outputs. The
derived file keeps:

* every speech token, special and control token, and the 256 single-byte tokens;
* every text token made only of characters that espeak's English phonemes use (IPA letters,
  stress and length marks, lower-case ASCII letters, punctuation, space). Byte-level BPE on a
  string of those characters only ever forms such tokens, so phoneme strings tokenise to the
  same tokens as in the full model; merges are kept when both parts and the result are kept;
* the two fixed prompt pieces ("user: Convert the text to speech:", "\\nassistant:") as token
  ids stored in the file's metadata (their own tokens need not survive the pruning).

Token ids change, so the runtime maps everything by token text and reads the stored prompt ids
(``SpeechLM`` does both). Under greedy decoding the derived model yields the same speech tokens
as the full one (tests/engine/neutts/test_prune.py).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import BackendUnavailable

__all__ = ["prune_vocab", "PruneReport", "PROMPT_KEYS"]

PROMPT_KEYS = ("mouthpiece.prompt_user_ids", "mouthpiece.prompt_assistant_ids")
_TOKENS = "tokenizer.ggml.tokens"
_TYPES = "tokenizer.ggml.token_type"
_MERGES = "tokenizer.ggml.merges"
_ID_KEYS = (
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.eot_token_id",
)
_PER_TOKEN = (_TOKENS, _TYPES, "tokenizer.ggml.scores")
_ROW_TENSORS = ("token_embd.weight", "output.weight")


@dataclass(frozen=True)
class PruneReport:
    source: Path
    output: Path
    tokens_before: int
    tokens_after: int
    bytes_before: int
    bytes_after: int


def _byte_decoder() -> dict[str, int]:
    """GPT-2 byte-level BPE: the unicode character standing for each byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


def _phoneme_char(ch: str) -> bool:
    if ch.isascii():
        return ch.islower() or ch in " \n'-,.;:!?\"()"
    cp = ord(ch)
    ipa = 0x0250 <= cp <= 0x02FF or 0x1D00 <= cp <= 0x1DBF or 0x0300 <= cp <= 0x036F
    return ipa or unicodedata.category(ch) in ("Ll", "Lm", "Mn")


def _keep_bytes(raw: bytes) -> bool:
    """True when ``raw`` can be a piece of a UTF-8 string of phoneme characters."""
    text = raw.decode("utf-8", errors="ignore")  # split characters at the edges are fine
    return all(_phoneme_char(ch) for ch in text)


def _keep(token: str, kind: int, decode: dict[str, int]) -> bool:
    if kind != 1:  # control, user-defined (speech), byte, unknown: all kept
        return True
    try:
        raw = bytes(decode[ch] for ch in token)
    except KeyError:
        return True  # not a byte-level token: keep, to be safe
    return len(raw) == 1 or _keep_bytes(raw)


def prune_vocab(src: Path, dst: Path) -> PruneReport:
    """Write ``dst``: ``src`` without text tokens phoneme prompts cannot produce."""
    import gguf
    import numpy as np

    from engine.tts._neutts_lm import prompt_piece_ids

    src, dst = Path(src), Path(dst)
    prompt_ids = prompt_piece_ids(src)
    try:
        reader = gguf.GGUFReader(str(src))
    except Exception as e:  # a corrupt file fails in many ways inside the reader
        raise BackendUnavailable(f"cannot read {src} as GGUF: {e}") from e
    fields = reader.fields
    if _TOKENS not in fields:
        raise BackendUnavailable(f"{src} has no tokenizer vocabulary")
    tokens: list[str] = list(fields[_TOKENS].contents())
    types: list[int] = list(fields[_TYPES].contents())
    decode = _byte_decoder()
    keep = [i for i, (t, k) in enumerate(zip(tokens, types, strict=True)) if _keep(t, k, decode)]
    keep_set = set(keep) | {i for ids in prompt_ids for i in ids}
    keep = sorted(keep_set)
    new_id = {old: new for new, old in enumerate(keep)}
    kept_text = {tokens[i] for i in keep}

    arch = str(fields["general.architecture"].contents())
    writer = gguf.GGUFWriter(str(dst), arch)
    _copy_metadata(reader, writer, keep, new_id, kept_text)
    for key, ids in zip(PROMPT_KEYS, prompt_ids, strict=True):
        writer.add_string(key, ",".join(str(new_id[i]) for i in ids))

    rows = np.asarray(keep, dtype=np.int64)
    datas = []
    for tensor in reader.tensors:
        data = tensor.data
        if tensor.name in _ROW_TENSORS:
            data = np.ascontiguousarray(data[rows])
        datas.append(data)
        writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for data in datas:
        writer.write_tensor_data(data)
    writer.close()
    return PruneReport(src, dst, len(tokens), len(keep), src.stat().st_size, dst.stat().st_size)


def _copy_metadata(
    reader: Any, writer: Any, keep: list[int], new_id: dict[int, int], kept_text: set[str]
) -> None:
    """Every key of the source, with per-token arrays, merges and token ids remapped."""
    import gguf

    for field in reader.fields.values():
        name = field.name
        if name == "general.architecture" or name.startswith("GGUF."):
            continue
        value: Any = field.contents()
        if name in _PER_TOKEN:
            value = [value[i] for i in keep]
        elif name == _MERGES:
            value = [m for m in value if _merge_kept(m, kept_text)]
        elif name in _ID_KEYS:
            if int(value) not in new_id:
                continue
            value = new_id[int(value)]
        val_type = field.types[0]
        sub_type = field.types[-1] if val_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, value, val_type, sub_type=sub_type)


def _merge_kept(merge: str, kept: set[str]) -> bool:
    left, _, right = merge.partition(" ")
    return left in kept and right in kept and (left + right) in kept
