"""NeuTTS Air's speech language model on llama.cpp: loading, prompt, token generation.

The model is a Qwen2 LM whose vocabulary holds the text tokens, a few chat specials and one
token per NeuCodec code (``<|speech_0|>`` .. ``<|speech_65535|>``). Its prompt, from
neuphonic/neutts-air::

    user: Convert the text to speech:<|TEXT_PROMPT_START|>{ref phonemes} {phonemes}
    <|TEXT_PROMPT_END|>\\nassistant:<|SPEECH_GENERATION_START|>{ref codes as speech tokens}

and it continues with speech tokens until ``<|SPEECH_GENERATION_END|>``. This module works on
token ids throughout (no detokenising, no regex over text): speech token ``i`` is code ``i``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import BackendUnavailable

__all__ = [
    "Sampling",
    "Generation",
    "SpeechLM",
    "gpu_layers",
    "prompt_piece_ids",
    "N_CTX",
    "SPEECH_CODES",
]

log = logging.getLogger(__name__)

N_CTX = 2048  # NeuTTS Air's trained context: prompt and output together
SPEECH_CODES = 65_536
_USER = "user: Convert the text to speech:"
_ASSISTANT = "\nassistant:"
_PROMPT_KEYS = ("mouthpiece.prompt_user_ids", "mouthpiece.prompt_assistant_ids")
_SPECIALS = (
    "<|TEXT_PROMPT_START|>",
    "<|TEXT_PROMPT_END|>",
    "<|SPEECH_GENERATION_START|>",
    "<|SPEECH_GENERATION_END|>",
)


@dataclass(frozen=True)
class Sampling:
    """Sampling of speech tokens. ``temperature`` 0 is greedy; ``seed`` makes runs repeatable.

    The defaults are what ``neutts`` samples with: temperature 1 and top-k 50 set by it, top-p
    0.95 and min-p 0.05 left at llama-cpp-python's completion defaults.
    """

    temperature: float = 1.0
    top_k: int = 50
    seed: int = 0
    top_p: float = 0.95
    min_p: float = 0.05

    def check(self) -> None:
        if not 0.0 <= self.temperature <= 5.0:
            raise ValueError(f"temperature must be between 0 and 5, not {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be 0 (off) or more, not {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be above 0 and at most 1 (off), not {self.top_p}")
        if not 0.0 <= self.min_p <= 1.0:
            raise ValueError(f"min_p must be between 0 (off) and 1, not {self.min_p}")


@dataclass(frozen=True)
class Generation:
    """Speech codes of one chunk and why generation stopped (``stop`` or ``length``)."""

    codes: np.ndarray
    finish_reason: str
    prompt_tokens: int


def gpu_layers(device: str) -> int:
    """Layers to offload: all of them on cuda (or auto with a GPU build), none on cpu."""
    if device == "cpu":
        return 0
    import llama_cpp

    has_gpu = bool(llama_cpp.llama_supports_gpu_offload())
    if device.startswith("cuda") and not has_gpu:
        raise BackendUnavailable(
            f"device {device!r} asked for, but this llama-cpp-python has no GPU support",
            hint="reinstall it with CMAKE_ARGS=-DGGML_CUDA=on, or use --device cpu",
        )
    return -1 if has_gpu else 0


class SpeechLM:
    """A loaded NeuTTS Air GGUF. Build once per process."""

    def __init__(self, path: Path, *, device: str = "auto", threads: int = 0) -> None:
        path = Path(path)
        _check_gguf(path)
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise BackendUnavailable(
                "llama-cpp-python is not installed", hint="pip install 'mouthpiece[neutts]'"
            ) from e
        n_gpu = gpu_layers(device)
        # llama-cpp-python's own default (half the cores): on a shared 2-core machine two
        # threads spin-wait for each other and run slower than one (bench/tts.py).
        n_threads = threads or max(1, (os.cpu_count() or 2) // 2)
        main_gpu = int(device.split(":", 1)[1]) if device.startswith("cuda:") else 0
        try:
            self.llm = Llama(
                model_path=str(path),
                n_ctx=N_CTX,
                n_batch=512,
                n_gpu_layers=n_gpu,
                main_gpu=main_gpu,
                flash_attn=n_gpu != 0,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as e:
            raise BackendUnavailable(
                f"llama.cpp cannot load the NeuTTS backbone {path}: {e}",
                hint="the GGUF file is corrupt or incomplete; download it again",
            ) from e
        self.path = path
        self.gpu_layers = n_gpu
        self._map_vocab()

    # ---- vocabulary ----------------------------------------------------------------------
    def _map_vocab(self) -> None:
        get = self.llm._model.token_get_text
        n_vocab = self.llm.n_vocab()
        ids = {}
        for name in (*_SPECIALS, "<|speech_0|>"):
            found = self.llm.tokenize(name.encode(), add_bos=False, special=True)
            if len(found) != 1:
                raise BackendUnavailable(
                    f"{self.path} is not a NeuTTS Air model: its vocabulary has no {name} token",
                    hint="use neuphonic/neutts-air-q4-gguf or -q8-gguf",
                )
            ids[name] = found[0]
        base = ids["<|speech_0|>"]
        last = base + SPEECH_CODES - 1
        if last >= n_vocab or get(last) != f"<|speech_{SPEECH_CODES - 1}|>":
            raise BackendUnavailable(
                f"{self.path}: speech tokens are not the contiguous <|speech_0..65535|> block",
                hint="use neuphonic/neutts-air-q4-gguf or -q8-gguf",
            )
        self.speech_base = base
        self.end_id = ids["<|SPEECH_GENERATION_END|>"]
        self._start_text = ids["<|TEXT_PROMPT_START|>"]
        self._end_text = ids["<|TEXT_PROMPT_END|>"]
        self._start_speech = ids["<|SPEECH_GENERATION_START|>"]
        meta = self.llm.metadata
        if all(key in meta for key in _PROMPT_KEYS):  # a pruned-vocabulary file: stored ids
            self._user, self._assistant = (
                [int(i) for i in meta[key].split(",") if i] for key in _PROMPT_KEYS
            )
        else:
            self._user = self._tok(_USER, bos=True)
            self._assistant = self._tok(_ASSISTANT)

    def _tok(self, text: str, *, bos: bool = False) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=bos, special=False))

    def count_tokens(self, text: str) -> int:
        return len(self._tok(text))

    # ---- prompt and generation -----------------------------------------------------------
    def prompt(self, phonemes: str, ref_codes: Iterable[int]) -> list[int]:
        """Token ids of the prompt: ``phonemes`` is reference + script phonemes."""
        return [
            *self._user,
            self._start_text,
            *self._tok(phonemes),
            self._end_text,
            *self._assistant,
            self._start_speech,
            *(self.speech_base + int(c) for c in ref_codes),
        ]

    def fixed_prompt_tokens(self, ref_codes: np.ndarray | list[int]) -> int:
        """Prompt tokens that do not depend on the phonemes."""
        return len(self._user) + len(self._assistant) + 3 + len(ref_codes)

    def generate(
        self,
        prompt: list[int],
        max_new: int,
        sampling: Sampling,
        on_token: Callable[[int], None] | None = None,
    ) -> Generation:
        """Sample up to ``max_new`` tokens after ``prompt``; speech tokens become codes."""
        if len(prompt) + max_new > N_CTX:
            raise ValueError(f"prompt {len(prompt)} + {max_new} new tokens exceed {N_CTX}")
        self.llm.set_seed(sampling.seed)
        codes: list[int] = []
        finish = "length"
        stream = self.llm.generate(
            prompt,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            temp=sampling.temperature,
            repeat_penalty=1.0,
            reset=True,  # keeps the KV cache of the longest shared prefix
        )
        for n, token in enumerate(stream, start=1):
            if token == self.end_id:
                finish = "stop"
                break
            code = token - self.speech_base
            if 0 <= code < SPEECH_CODES:
                codes.append(code)
                if on_token:
                    on_token(code)
            if n >= max_new:
                break
        return Generation(np.asarray(codes, dtype=np.int64), finish, len(prompt))


def prompt_piece_ids(path: Path) -> tuple[list[int], list[int]]:
    """The fixed prompt pieces as token ids of the (full) model at ``path``."""
    from llama_cpp import Llama

    _check_gguf(Path(path))
    vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)
    user = vocab.tokenize(_USER.encode(), add_bos=True, special=False)
    assistant = vocab.tokenize(_ASSISTANT.encode(), add_bos=False, special=False)
    vocab.close()
    return list(user), list(assistant)


def _check_gguf(path: Path) -> None:
    if not path.is_file():
        raise BackendUnavailable(
            f"NeuTTS backbone not found: {path}",
            hint="mouthpiece models fetch neutts-q4, or pass --tts-backbone PATH.gguf",
        )
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise BackendUnavailable(
            f"{path} is not a GGUF file (it starts with {magic!r})",
            hint="download neuphonic/neutts-air-q4-gguf again",
        )


def describe(lm: Any) -> str:
    return f"{Path(lm.path).name} ({'GPU' if lm.gpu_layers else 'CPU'})"
