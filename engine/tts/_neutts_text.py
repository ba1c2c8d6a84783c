"""Script -> chunks that fit NeuTTS Air's 2,048-token context, with phonemes.

Each chunk's prompt holds the reference (its phonemes and codes) plus the chunk's phonemes,
and the output needs about ``tokens_per_phone`` speech tokens per phoneme character. A chunk
fits when prompt + a generous output budget stays under the context with a margin. Sentences
are packed together while they fit; a sentence that does not fit is cut at clauses, a clause
that does not fit at words.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from spoken_text.normalize import normalize_text, split_clauses, split_sentences

__all__ = ["ChunkPlan", "Budget", "plan_chunks", "split_plan", "phone_length"]

OUTPUT_FACTOR = 2.0  # output budget: twice the expected speech tokens ...
OUTPUT_MARGIN = 50  # ... plus a second of speech
CONTEXT_MARGIN = 16
MAX_CHUNK_SECONDS = 15.0  # longer chunks gain little and drift more


@dataclass(frozen=True)
class ChunkPlan:
    """One generation: its text, phonemes and token budget."""

    text: str
    phonemes: str
    prompt_tokens: int
    expected_tokens: int
    max_new_tokens: int
    ends_sentence: bool = True  # False: the next chunk continues this sentence

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.max_new_tokens


@dataclass(frozen=True)
class Budget:
    """What planning needs to know about the model and the reference."""

    n_ctx: int
    fixed_prompt_tokens: int  # user/assistant text, specials, reference codes
    ref_phonemes: str
    tokens_per_phone: float
    count_tokens: Callable[[str], int]
    phonemize: Callable[[str], str]
    frame_rate: int = 50


def phone_length(phonemes: str) -> int:
    return sum(1 for ch in phonemes if not ch.isspace())


def _plan(text: str, budget: Budget, ends_sentence: bool) -> ChunkPlan:
    phonemes = budget.phonemize(text)
    prompt = budget.fixed_prompt_tokens + budget.count_tokens(f"{budget.ref_phonemes} {phonemes}")
    expected = max(1, math.ceil(phone_length(phonemes) * budget.tokens_per_phone))
    max_new = math.ceil(expected * OUTPUT_FACTOR) + OUTPUT_MARGIN
    return ChunkPlan(text, phonemes, prompt, expected, max_new, ends_sentence)


def _fits(plan: ChunkPlan, budget: Budget) -> bool:
    if plan.total_tokens > budget.n_ctx - CONTEXT_MARGIN:
        return False
    return plan.expected_tokens <= MAX_CHUNK_SECONDS * budget.frame_rate


def _units(text: str, budget: Budget, level: int) -> list[ChunkPlan]:
    """Plans for ``text``: whole if it fits, else its clauses (level 0) or words (level 1)."""
    whole = _plan(text, budget, True)
    if _fits(whole, budget) or level > 1:
        return [whole]
    parts = split_clauses(text) if level == 0 else text.split()
    if len(parts) < 2:
        return _units(text, budget, level + 1) if level == 0 else [whole]
    out: list[ChunkPlan] = []
    for part in _pack(parts, budget, level + 1):
        out += _units(part, budget, level + 1)
    return [
        ChunkPlan(
            p.text,
            p.phonemes,
            p.prompt_tokens,
            p.expected_tokens,
            p.max_new_tokens,
            ends_sentence=i == len(out) - 1,
        )
        for i, p in enumerate(out)
    ]


def _pack(parts: list[str], budget: Budget, level: int) -> list[str]:
    """Join neighbouring parts while the joined text still fits."""
    out: list[str] = []
    for part in parts:
        if out and _fits(_plan(f"{out[-1]} {part}", budget, True), budget):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def plan_chunks(script: str, budget: Budget) -> list[ChunkPlan]:
    """Normalise ``script`` and cut it into chunks that fit the context."""
    sentences = [normalize_text(s, "en") for s in split_sentences(script)]
    sentences = [s for s in sentences if any(ch.isalnum() for ch in s)]
    plans: list[ChunkPlan] = []
    for group in _pack(sentences, budget, 0):
        plans += _units(group, budget, 0)
    return plans


def split_plan(plan: ChunkPlan, budget: Budget) -> list[ChunkPlan] | None:
    """Cut a chunk in two (at a clause or between words), or None when it is one word."""
    parts = split_clauses(plan.text)
    if len(parts) < 2:
        parts = plan.text.split()
    if len(parts) < 2:
        return None
    half = len(parts) // 2
    first = _plan(" ".join(parts[:half]), budget, False)
    second = _plan(" ".join(parts[half:]), budget, plan.ends_sentence)
    return [first, second]
