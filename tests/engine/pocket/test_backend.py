"""The Pocket TTS backend on tiny random-weight models of the released configurations, through
pocket-tts's real inference path: languages, chunking, cancellation, the voice-state cache,
seeds and threads, and what it says when it cannot speak."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.errors import BackendUnavailable, Cancelled, InvalidInput
from engine.settings import EngineSettings
from engine.tts.pocket import (
    OUTPUT_RATE,
    PocketBackend,
    check,
    forget_states,
    languages_ready,
    locate,
    plan_chunks,
)
from spoken_text.normalize import normalize_text

FRENCH = "Bonjour à tous. Je m'appelle Marie et je vous souhaite une excellente journée !"
ENGLISH = "Hello everyone. My name is Mary, and I wish you a wonderful day."
# sentences of a few dozen tokens each with the tiny models' letter-level tokenizer
LONG_FRENCH = " ".join(
    [
        "Le petit chat dort au soleil sur le rebord de la fenêtre.",
        "Demain matin, nous irons au marché acheter des pommes, des poires et du pain frais.",
        "Il fait beau.",
        "La rivière coule lentement entre les collines couvertes de vignes et de forêts.",
    ]
    * 2
)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _fresh(settings: EngineSettings, tmp_path: Path, **changes: Any) -> PocketBackend:
    """A backend of its own, with an empty cache folder and no voice state in memory."""
    forget_states()
    return PocketBackend(replace(settings, cache_dir=tmp_path / "cache", **changes))


@pytest.mark.parametrize(("code", "script"), [("fr", FRENCH), ("en", ENGLISH)])
def test_it_speaks_french_and_english(backend: Any, voice: Any, code: str, script: str) -> None:
    speech = backend.synthesize(script, voice, language=code)
    assert speech.backend == "pocket" and not speech.watermarked
    audio = speech.audio
    assert audio.sample_rate == OUTPUT_RATE == 24_000
    assert audio.samples.dtype == np.float32 and audio.duration > 0.5
    assert np.isfinite(audio.samples).all() and np.abs(audio.samples).max() <= 1.0
    assert np.abs(audio.samples).max() > 0.01  # sound, not silence
    chunks = speech.chunks
    assert len(chunks) >= 1 and chunks[0].start == 0.0
    assert all(a.end < b.start for a, b in zip(chunks, chunks[1:], strict=False))  # pauses
    assert chunks[-1].end == pytest.approx(audio.duration)
    assert _words(" ".join(c.text for c in chunks)) == _words(normalize_text(script, code))
    # words and phonemes from espeak-ng's reading in that language, inside each chunk
    assert speech.words and speech.phonemes
    for seg in (*speech.words, *speech.phonemes):
        assert any(c.start - 1e-6 <= seg.start <= seg.end <= c.end + 1e-6 for c in chunks)
    assert {w.text.lower() for w in speech.words} >= {"bonjour" if code == "fr" else "hello"}


def test_the_tiny_models_end_each_chunk_by_themselves(backend: Any, voice: Any) -> None:
    """The test models' EOS head ends a chunk as soon as pocket-tts allows (six frames and a
    short tail), far before its length bound: the suite stays cheap."""
    model = backend.load("fr").model
    speech = backend.synthesize(FRENCH, voice, language="fr")
    frame = 1 / model.config.mimi.frame_rate
    for chunk in speech.chunks:
        bound = model._estimate_max_gen_len(backend.count_tokens("fr", chunk.text)) * frame
        assert chunk.end - chunk.start <= 12 * frame < bound / 3


def test_the_language_is_detected_when_not_given(backend: Any, voice: Any) -> None:
    speech = backend.synthesize(ENGLISH, voice)
    assert speech.audio.duration > 0 and _words(speech.chunks[0].text)[0] == "hello"


def test_a_long_script_is_cut_into_chunks_within_the_token_budget(backend: Any, voice: Any) -> None:
    text = normalize_text(LONG_FRENCH, "fr")
    plan = backend.plan(text, "fr")
    budget = backend.budget()
    assert budget == 50  # pocket-tts's MAX_TOKEN_PER_CHUNK
    assert len(plan) >= 6
    for chunk in plan:
        assert 0 < chunk.tokens <= budget
        assert chunk.tokens == backend.count_tokens("fr", chunk.text)
    assert _words(" ".join(c.text for c in plan)) == _words(text)  # nothing lost or repeated
    assert plan[-1].ends_sentence
    assert any(not c.ends_sentence for c in plan)  # a sentence too long was cut at its comma
    # short sentences share a chunk
    assert any(c.text.count(".") >= 2 for c in plan)

    speech = backend.synthesize(LONG_FRENCH, voice, language="fr")
    assert [c.text for c in speech.chunks] == [c.text for c in plan]
    gaps = [b.start - a.end for a, b in zip(speech.chunks, speech.chunks[1:], strict=False)]
    assert min(gaps) > 0.05
    assert max(gaps) - min(gaps) > 0.05  # longer after a sentence than inside one


def test_chunking_cuts_at_words_and_inside_words_that_do_not_fit() -> None:
    budget = 12
    text = "one two three four five six seven. Incomprehensibilities is long."
    plan = plan_chunks(text, len, budget)
    assert all(len(c.text) <= budget for c in plan)
    assert "".join(c.text.replace(" ", "") for c in plan) == text.replace(" ", "")
    assert [c.ends_sentence for c in plan].count(True) == 2
    assert plan_chunks("... !!", len, budget) == []


def _count_generations(monkeypatch: pytest.MonkeyPatch, model: Any) -> dict[str, Any]:
    counts: dict[str, Any] = {"started": 0, "finished": 0, "stops": []}
    real = model.generate_audio_stream

    def generate_audio_stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
        counts["started"] += 1
        counts["stops"].append(kwargs["stop"])
        yield from real(*args, **kwargs)
        counts["finished"] += 1

    monkeypatch.setattr(model, "generate_audio_stream", generate_audio_stream)
    return counts


def test_cancel_is_checked_between_chunks(
    backend: Any, voice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunks = len(backend.plan(normalize_text(LONG_FRENCH, "fr"), "fr"))
    counts = _count_generations(monkeypatch, backend.load("fr").model)
    with pytest.raises(Cancelled):
        backend.synthesize(
            LONG_FRENCH, voice, language="fr", should_cancel=lambda: counts["finished"] >= 2
        )
    assert counts["started"] == counts["finished"] == 2 < chunks
    assert not any(stop.is_set() for stop in counts["stops"])  # both ran to their end


def test_cancel_stops_a_chunk_in_progress(
    backend: Any, voice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = _count_generations(monkeypatch, backend.load("fr").model)
    with pytest.raises(Cancelled):
        backend.synthesize(
            LONG_FRENCH, voice, language="fr", should_cancel=lambda: counts["started"] >= 1
        )
    assert counts["started"] == counts["finished"] == 1  # no other chunk began
    assert counts["stops"][0].is_set()  # pocket-tts was told to stop generating that one


def test_the_voice_state_is_encoded_once_and_cached_on_disk(
    settings: EngineSettings, voice: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _fresh(settings, tmp_path)
    model = backend.load("fr").model
    encoded: list[int] = []
    real = model._encode_audio

    def encode_audio(audio: Any) -> Any:
        encoded.append(audio.shape[-1])
        return real(audio)

    monkeypatch.setattr(model, "_encode_audio", encode_audio)
    first = backend.synthesize(FRENCH, voice, language="fr")
    assert len(encoded) == 1
    entries = list(backend.cache.folder.glob("*.safetensors"))
    assert len(entries) == 1 and entries[0].stat().st_size > 0
    assert backend.cache.sources() == {voice.source}

    again = backend.synthesize(FRENCH, voice, language="fr")  # from memory
    assert len(encoded) == 1
    assert np.array_equal(first.audio.samples, again.audio.samples)  # the seed repeats it

    assert forget_states() == 1
    from_disk = backend.synthesize(FRENCH, voice, language="fr")
    assert len(encoded) == 1  # read back, not encoded again
    assert np.array_equal(first.audio.samples, from_disk.audio.samples)

    # another language is another model: its own state
    backend.synthesize(ENGLISH, voice, language="en")
    assert len(encoded) == 1  # the English model's encoder is another one
    assert len(list(backend.cache.folder.glob("*.safetensors"))) == 2


@pytest.mark.parametrize("damage", [b"not a safetensors file", b""])
def test_a_damaged_cache_entry_is_encoded_again(
    settings: EngineSettings,
    voice: Any,
    tmp_path: Path,
    damage: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = _fresh(settings, tmp_path)
    first = backend.synthesize(FRENCH, voice, language="fr")
    (entry,) = backend.cache.folder.glob("*.safetensors")
    good = entry.read_bytes()
    entry.write_bytes(damage)
    forget_states()
    model = backend.load("fr").model
    calls: list[int] = []
    real = model._encode_audio

    def encode_audio(audio: Any) -> Any:
        calls.append(1)
        return real(audio)

    monkeypatch.setattr(model, "_encode_audio", encode_audio)
    again = backend.synthesize(FRENCH, voice, language="fr")
    assert calls == [1]
    assert entry.read_bytes() == good  # written again, whole
    assert np.array_equal(first.audio.samples, again.audio.samples)


def _foreign_modules(state: dict[str, Any]) -> dict[str, Any]:
    import torch

    return {**state, "elsewhere": {"offset": torch.zeros(1, dtype=torch.long)}}


def _not_a_number(state: dict[str, Any]) -> dict[str, Any]:
    return {
        m: {k: v.float() / 0 if k == "cache" else v for k, v in s.items()} for m, s in state.items()
    }


def _other_heads(state: dict[str, Any]) -> dict[str, Any]:
    return {
        m: {k: v[..., :1, :] if k == "cache" else v for k, v in s.items()} for m, s in state.items()
    }


@pytest.mark.parametrize("alter", [_foreign_modules, _not_a_number, _other_heads])
def test_a_readable_state_that_is_not_this_models_is_made_again(
    settings: EngineSettings, voice: Any, tmp_path: Path, alter: Any
) -> None:
    """A file that loads, but holds other modules, NaNs or other shapes, is encoded again."""
    from pocket_tts import export_model_state
    from safetensors import safe_open

    backend = _fresh(settings, tmp_path)
    first = backend.synthesize(FRENCH, voice, language="fr")
    (entry,) = backend.cache.folder.glob("*.safetensors")
    good = entry.read_bytes()
    state = backend.load("fr").model.get_state_for_audio_prompt(entry)
    export_model_state(
        {m: {k: v.contiguous() for k, v in s.items()} for m, s in alter(state).items()}, entry
    )
    with safe_open(str(entry), framework="pt"):
        pass  # readable: only the checks against the model can refuse it
    forget_states()
    again = backend.synthesize(FRENCH, voice, language="fr")
    assert np.array_equal(first.audio.samples, again.audio.samples)
    assert entry.read_bytes() == good


def test_forgetting_a_voice_file_drops_its_states(
    settings: EngineSettings, voice: Any, tmp_path: Path
) -> None:
    backend = _fresh(settings, tmp_path)
    backend.synthesize(FRENCH, voice, language="fr")
    backend.synthesize(ENGLISH, voice, language="en")
    cache = backend.cache
    assert cache.sources() == {voice.source}
    assert cache.forget("d" * 64) == 0  # someone else's: untouched
    assert cache.forget(voice.source) == 4  # two states, two markers
    assert cache.sources() == set() and not list(cache.folder.glob("*.safetensors"))


def test_the_engines_voice_caches_reach_pocket_states(
    settings: EngineSettings, voice: Any, tmp_path: Path
) -> None:
    """What a worker erases and sweeps with (``Engine.voice_cache``) covers the voice states:
    erasing a person leaves none of theirs on disk."""
    from engine.lipsync.warp import WarpBackend
    from engine.pipeline import Engine

    backend = _fresh(settings, tmp_path)
    backend.synthesize(FRENCH, voice, language="fr")
    engine = Engine(backend.settings, tts=backend, lipsync=WarpBackend(backend.settings))
    caches = engine.voice_cache
    assert caches.sources() == {voice.source}
    assert caches.forget(voice.source) == 2  # the state and its marker
    assert not list(backend.cache.folder.glob("*.safetensors")) and not caches.sources()


def test_unused_states_expire(settings: EngineSettings, voice: Any, tmp_path: Path) -> None:
    import time

    backend = _fresh(settings, tmp_path)
    backend.synthesize(FRENCH, voice, language="fr")
    cache = backend.cache
    assert cache.expire(3600) == 0
    assert cache.expire(3600, now=time.time() + 7200) == 2  # the state and its marker
    assert not any(cache.folder.rglob("*.*"))


def test_the_seed_repeats_a_render_and_another_seed_changes_it(
    settings: EngineSettings, backend: Any, voice: Any, tmp_path: Path
) -> None:
    import torch

    one = backend.synthesize(FRENCH, voice, language="fr").audio.samples
    torch.manual_seed(1234)  # whatever else the process draws does not matter
    torch.rand(7)
    two = backend.synthesize(FRENCH, voice, language="fr").audio.samples
    assert np.array_equal(one, two)
    state = torch.random.get_rng_state()
    other = _fresh(settings, tmp_path, tts_seed=7).synthesize(FRENCH, voice, language="fr")
    assert not np.array_equal(one[: other.audio.samples.size], other.audio.samples[: one.size])
    # a render, voice encoding included, leaves the process's random numbers where they were
    torch.random.set_rng_state(state)
    forget_states()
    _fresh(settings, tmp_path / "again").synthesize(FRENCH, voice, language="fr")
    assert torch.equal(torch.random.get_rng_state(), state)


def test_generation_runs_on_the_configured_threads_and_leaves_the_count_alone(
    settings: EngineSettings, voice: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    before = torch.get_num_threads()
    wanted = before + 1
    backend = _fresh(settings, tmp_path, threads=wanted)
    assert torch.get_num_threads() == before  # importing pocket-tts sets 1: undone
    model = backend.load("fr").model
    seen: list[int] = []
    real = model.generate_audio_stream

    def generate_audio_stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
        seen.append(torch.get_num_threads())
        yield from real(*args, **kwargs)

    monkeypatch.setattr(model, "generate_audio_stream", generate_audio_stream)
    backend.synthesize(FRENCH, voice, language="fr")
    assert seen and set(seen) == {wanted}
    assert torch.get_num_threads() == before


def test_a_language_without_weights_is_refused_in_one_line(backend: Any, voice: Any) -> None:
    with pytest.raises(BackendUnavailable) as err:
        backend.synthesize("Guten Tag, wie geht es Ihnen?", voice, language="de")
    message = str(err.value)
    assert "no Pocket TTS German weights" in message and "languages/german" in message
    assert "mouthpiece models fetch pocket" in message and "\n" not in message
    with pytest.raises(BackendUnavailable, match="no model for the language 'ru'"):
        backend.synthesize("Привет, как дела?", voice, language="ru")


def test_a_script_with_nothing_to_say_is_refused(backend: Any, voice: Any) -> None:
    with pytest.raises(InvalidInput, match="nothing that can be spoken"):
        backend.synthesize("« … »", voice, language="fr")


def test_languages_ready_and_check_say_what_is_missing(
    settings: EngineSettings, pocket_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = languages_ready(settings)
    assert set(ready) == {"en", "fr", "de", "es", "it", "pt", "nl"}
    assert ready["fr"] is None and ready["en"] is None
    assert "no Pocket TTS Dutch weights" in str(ready["nl"])
    assert check(settings) is None

    empty = replace(settings, tts_pocket=str(tmp_path / "nothing"))
    assert "no Pocket TTS weights for any language" in str(check(empty))
    with pytest.raises(BackendUnavailable, match="no Pocket TTS weights for any language"):
        PocketBackend(empty)

    # default folder: <models_dir>/pocket
    by_default = replace(settings, tts_pocket="", models_dir=pocket_root.parent)
    (pocket_root.parent / "pocket").mkdir(exist_ok=True)
    assert "no Pocket TTS weights" in str(check(by_default))
    assert str(pocket_root.parent / "pocket") in str(check(by_default))

    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pocket_tts" else real_find_spec(name, *a),
    )
    assert "pocket-tts is not installed" in str(check(settings))
    assert all("pocket-tts is not installed" in str(r) for r in languages_ready(settings).values())


def test_a_missing_file_named_by_the_config_is_reported(
    settings: EngineSettings, pocket_root: Path, tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "weights"
    shutil.copytree(pocket_root / "languages" / "french", root / "languages" / "french")
    (root / "languages" / "french" / "tokenizer.json").unlink()
    mine = replace(settings, tts_pocket=str(root))
    reason = languages_ready(mine)["fr"]
    assert reason is not None and "tokenizer.json is missing" in reason


def test_the_wheels_configuration_is_used_with_local_files_only(
    settings: EngineSettings, tmp_path: Path
) -> None:
    """Without a config.yaml, the released configuration's hub paths become the folder's
    files: nothing pocket-tts is given could make it download."""
    folder = tmp_path / "languages" / "spanish"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"x")
    (folder / "tokenizer.json").write_text("{}")
    where = locate(replace(settings, tts_pocket=str(tmp_path)), "es")
    assert where.source.name == "spanish.yaml" and where.source.parent.name == "config"
    assert where.config["weights_path"] == str(folder / "model.safetensors")
    lookup = where.config["flow_lm"]["lookup_table"]
    assert lookup["tokenizer_path"] == str(folder / "tokenizer.json")
    assert lookup["tokenizer"] == "tokenizers" and lookup["n_bins"] == 4000
    assert where.config["weights_path_without_voice_cloning"] is None
    assert "hf://" not in repr(where.config) and "http" not in repr(where.config)
    assert set(where.files) == {folder / "model.safetensors", folder / "tokenizer.json"}

    # a configuration that names a web address elsewhere is refused, not downloaded
    (folder / "config.yaml").write_text(
        "weights_path: model.safetensors\nflow_lm:\n  lookup_table:\n"
        "    tokenizer_path: tokenizer.json\nnote: https://example.com/x.bin\n"
    )
    with pytest.raises(BackendUnavailable, match="names a remote file"):
        locate(replace(settings, tts_pocket=str(tmp_path)), "es")


@pytest.mark.parametrize("damage", ["without_cloning", "truncated"])
def test_weights_that_cannot_serve_are_refused_in_one_line(
    settings: EngineSettings, pocket_root: Path, tmp_path: Path, damage: str
) -> None:
    import shutil

    import safetensors.torch

    root = tmp_path / "weights"
    folder = root / "languages" / "french"
    shutil.copytree(pocket_root / "languages" / "french", folder)
    weights = folder / "model.safetensors"
    if damage == "without_cloning":  # what kyutai/pocket-tts-without-voice-cloning holds
        tensors = safetensors.torch.load_file(weights)
        del tensors["flow_lm.speaker_proj_weight"]
        safetensors.torch.save_file(tensors, weights)
        expected = "cannot clone voices"
    else:
        weights.write_bytes(weights.read_bytes()[:5000])
        expected = "does not load"
    backend = _fresh(settings, tmp_path, tts_pocket=str(root))
    with pytest.raises(BackendUnavailable) as err:
        backend.load("fr")
    message = str(err.value)
    assert expected in message and str(folder) in message and "\n" not in message
    assert "mouthpiece models fetch pocket" in message


@pytest.mark.parametrize(
    ("code", "script"),
    [
        ("de", "Guten Tag. Ich heiße Anna und wünsche Ihnen einen schönen Tag."),
        ("es", "Hola a todos. Me llamo Lucía y les deseo un buen día."),
        ("it", "Ciao a tutti. Mi chiamo Giulia e vi auguro una buona giornata."),
        ("pt", "Olá a todos. Meu nome é Ana e desejo a vocês um ótimo dia."),
        ("nl", "Hallo allemaal. Ik heet Sanne en ik wens jullie een fijne dag."),
    ],
)
def test_every_other_released_language_speaks(
    code: str, script: str, voice: Any, tmp_path: Path
) -> None:
    """The released German, Spanish, Italian, Portuguese and Dutch configurations, each as a
    tiny random-weight model: found by its language, spoken in it, timed by its phonemes."""
    from tests.auxil.pocket_models import write_pocket_model

    write_pocket_model(tmp_path / "models", code)
    settings = EngineSettings(
        tts="pocket", tts_pocket=str(tmp_path / "models"), cache_dir=tmp_path / "cache", threads=1
    )
    assert languages_ready(settings)[code] is None
    speech = PocketBackend(settings).synthesize(script, voice)  # the language detected
    assert speech.backend == "pocket" and speech.audio.duration > 0.5
    assert speech.chunks and speech.phonemes
