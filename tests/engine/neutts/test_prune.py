"""The pruned-vocabulary GGUF: smaller, and the same speech tokens under greedy decoding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# the neutts extra: make test installs it, so a missing one fails here instead of skipping
import llama_cpp  # noqa: F401
import numpy as np
import pytest

from engine.tts._neutts_lm import Sampling, SpeechLM
from tests.auxil.neutts_models import build_tiny_gguf

PHONEMES = "hˈaɪ ðˈɛɹ. ðɪs ɪz ɐ ʃˈɔːɹt sˈæmpəl ʌv maɪ vˈɔɪs, ɹᵻkˈoːɹdᵻd. wˈʌn θɹˈiː!"


@pytest.fixture(scope="module")
def full_and_pruned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("prune")
    # end_bias below every speech logit: greedy decoding never stops, so it has tokens to compare
    full = build_tiny_gguf(root / "full.gguf", end_bias=-5.0, seed=3)
    pruned = root / "pruned.gguf"
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "models", "prune-vocab", str(full), "-o", str(pruned)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "tokens kept" in proc.stdout
    return full, pruned


def test_pruned_vocabulary_drops_only_text_tokens(full_and_pruned: tuple[Path, Path]) -> None:
    full, pruned = (SpeechLM(p, device="cpu", threads=1) for p in full_and_pruned)
    assert pruned.llm.n_vocab() < full.llm.n_vocab()
    # upper case and digits go; lower-case ASCII words stay (espeak may print any of a-z)
    assert full.llm.n_vocab() - pruned.llm.n_vocab() == 5
    get_full, get_pruned = full.llm._model.token_get_text, pruned.llm._model.token_get_text
    # phonemes tokenise to the same tokens, and the stored prompt pieces are the same text
    codes = np.arange(0, 65_536, 997)
    a, b = full.prompt(PHONEMES, codes), pruned.prompt(PHONEMES, codes)
    assert [get_full(i) for i in a] == [get_pruned(i) for i in b]
    assert len(a) == len(b)


def test_greedy_decoding_gives_the_same_speech_tokens(full_and_pruned: tuple[Path, Path]) -> None:
    full, pruned = (SpeechLM(p, device="cpu", threads=1) for p in full_and_pruned)
    codes = np.arange(5, 65_536, 1_313)
    greedy = Sampling(temperature=0.0, top_k=1, seed=0)
    out_full = full.generate(full.prompt(PHONEMES, codes), 40, greedy)
    out_pruned = pruned.generate(pruned.prompt(PHONEMES, codes), 40, greedy)
    assert len(out_full.codes) == 40
    assert np.array_equal(out_full.codes, out_pruned.codes)
