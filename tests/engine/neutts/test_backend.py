"""The NeuTTS backend in process: chunking, re-splitting, reference cache, sampling, timings."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

# the neutts extra: make test installs it, so a missing one fails here instead of skipping
import llama_cpp  # noqa: F401
import numpy as np
import pytest

from engine.errors import InvalidInput
from engine.settings import EngineSettings
from engine.tts._neutts_lm import N_CTX, Generation
from engine.tts._neutts_text import CONTEXT_MARGIN, MAX_CHUNK_SECONDS
from engine.tts.neutts import FRAME_RATE, NeuTTSBackend, ReferenceCodes

SENTENCES = [
    "The quick brown fox jumps over the lazy dog, and then it runs away into the forest.",
    "On 2024-03-15 the shop sold 1,250 apples for $3.50 each; that is 42% more than in March.",
    "Dr. Smith arrived at 10:30 am, met Mrs. Jones, and left for St. Paul by train.",
    "Nobody expected the weather to turn so quickly, yet the sailors kept their course.",
]
LONG_SCRIPT = " ".join(SENTENCES * 8)  # about 2,700 characters, far beyond one context


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def test_long_script_plans_fit_the_context(backend: Any, voice: Any) -> None:
    ref = backend.encode_reference(voice)
    plans = backend.plan(LONG_SCRIPT, ref)
    assert len(plans) > 3
    for plan in plans:
        assert plan.prompt_tokens + plan.max_new_tokens <= N_CTX - CONTEXT_MARGIN
        assert plan.expected_tokens <= MAX_CHUNK_SECONDS * FRAME_RATE
        # the plan's prompt count is the real prompt's length
        prompt = backend.lm.prompt(f"{backend.budget(ref).ref_phonemes} {plan.phonemes}", ref.codes)
        assert len(prompt) == plan.prompt_tokens
    # nothing dropped, nothing repeated: the chunks read back as the normalised script
    from spoken_text.normalize import normalize_text, split_sentences

    expected = _words(" ".join(normalize_text(s) for s in split_sentences(LONG_SCRIPT)))
    assert _words(" ".join(p.text for p in plans)) == expected


def test_a_sentence_longer_than_the_context_is_cut_at_clauses(backend: Any, voice: Any) -> None:
    ref = backend.encode_reference(voice)
    sentence = ", ".join(["the long list goes on and on without any full stop"] * 40) + "."
    plans = backend.plan(sentence, ref)
    assert len(plans) > 1
    assert all(p.prompt_tokens + p.max_new_tokens <= N_CTX - CONTEXT_MARGIN for p in plans)
    assert [p.ends_sentence for p in plans] == [False] * (len(plans) - 1) + [True]


def test_truncated_chunks_are_split_and_generated_again(
    backend: Any, voice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk that runs out of budget is cut in two until every chunk ends by itself."""
    real = backend.lm.generate
    calls: list[int] = []
    limit = backend.plan("One two three four.", backend.encode_reference(voice))[0].prompt_tokens

    def generate(
        prompt: list[int], max_new: int, sampling: Any, on_token: Any = None
    ) -> Generation:
        calls.append(len(prompt))
        gen = real(prompt, max_new, sampling)
        finish = "length" if len(prompt) > limit else "stop"  # longer chunks "run out"
        return Generation(gen.codes, finish, gen.prompt_tokens)

    monkeypatch.setattr(backend.lm, "generate", generate)
    script = "One two three four five six seven eight nine ten eleven twelve thirteen fourteen."
    chunks = list(backend.stream(script, voice))
    assert len(chunks) > 1 and len(calls) > len(chunks)
    assert all(c.finish_reason == "stop" for c in chunks)
    assert _words(" ".join(c.text for c in chunks)) == _words(script)


def test_stream_yields_chunks_and_synthesize_joins_them(backend: Any, voice: Any) -> None:
    script = " ".join(SENTENCES[:2])
    chunks = list(backend.stream(script, voice))
    assert chunks and all(c.audio.sample_rate == 24_000 for c in chunks)
    speech = backend.synthesize(script, voice)
    assert speech.backend == "neutts" and speech.audio.sample_rate == 24_000
    total = sum(c.audio.duration for c in chunks)
    assert speech.audio.duration >= total - 0.1  # joined, with pauses, nothing lost
    assert len(speech.chunks) == len(chunks)
    starts = [s.start for s in speech.chunks]
    assert starts == sorted(starts) and speech.chunks[-1].end == pytest.approx(
        speech.audio.duration, abs=0.01
    )
    assert speech.words and speech.words[0].start >= 0
    assert all(w.end <= speech.audio.duration + 1e-6 for w in speech.words)


def test_same_seed_same_speech_other_seed_other_speech(backend: Any, voice: Any) -> None:
    script = SENTENCES[0]
    a = [c.audio.samples for c in backend.stream(script, voice, seed=7)]
    b = [c.audio.samples for c in backend.stream(script, voice, seed=7)]
    c = [c.audio.samples for c in backend.stream(script, voice, seed=8)]
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert [len(x) for x in a] != [len(x) for x in c] or not all(
        np.array_equal(x, y) for x, y in zip(a, c, strict=False)
    )


def test_reference_is_encoded_once_and_cached_on_disk(
    settings: EngineSettings, voice: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = replace(settings, cache_dir=tmp_path / "cache")
    encodes: list[int] = []
    first = NeuTTSBackend(fresh)
    real = first.codec.encode
    monkeypatch.setattr(first.codec, "encode", lambda x: encodes.append(1) or real(x))
    ref1 = first.encode_reference(voice)
    assert len(encodes) == 1 and list((tmp_path / "cache" / "neutts").glob("*.npz"))
    # a new process (new backend) finds the codes on disk and never encodes
    second = NeuTTSBackend(fresh)
    monkeypatch.setattr(second.codec, "encode", lambda x: pytest.fail("encoded a cached reference"))
    ref2 = second.encode_reference(voice)
    assert np.array_equal(ref1.codes, ref2.codes) and ref2.transcript == voice.transcript
    assert abs(len(ref1.codes) - voice.audio.duration * FRAME_RATE) <= 2


def test_reference_codes_can_be_deleted_by_the_voice_files_hash(
    settings: EngineSettings, voice: Any, tmp_path: Any
) -> None:
    """Erasing a person's voice reaches the codes made from it: the cache knows which voice
    file (by SHA-256) each entry came from, and the engine deletes by that hash."""
    from engine import Engine

    fresh = replace(settings, cache_dir=tmp_path / "cache")
    backend = NeuTTSBackend(fresh)
    source = "c" * 64
    backend.encode_reference(replace(voice, source=source))
    entries = list((tmp_path / "cache" / "neutts").glob("*.npz"))
    assert len(entries) == 1
    caches = Engine(fresh, tts=backend).voice_cache  # what a worker sweeps with
    assert caches.sources() == {source}
    assert caches.forget("d" * 64) == 0 and entries[0].exists()  # someone else's: untouched
    assert caches.forget(source) == 2 and not entries[0].exists()
    assert caches.sources() == set()


def test_reference_codes_round_trip(tmp_path: Any) -> None:
    ref = ReferenceCodes(np.arange(10, dtype=np.int64), "hello there", "abc")
    back = ReferenceCodes.load(ref.save(tmp_path / "voice.npz"))
    assert np.array_equal(back.codes, ref.codes) and back.transcript == "hello there"


@pytest.mark.parametrize(
    "script",
    [
        "I paid $1,234.56 on 2023-07-04 at 9:15 pm 🎉🔥 — 50% off!",
        "Call +1 (555) 010-9999 or mail me@example.com <3 ~~~ ### ***",
        "👍👍👍 ok",
        "Über café naïve façade déjà vu",
    ],
)
def test_normalisation_cases_never_crash_espeak(backend: Any, voice: Any, script: str) -> None:
    ref = backend.encode_reference(voice)
    plans = backend.plan(script, ref)
    assert plans and all(p.phonemes.strip() for p in plans)
    assert not any(ch.isdigit() for p in plans for ch in p.text)  # numbers are spoken


def test_script_with_nothing_to_say_is_refused(backend: Any, voice: Any) -> None:
    with pytest.raises(InvalidInput):
        backend.synthesize("🎉🎉 … !!!", voice)


def test_missing_transcript_is_refused(backend: Any, voice: Any) -> None:
    with pytest.raises(InvalidInput, match="--voice-text"):
        backend.encode_reference(replace(voice, transcript=None))
