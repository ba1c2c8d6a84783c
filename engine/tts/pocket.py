"""Pocket TTS (Kyutai, about 100 M parameters): voice cloning in seven languages on a CPU.

Runs Kyutai's ``pocket-tts`` 4.0.1 package as a library. It is installed without its declared
dependencies (``pip install --no-deps``): its metadata asks for numpy>=2, which mediapipe
0.10.21 here refuses, yet its code only calls numpy for ``prod``, ``frombuffer`` and
``from_numpy``, which numpy 1.26 has; the ``pocket`` extra lists what it really imports.

1. Weights: one model per language under ``MOUTHPIECE_TTS_POCKET`` (default
   ``<models_dir>/pocket``), in the layout ``mouthpiece models fetch pocket`` leaves:
   ``languages/<name>/model.safetensors`` and ``tokenizer.json`` (``<name>``: the language's
   configuration in the wheel, :attr:`spoken_text.languages.Language.pocket`). The wheel's
   configuration of that language is used with its hub paths replaced by those files; a
   ``config.yaml`` in the folder replaces it (relative paths are read from the folder).
   Nothing here reads the network: pocket-tts only ever gets local paths.
2. The voice note is encoded once per model into the flow model's state after hearing it,
   cached on disk as safetensors (``<cache_dir>/pocket``, keyed by the audio, the language
   and the model files, indexed by the voice file for erasure: :class:`StateCache`) and, for
   the last few voices, in memory.
3. The script is normalised in its language and cut at sentences, then clauses, then words,
   into chunks that fit pocket-tts's token budget per generation.
4. Each chunk is generated from a copy of the voice state, seeded (repeatable renders), with
   a check for cancellation while it streams; chunks are joined with short pauses, and words
   and phonemes are timed with espeak-ng's reading of each chunk (:mod:`engine.tts.phonetimes`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from engine.errors import BackendUnavailable, Cancelled, InvalidInput
from engine.settings import EngineSettings
from engine.tts.refcache import ReferenceCache
from engine.types import Audio, CancelCheck, Segment, Speech, VoiceRef
from spoken_text.languages import LANGUAGES, Language, resolve
from spoken_text.normalize import normalize_text, split_clauses, split_sentences

__all__ = [
    "PocketBackend",
    "Chunk",
    "LanguageModel",
    "StateCache",
    "check",
    "languages_ready",
    "locate",
    "plan_chunks",
    "pocket_root",
    "state_cache",
    "forget_states",
    "OUTPUT_RATE",
    "POCKET_VERSION",
]

log = logging.getLogger(__name__)

POCKET_VERSION = "4.0.1"  # the pocket-tts release whose configurations and API this follows
OUTPUT_RATE = 24_000
_SENTENCE_GAP = 0.2  # seconds of silence after a chunk that ends a sentence
_CLAUSE_GAP = 0.08  # ... after one that stops inside a sentence
_EDGE_FADE = 0.01
_MAX_PROMPT_SECONDS = 30.0  # the voice note heard by the model (pocket-tts's own truncation)
_MODELS_KEPT = 2  # language models kept loaded
_STATES_KEPT = 4  # voice states kept in memory (each a few MB)
_FINGERPRINT_BYTES = 1 << 20
_REMOTE = ("hf://", "http://", "https://")
_HOW = "mouthpiece models fetch pocket"
# what pocket-tts imports at run time (its server and CLI's fastapi, uvicorn, typer are not)
_RUNTIME = (
    ("torch", "torch"),
    ("safetensors", "safetensors"),
    ("tokenizers", "tokenizers"),
    ("sentencepiece", "sentencepiece"),
    ("scipy", "scipy"),
    ("yaml", "pyyaml"),
    ("pydantic", "pydantic"),
    ("huggingface_hub", "huggingface-hub"),
    ("requests", "requests"),
    ("typing_extensions", "typing-extensions"),
)
_INSTALL = (
    f"pip install 'mouthpiece[pocket]' && pip install --no-deps 'pocket-tts=={POCKET_VERSION}'"
)

# the flow model's state after hearing a voice: {module name: {"cache", "offset", "pad"}}
ModelState = dict[str, dict[str, Any]]


# ---- where the weights are -----------------------------------------------------------------
def pocket_root(settings: EngineSettings) -> Path:
    """The folder holding ``languages/<name>/`` (``MOUTHPIECE_TTS_POCKET``, else
    ``<models_dir>/pocket``)."""
    if settings.tts_pocket:
        return Path(settings.tts_pocket).expanduser()
    return Path(settings.models_dir) / "pocket"


def _missing_runtime() -> str | None:
    """Why pocket-tts cannot be imported here (found without importing anything)."""
    if importlib.util.find_spec("pocket_tts") is None:
        return f"pocket-tts is not installed: {_INSTALL}"
    for module, package in _RUNTIME:
        if importlib.util.find_spec(module) is None:
            return f"{package} (needed by pocket-tts) is not installed: {_INSTALL}"
    return None


def _wheel_configs() -> Path:
    spec = importlib.util.find_spec("pocket_tts")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(f"pocket-tts is not installed: {_INSTALL}")
    return Path(next(iter(spec.submodule_search_locations))) / "config"


@dataclass(frozen=True)
class LanguageModel:
    """One language's model as pocket-tts will load it: its configuration with every path
    local and absolute, and the files it reads."""

    code: str
    folder: Path
    config: dict[str, Any]
    files: tuple[Path, ...]
    source: Path  # the configuration it came from (the folder's config.yaml, or the wheel's)


def locate(settings: EngineSettings, code: str) -> LanguageModel:
    """Language ``code``'s model, resolved; BackendUnavailable (one line) when it has none."""
    lang = LANGUAGES.get(code)
    if lang is None:
        raise BackendUnavailable(f"Pocket TTS has no model for the language {code!r}")
    folder = pocket_root(settings) / "languages" / lang.pocket
    if not folder.is_dir():
        raise BackendUnavailable(f"no Pocket TTS {lang.name} weights in {folder}", hint=_HOW)
    own = folder / "config.yaml"
    source = own if own.is_file() else _wheel_configs() / f"{lang.pocket}.yaml"
    try:
        import yaml

        raw = yaml.safe_load(source.read_text("utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a mapping")
    except (OSError, ValueError, ImportError) as e:  # yaml.YAMLError is a ValueError
        raise BackendUnavailable(
            f"the Pocket TTS {lang.name} configuration {source} is unreadable: {e}"
        ) from e
    config, files = _localise(raw, folder)
    for path in files:
        if not path.is_file():
            raise BackendUnavailable(
                f"Pocket TTS {lang.name}: {path} is missing",
                hint=_HOW if path.parent == folder else "check the folder's config.yaml",
            )
    return LanguageModel(code, folder, config, files, source)


_PATH_KEYS = (
    ("weights_path",),
    ("flow_lm", "weights_path"),
    ("mimi", "weights_path"),
    ("flow_lm", "lookup_table", "tokenizer_path"),
)


def _localise(raw: dict[str, Any], folder: Path) -> tuple[dict[str, Any], tuple[Path, ...]]:
    """``raw`` with its file paths made local (a hub or web path: the file of that name in
    ``folder``; a relative one: in ``folder``), and those files."""
    config = json.loads(json.dumps(raw))  # a deep copy
    config["weights_path_without_voice_cloning"] = None  # voice cloning or nothing
    files = []
    for keys in _PATH_KEYS:
        parent = config
        for key in keys[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        value = parent.get(keys[-1]) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and isinstance(value, str) and value:
            path = _local(value, folder)
            parent[keys[-1]] = str(path)
            files.append(path)
    remote = [v for v in _strings(config) if v.startswith(_REMOTE)]
    if remote:  # a path pocket-tts would download: never handed over
        raise BackendUnavailable(f"the Pocket TTS configuration names a remote file: {remote[0]}")
    return config, tuple(files)


def _local(value: str, folder: Path) -> Path:
    if value.startswith("hf://"):
        name = PurePosixPath(value.removeprefix("hf://").split("@", 1)[0]).name
        return folder / name
    if value.startswith(("http://", "https://")):
        return folder / PurePosixPath(urlsplit(value).path).name
    path = Path(value).expanduser()
    return path if path.is_absolute() else folder / path


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def languages_ready(settings: EngineSettings) -> dict[str, str | None]:
    """Per supported language code: None when Pocket TTS can speak it here, else why not.
    Reads no weights (file checks and the configuration only)."""
    missing = _missing_runtime()
    ready: dict[str, str | None] = {}
    for code in LANGUAGES:
        if missing:
            ready[code] = missing
            continue
        try:
            locate(settings, code)
            ready[code] = None
        except BackendUnavailable as e:
            ready[code] = str(e)
    return ready


def check(settings: EngineSettings) -> str | None:
    """Why this backend cannot run here (pocket-tts missing, no weights for any language),
    or None."""
    missing = _missing_runtime()
    if missing:
        return missing
    ready = languages_ready(settings)
    if any(reason is None for reason in ready.values()):
        return None
    root = pocket_root(settings)
    return f"no Pocket TTS weights for any language in {root} ({_HOW})"


# ---- the voice-state cache -----------------------------------------------------------------
class StateCache(ReferenceCache):
    """:class:`~engine.tts.refcache.ReferenceCache` whose entries are voice states saved by
    pocket-tts (``<key>.safetensors``): ``used``, ``sources`` and ``forget`` work as for
    NeuTTS's codes."""

    suffix = ".safetensors"


def state_cache(settings: EngineSettings) -> StateCache:
    """The on-disk voice states of this backend (``<cache_dir>/pocket``)."""
    return StateCache(Path(settings.cache_dir) / "pocket")


_MEMORY: OrderedDict[str, ModelState] = OrderedDict()
_MEMORY_LOCK = threading.Lock()


def forget_states() -> int:
    """Drop the voice states kept in memory (every backend in this process); how many."""
    with _MEMORY_LOCK:
        n = len(_MEMORY)
        _MEMORY.clear()
        return n


# ---- chunking ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """One generation: normalised text within the token budget."""

    text: str
    ends_sentence: bool
    tokens: int


def plan_chunks(text: str, count: Callable[[str], int], budget: int) -> list[Chunk]:
    """Cut normalised ``text`` into chunks of at most ``budget`` tokens (``count``): whole
    sentences joined while they fit, a longer sentence cut after its clauses, a longer
    clause between words (a longer word between letters)."""
    pieces: list[tuple[str, bool]] = []
    for sentence in split_sentences(text):
        if count(sentence) <= budget:
            pieces.append((sentence, True))
            continue
        clauses = split_clauses(sentence)
        for i, clause in enumerate(clauses):
            parts = [clause] if count(clause) <= budget else _cut(clause, count, budget)
            last = i == len(clauses) - 1
            pieces += [(p, last and j == len(parts) - 1) for j, p in enumerate(parts)]
    chunks: list[Chunk] = []
    for piece, ends in pieces:
        if not any(ch.isalnum() for ch in piece):
            continue
        if chunks:
            merged = f"{chunks[-1].text} {piece}"
            n = count(merged)
            if n <= budget:
                chunks[-1] = Chunk(merged, ends, n)
                continue
        chunks.append(Chunk(piece, ends, count(piece)))
    return chunks


def _cut(clause: str, count: Callable[[str], int], budget: int) -> list[str]:
    """``clause`` in pieces of at most ``budget`` tokens, between words where it can."""
    parts: list[str] = []
    current = ""
    for word in clause.split():
        joined = f"{current} {word}".strip()
        if count(joined) <= budget:
            current = joined
            continue
        if current:
            parts.append(current)
        current = word
        while count(current) > budget and len(current) > 1:  # a word longer than a chunk
            size = len(current) - 1
            while size > 1 and count(current[:size]) > budget:
                size = size // 2 if count(current[: size // 2]) > budget else size - 1
            parts.append(current[:size])
            current = current[size:]
    if current:
        parts.append(current)
    return parts


# ---- pocket-tts itself ---------------------------------------------------------------------
_ALL_THREADS: int | None = None


def _pocket() -> Any:
    """The pocket_tts package. Importing it sets torch to one thread for the whole process:
    the count from before is put back (renders set their own, ``_torch_threads``)."""
    global _ALL_THREADS
    import torch

    before = torch.get_num_threads()
    if _ALL_THREADS is None:
        _ALL_THREADS = before
    import pocket_tts
    import pocket_tts.models.text_chunking  # noqa: F401 - prepare_text_prompt

    torch.set_num_threads(before)
    return pocket_tts


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fingerprint(model: LanguageModel) -> str:
    """Identifies a model (its configuration, and each file's name, size, first and last
    MiB) for the voice-state cache key."""
    h = hashlib.sha256(json.dumps(model.config, sort_keys=True).encode())
    for path in model.files:
        size = path.stat().st_size
        h.update(f"{path.name}:{size}".encode())
        with open(path, "rb") as f:
            h.update(f.read(_FINGERPRINT_BYTES))
            if size > 2 * _FINGERPRINT_BYTES:
                f.seek(-_FINGERPRINT_BYTES, os.SEEK_END)
                h.update(f.read())
    return h.hexdigest()[:16]


@dataclass
class _Loaded:
    model: Any  # pocket_tts.TTSModel
    fingerprint: str
    lang: Language


class PocketBackend:
    """Speech backend on Pocket TTS. Each language's model is loaded on its first script
    (the last two used stay loaded); voice states are cached per voice and model."""

    name = "pocket"
    needs_transcript = False

    def __init__(self, settings: EngineSettings) -> None:
        missing = _missing_runtime()
        if missing:
            raise BackendUnavailable(missing)
        self.settings = settings
        self.root = pocket_root(settings)
        ready = languages_ready(settings)
        if not any(reason is None for reason in ready.values()):
            raise BackendUnavailable(
                f"no Pocket TTS weights for any language in {self.root}", hint=_HOW
            )
        _pocket()
        assert _ALL_THREADS is not None
        self.threads = settings.threads or _ALL_THREADS
        self.cache = state_cache(settings)
        self._models: OrderedDict[str, _Loaded] = OrderedDict()
        self._lock = threading.RLock()  # pocket-tts models are not thread safe
        log.info(
            "pocket ready",
            extra={"root": str(self.root), "languages": [c for c, r in ready.items() if not r]},
        )

    # ---- models ----------------------------------------------------------------------------
    def load(self, code: str) -> _Loaded:
        """Language ``code``'s model, loaded on first use (BackendUnavailable: it has none)."""
        with self._lock:
            if code in self._models:
                self._models.move_to_end(code)
                return self._models[code]
            where = locate(self.settings, code)
            loaded = _Loaded(_load_model(where), _fingerprint(where), LANGUAGES[code])
            self._models[code] = loaded
            while len(self._models) > _MODELS_KEPT:
                old, _ = self._models.popitem(last=False)
                log.info("pocket: unloaded the %s model", old)
            return loaded

    def budget(self) -> int:
        """Tokens per generation: pocket-tts's own chunk size."""
        from pocket_tts.default_parameters import MAX_TOKEN_PER_CHUNK

        return int(MAX_TOKEN_PER_CHUNK)

    def count_tokens(self, code: str, text: str) -> int:
        """Tokens the model reads for ``text`` as pocket-tts prepares it (capital, full
        stop, the language's character replacements); 0 for nothing to say."""
        from pocket_tts.models.text_chunking import prepare_text_prompt

        model = self.load(code).model
        try:
            prepared, _ = prepare_text_prompt(
                text,
                model.pad_with_spaces_for_short_inputs,
                model.remove_semicolons,
                model.append_terminal_punctuation,
                model.capitalize_first_letter,
                model.replace_characters,
            )
        except ValueError:  # nothing left once the characters are replaced
            return 0
        return len(model.flow_lm.conditioner.tokenizer.encode(prepared))

    def plan(self, text: str, code: str) -> list[Chunk]:
        """How normalised ``text`` is cut into generations in language ``code``."""
        budget = self.budget()
        chunks = plan_chunks(text, lambda t: self.count_tokens(code, t), budget)
        return [c for c in chunks if c.tokens > 0]

    # ---- voices ----------------------------------------------------------------------------
    def voice_state(self, voice: VoiceRef, code: str) -> ModelState:
        """The model's state after hearing ``voice`` (memory, disk, or encoded now)."""
        loaded = self.load(code)
        key = hashlib.sha256(
            f"pocket:{voice.audio.content_hash()}:{code}:{loaded.fingerprint}".encode()
        ).hexdigest()[:32]
        with _MEMORY_LOCK:
            if key in _MEMORY:
                _MEMORY.move_to_end(key)
                return _MEMORY[key]
        path = self.cache.path(key)
        state = None
        if path.is_file():
            try:
                state = _read_state(loaded.model, path)
                log.debug("pocket voice state from cache %s", path.name)
            except Exception as e:  # a damaged entry is made again, never fatal
                log.warning("unreadable voice state %s (%s): encoding again", path.name, e)
        if state is None:
            state = self._encode(loaded.model, voice)
            try:
                _write_state(state, path)
            except OSError as e:
                log.warning("could not cache the voice state: %s", e)
        if path.is_file():
            self.cache.used(key, voice.source)
        with _MEMORY_LOCK:
            _MEMORY[key] = state
            while len(_MEMORY) > _STATES_KEPT:
                _MEMORY.popitem(last=False)
        return state

    def _encode(self, model: Any, voice: VoiceRef) -> ModelState:
        import torch

        from engine.media.audio import cut_at_pause, resample

        audio = resample(voice.audio, int(model.sample_rate))
        if audio.duration > _MAX_PROMPT_SECONDS:
            audio = cut_at_pause(audio, _MAX_PROMPT_SECONDS)
        samples = np.ascontiguousarray(audio.samples, dtype=np.float32)
        if samples.size == 0:
            raise InvalidInput("The voice note has no sound in it.", field="voice")
        # the prompt's pass samples a latent it throws away: from a forked generator, so that
        # encoding a voice leaves the process's random numbers alone, as generation does
        with self._lock, _torch_threads(self.threads), torch.random.fork_rng(devices=[]):
            state: ModelState = model.get_state_for_audio_prompt(torch.from_numpy(samples)[None])
        return state

    # ---- speech ----------------------------------------------------------------------------
    def stream(
        self,
        script: str,
        voice: VoiceRef,
        *,
        language: str | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Iterator[tuple[int, Chunk, np.ndarray]]:
        """Speak ``script``: (chunk index, chunk, 24 kHz samples) as pocket-tts decodes
        them, several pieces per chunk. Cancelled when ``should_cancel`` says so, checked
        before each chunk and after each piece."""
        import torch

        code = language or resolve(None, script)
        loaded = self.load(code)  # BackendUnavailable: no weights for that language
        chunks = self.plan(normalize_text(script, code), code)
        if not chunks:
            raise InvalidInput(
                "The script has nothing that can be spoken: send some words.", field="script"
            )
        state = self.voice_state(voice, code)
        budget = self.budget()
        with self._lock, _torch_threads(self.threads), torch.random.fork_rng(devices=[]):
            for index, chunk in enumerate(chunks):
                if should_cancel and should_cancel():
                    raise Cancelled("cancelled during speech")
                torch.manual_seed(self.settings.tts_seed + index)
                stop = threading.Event()
                for piece in loaded.model.generate_audio_stream(
                    state, chunk.text, max_tokens=budget, copy_state=True, stop=stop
                ):
                    if not stop.is_set():
                        yield index, chunk, piece.numpy().astype(np.float32, copy=True)
                        if should_cancel and should_cancel():
                            stop.set()  # the stream ends after the frame in flight
                if stop.is_set():
                    raise Cancelled("cancelled during speech")

    def synthesize(
        self,
        script: str,
        voice: VoiceRef,
        *,
        language: str | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Speech:
        """Speak ``script`` in ``voice`` in ``language`` (None: detected): chunks joined with
        short pauses, words and phonemes timed from espeak-ng's reading of each chunk."""
        from engine.media.audio import normalize_loudness
        from engine.tts.phonetimes import espeak_timing

        code = language or resolve(None, script)
        parts: dict[int, list[np.ndarray]] = {}
        chunks: dict[int, Chunk] = {}
        for index, chunk, samples in self.stream(
            script, voice, language=code, should_cancel=should_cancel
        ):
            parts.setdefault(index, []).append(samples)
            chunks[index] = chunk
        audio, segments = join_chunks(
            [(chunks[i], np.concatenate(parts[i])) for i in sorted(chunks)]
        )
        words: list[Segment] = []
        phonemes: list[Segment] = []
        for seg in segments:
            w, p = espeak_timing(seg.text, code, seg.start, seg.end)
            words += w
            phonemes += p
        out = normalize_loudness(Audio(audio, OUTPUT_RATE))
        samples = np.clip(np.nan_to_num(out.samples), -1.0, 1.0).astype(np.float32)
        return Speech(
            audio=Audio(samples, OUTPUT_RATE),
            words=tuple(words),
            phonemes=tuple(phonemes),
            chunks=tuple(segments),
            backend=self.name,
            watermarked=False,
        )


def join_chunks(chunks: list[tuple[Chunk, np.ndarray]]) -> tuple[np.ndarray, list[Segment]]:
    """Chunk audio end to end, a pause after each (longer after a sentence); one Segment
    (start, end, text) per chunk."""
    rate = OUTPUT_RATE
    pieces: list[np.ndarray] = []
    segments: list[Segment] = []
    at = 0
    for i, (chunk, samples) in enumerate(chunks):
        if i:
            gap = _SENTENCE_GAP if chunks[i - 1][0].ends_sentence else _CLAUSE_GAP
            pieces.append(np.zeros(int(gap * rate), np.float32))
            at += int(gap * rate)
        faded = _fade_out(samples, int(_EDGE_FADE * rate))
        pieces.append(faded)
        segments.append(Segment(at / rate, (at + faded.size) / rate, chunk.text))
        at += faded.size
    out = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return out.astype(np.float32, copy=False), segments


def _fade_out(samples: np.ndarray, n: int) -> np.ndarray:
    samples = samples.astype(np.float32, copy=True)
    n = min(n, samples.size // 2)
    if n > 0:
        samples[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return samples


def _load_model(where: LanguageModel) -> Any:
    """pocket-tts's TTSModel from local files only (its configuration rewritten to them)."""
    import torch
    import yaml

    pocket = _pocket()
    name = LANGUAGES[where.code].name
    started = time.monotonic()
    weights = where.config.get("weights_path")
    if weights and not _clones_voices(Path(weights)):
        raise BackendUnavailable(
            f"the Pocket TTS {name} weights in {where.folder} cannot clone voices (the "
            "without-voice-cloning release?)",
            hint=f"the kyutai/pocket-tts release can: {_HOW}",
        )
    try:
        # building the modules draws their initial weights: from a forked generator
        with (
            tempfile.TemporaryDirectory(prefix="mouthpiece-pocket-") as tmp,
            torch.random.fork_rng(devices=[]),
        ):
            config = Path(tmp) / f"{LANGUAGES[where.code].pocket}.yaml"
            config.write_text(yaml.safe_dump(where.config, allow_unicode=True), "utf-8")
            model = pocket.TTSModel.load_model(config=config)
    except Exception as e:  # pydantic, safetensors and torch each raise their own
        raise BackendUnavailable(
            f"the Pocket TTS {name} model in {where.folder} does not load: "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
            hint=f"fetch it again: {_HOW}",
        ) from e
    # one frame per decoder call: batching whatever frames are queued makes the audio depend
    # on thread timing (differences of 1e-7), and a seeded render must repeat exactly
    model.max_decoder_frames_per_call = 1
    model.eval()
    log.info(
        "pocket: loaded the %s model from %s in %.1f s",
        name,
        where.folder,
        time.monotonic() - started,
    )
    return model


def _clones_voices(weights: Path) -> bool:
    """Whether a model file holds the projection of a voice into the flow model (the
    released model without voice cloning lacks it). Reads the file's header only; an
    unreadable file is left to the loader to report."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as f:
            return "flow_lm.speaker_proj_weight" in f.keys()  # noqa: SIM118 - not a dict
    except Exception:  # safetensors raises its own error type
        return True


def _read_state(model: Any, path: Path) -> ModelState:
    """A cached voice state, checked against the model (its modules, shapes, finite)."""
    import torch
    from pocket_tts.modules.stateful_module import init_states

    state: ModelState = model.get_state_for_audio_prompt(path)
    expected = init_states(model.flow_lm, batch_size=1, sequence_length=1)
    if set(state) != set(expected):
        raise ValueError("its modules are not the model's")
    for name, fresh in expected.items():
        got = state[name]
        if set(got) != set(fresh):
            raise ValueError(f"{name} holds {sorted(got)}")
        cache = got.get("cache")
        if cache is not None:
            want = fresh["cache"].shape
            if cache.ndim != len(want) or cache.shape[3:] != want[3:]:
                raise ValueError(f"{name} has a cache of shape {tuple(cache.shape)}")
            if not bool(torch.isfinite(cache).all()):
                raise ValueError(f"{name} has a cache with NaN or infinite values")
    return state


def _write_state(state: ModelState, path: Path) -> None:
    """Save a voice state with pocket-tts's own format, atomically (tmp file + rename)."""
    from pocket_tts import export_model_state

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        contiguous = {m: {k: v.contiguous() for k, v in s.items()} for m, s in state.items()}
        export_model_state(contiguous, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
