"""Random-weight Pocket TTS models of the released configurations, built offline.

:func:`write_pocket_model` takes the configuration the ``pocket-tts`` wheel ships for a
language (``pocket_tts/config/<name>.yaml``), keeps its architecture (the flow language model,
its LSD flow head, the Mimi codec with its SEANet strides, rates and latent width) and either
shrinks its widths and depths (the default: a model of a few hundred thousand parameters that
speaks a chunk in a fraction of a second) or keeps them (``full_size``: the released sizes,
for the benchmark). It writes, in the layout ``mouthpiece models fetch pocket`` leaves
(``<root>/languages/<name>/``):

* ``model.safetensors``: the whole model's random weights, as the released file holds them;
* ``tokenizer.json``: a Hugging Face ``tokenizers`` Unigram model with SentencePiece's word
  marker (the kind the released configurations name), built here from a character list;
* ``config.yaml``: the wheel's configuration with those sizes and the two local files, which
  the backend reads instead of the wheel's.

A random model would rarely emit its end-of-speech flag at the right time: with ``ends`` (the
default) its EOS head is biased so every chunk ends as soon as pocket-tts lets it (after six
frames and its few frames of tail, under a second); ``ends=False`` biases it the other way,
so each chunk runs to pocket-tts's length bound (``TTSModel._estimate_max_gen_len``: the
chunk's tokens / 3 + 2 seconds), speech of a realistic length for timing runs.

Nothing here touches the network.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from pathlib import Path
from typing import Any

import yaml

from spoken_text.languages import LANGUAGES

__all__ = ["write_pocket_model", "pocket_vocabulary", "parameter_count"]

_LETTERS = (
    "abcdefghijklmnopqrstuvwxyz"
    "àâäáãåæçèéêëìíîïñòóôöõøœùúûüýÿß"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÀÂÄÁÃÇÈÉÊËÌÍÎÏÑÒÓÔÖÕŒÙÚÛÜÝ"
)
_OTHERS = "0123456789.,!?;:'-()…¿¡%&/+="
_MARK = "▁"  # SentencePiece's word start, as the released tokenizers write it

# the tiny sizes: every width and depth of the released configuration, shrunk
_TINY_FLOW_LM = {"d_model": 32, "num_heads": 2, "num_layers": 2, "hidden_scale": 2}
_TINY_FLOW = {"dim": 16, "depth": 1}
_TINY_MIMI = {"inner_dim": 8, "outer_dim": 16}
_TINY_SEANET = {"dimension": 16, "n_filters": 2}
_TINY_MIMI_TRANSFORMER = {
    "d_model": 16,
    "num_heads": 2,
    "num_layers": 1,
    "dim_feedforward": 32,
    "input_dimension": 16,
    "output_dimensions": [16],
}


def pocket_vocabulary(size: int | None = None) -> list[tuple[str, float]]:
    """(piece, log-probability) pairs: the unknown piece, the word marker, every character
    alone and after the marker, then (to reach ``size``) letter pairs and triples."""
    pieces: list[tuple[str, float]] = [("<unk>", 0.0), (_MARK, -3.0)]
    for ch in _LETTERS + _OTHERS:
        pieces.append((ch, -5.0))
        pieces.append((_MARK + ch, -4.0))
    if size is not None:
        if size < len(pieces):
            raise ValueError(f"a vocabulary needs at least {len(pieces)} pieces, not {size}")
        lower = "abcdefghijklmnopqrstuvwxyzéèàç"
        more = itertools.chain(
            (_MARK + a + b for a in lower for b in lower),
            (a + b for a in lower for b in lower),
            (_MARK + a + b + c for a in lower for b in lower for c in lower),
        )
        pieces += [(p, -6.0) for p in itertools.islice(more, size - len(pieces))]
    return pieces


def _tokenizer_json(size: int | None) -> tuple[str, int]:
    """A ``tokenizers`` Unigram model (the JSON) and its vocabulary size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = pocket_vocabulary(size)
    tok = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_MARK, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=_MARK, prepend_scheme="always")
    return tok.to_str(), len(vocab)


def _released_config(code: str) -> dict[str, Any]:
    from pocket_tts.utils.config import CONFIGS_DIR

    name = LANGUAGES[code].pocket
    loaded: dict[str, Any] = yaml.safe_load((CONFIGS_DIR / f"{name}.yaml").read_text("utf-8"))
    return loaded


def _shrink(config: dict[str, Any]) -> None:
    flow_lm = config["flow_lm"]
    flow_lm["transformer"].update(_TINY_FLOW_LM)
    flow_lm["flow"].update(_TINY_FLOW)
    flow_lm["lookup_table"]["dim"] = _TINY_FLOW_LM["d_model"]  # text embeddings join d_model
    mimi = config["mimi"]
    mimi.update(_TINY_MIMI)
    mimi["seanet"].update(_TINY_SEANET)
    mimi["transformer"].update(_TINY_MIMI_TRANSFORMER)
    mimi["quantizer"] = {"dimension": _TINY_MIMI["inner_dim"], "output_dimension": 16}


def parameter_count(folder: Path) -> int:
    """Parameters (and buffers) in a written model's ``model.safetensors``."""
    from safetensors import safe_open

    total = 0
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
            total += math.prod(f.get_slice(key).get_shape())
    return total


def write_pocket_model(
    root: Path,
    code: str = "fr",
    *,
    full_size: bool = False,
    seed: int = 0,
    ends: bool = True,
) -> Path:
    """Write a random-weight model of language ``code``'s released configuration under
    ``root/languages/<name>/`` (what the backend reads with ``MOUTHPIECE_TTS_POCKET=root``);
    the language folder."""
    import safetensors.torch
    import torch

    name = LANGUAGES[code].pocket
    folder = Path(root) / "languages" / name
    folder.mkdir(parents=True, exist_ok=True)
    config = _released_config(code)
    if not full_size:
        _shrink(config)
    tokenizer, n_bins = _tokenizer_json(None if not full_size else 4000)
    (folder / "tokenizer.json").write_text(tokenizer, "utf-8")
    lookup = config["flow_lm"]["lookup_table"]
    lookup["n_bins"] = n_bins
    lookup["tokenizer"] = "tokenizers"

    # build it through pocket-tts itself (a config without weights: random initialisation)
    config.update(weights_path=None, weights_path_without_voice_cloning=None)
    config["flow_lm"].pop("weights_path", None)
    config["mimi"].pop("weights_path", None)
    lookup["tokenizer_path"] = str(folder / "tokenizer.json")
    from pocket_tts import TTSModel

    threads = torch.get_num_threads()  # importing pocket_tts sets one thread: keep ours
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        draft = Path(tmp) / "draft.yaml"
        draft.write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = TTSModel.load_model(config=draft)
            flow_lm = model.flow_lm
            with torch.no_grad():
                # zeros when built without weights: the voice would not matter at all
                torch.nn.init.normal_(flow_lm.speaker_proj_weight, std=0.02)
                flow_lm.out_eos.weight.zero_()
                flow_lm.out_eos.bias.fill_(20.0 if ends else -1e4)
    torch.set_num_threads(threads)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, str(folder / "model.safetensors"))

    # what the backend reads: the released configuration, sized, with the local files
    lookup["tokenizer_path"] = "tokenizer.json"
    config["weights_path"] = "model.safetensors"
    (folder / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    return folder
