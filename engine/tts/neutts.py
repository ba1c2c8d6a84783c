"""NeuTTS Air voice cloning: GGUF backbone on llama.cpp, NeuCodec, espeak phonemes.

Own small runtime rather than the ``neutts`` package (which does not import beside torch CPU
here, loads codecs only from the hub and offloads to GPU only for the device string "gpu"):

1. the reference voice is encoded once into NeuCodec codes, cached on disk by content hash
   (and indexed by the voice file it came from, so a caller can delete a person's entries:
   :class:`~engine.tts.refcache.ReferenceCache`);
2. the script is normalised and cut into chunks that fit the 2,048-token context;
3. each chunk is generated (``stream`` yields it as soon as it is decoded); a chunk that ran
   out of budget, or came out far shorter than its text, is cut in two and generated again;
4. chunks are joined with short pauses (between sentences) or crossfades (inside one).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.errors import BackendUnavailable, Cancelled, InvalidInput
from engine.settings import EngineSettings
from engine.tts._neutts_lm import N_CTX, Sampling, SpeechLM
from engine.tts._neutts_text import Budget, ChunkPlan, plan_chunks, split_plan
from engine.tts.neutts_espeak import ESPEAK_VERSION, Phonemizer, find
from engine.tts.refcache import ReferenceCache
from engine.types import Audio, CancelCheck, Segment, Speech, VoiceRef
from spoken_text.normalize import detect_language

__all__ = [
    "NeuTTSBackend",
    "ReferenceCodes",
    "SpeechChunk",
    "check",
    "sampling_of",
    "OUTPUT_RATE",
]

log = logging.getLogger(__name__)

OUTPUT_RATE = 24_000
REFERENCE_RATE = 16_000
FRAME_RATE = 50  # speech tokens per second
_SENTENCE_GAP = 0.15  # seconds of silence between sentences
_CROSSFADE = 0.02  # seconds of overlap where a sentence was cut
_EDGE_FADE = 0.01
_TOO_SHORT = 0.2  # a chunk with less than this share of its expected tokens is suspect
_RESPLIT_ABOVE = 4.0  # seconds: too-short chunks longer than this are cut and retried
_PHONE_RATE = (1.5, 6.0)  # plausible speech tokens per phoneme character
_HUB_FILES = {"backbone": ("*.gguf",), "codec": ("*.bin", "*.safetensors", "*.json")}


def check(settings: EngineSettings) -> str | None:
    """Why this backend cannot run here, or None."""
    for module, extra in (
        ("llama_cpp", "llama-cpp-python"),
        ("torch", "torch"),
        ("phonemizer", "phonemizer"),
    ):
        try:
            __import__(module)
        except ImportError:
            return f"{extra} is not installed: pip install 'mouthpiece[neutts]'"
    if settings.tts_espeak not in ("", "system") and find(Path(settings.tts_espeak)) is None:
        return f"MOUTHPIECE_TTS_ESPEAK={settings.tts_espeak} holds no espeak-ng {ESPEAK_VERSION}"
    try:
        _resolve(settings.tts_backbone, settings, "backbone", download=False)
        _resolve(settings.tts_codec, settings, "codec", download=False)
    except BackendUnavailable as e:
        return str(e)
    return None


def sampling_of(settings: EngineSettings) -> Sampling:
    """The speech-token sampling the settings ask for (defaults: upstream's)."""
    return Sampling(
        temperature=settings.tts_temperature,
        top_k=settings.tts_top_k,
        top_p=settings.tts_top_p,
        min_p=settings.tts_min_p,
        seed=settings.tts_seed,
    )


@dataclass(frozen=True)
class ReferenceCodes:
    """A reference voice as NeuTTS needs it: codec codes plus what was said."""

    codes: np.ndarray  # int64, 50 per second
    transcript: str
    audio_hash: str

    def save(self, path: Path) -> Path:
        """Write atomically as .npz (the bot stores these with voice profiles)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
        os.close(fd)
        try:
            with open(tmp, "wb") as f:
                np.savez(
                    f, codes=self.codes, transcript=self.transcript, audio_hash=self.audio_hash
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: Path) -> ReferenceCodes:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                data["codes"].astype(np.int64), str(data["transcript"]), str(data["audio_hash"])
            )


@dataclass(frozen=True)
class SpeechChunk:
    """One generated chunk: its audio (24 kHz) and how generation went."""

    index: int
    text: str
    audio: Audio
    tokens: int
    expected_tokens: int
    max_new_tokens: int
    prompt_tokens: int
    finish_reason: str  # "stop": the model ended it; "length": it ran out of budget
    ends_sentence: bool
    warnings: tuple[str, ...] = ()


class NeuTTSBackend:
    """Speech backend on NeuTTS Air. Loads the backbone and the codec decoder once."""

    name = "neutts"
    needs_transcript = True

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.sampling = sampling_of(settings)
        try:
            self.sampling.check()
        except ValueError as e:
            raise ValueError(f"NeuTTS sampling settings: {e}") from e
        from engine.tts._neucodec import load_codec

        device = _torch_device(settings.device)
        backbone = _resolve(settings.tts_backbone, settings, "backbone", download=True)
        codec_path = _resolve(settings.tts_codec, settings, "codec", download=True)
        self.lm = SpeechLM(backbone, device=settings.device, threads=settings.threads)
        self.codec = load_codec(codec_path, device=device)
        self._codec_id = _fingerprint(self.codec.weights)
        self._phonemizer = Phonemizer(settings.tts_espeak)
        self.cache = ReferenceCache(Path(settings.cache_dir) / "neutts")
        self._lock = threading.Lock()  # llama.cpp contexts are not thread safe
        log.info(
            "neutts ready",
            extra={
                "backbone": str(backbone),
                "codec": str(codec_path),
                "espeak_version": self._phonemizer.version,
            },
        )

    # ---- reference -------------------------------------------------------------------------
    def encode_reference(self, voice: VoiceRef) -> ReferenceCodes:
        """Codes of the reference voice, from the cache when this audio was seen before."""
        if not (voice.transcript or "").strip():
            raise InvalidInput(
                "NeuTTS needs the words spoken in the voice note: pass them with --voice-text.",
                field="voice",
            )
        from engine.media.audio import resample

        audio = resample(voice.audio, REFERENCE_RATE)
        key = hashlib.sha256(f"{audio.content_hash()}:{self._codec_id}".encode()).hexdigest()[:32]
        path = self.cache.path(key)
        transcript = " ".join(str(voice.transcript).split())
        if path.is_file():
            try:
                cached = ReferenceCodes.load(path)
                self.cache.used(key, voice.source)
                log.debug("reference codes from cache %s", path.name)
                return replace(cached, transcript=transcript)
            except (OSError, ValueError, KeyError):
                log.warning("unreadable reference cache %s: encoding again", path.name)
        codes = self.codec.encode(audio.samples)
        ref = ReferenceCodes(codes.astype(np.int64), transcript, audio.content_hash())
        ref.save(path)
        self.cache.used(key, voice.source)
        log.debug("reference encoded: %d codes, cached as %s", len(codes), path.name)
        return ref

    # ---- planning --------------------------------------------------------------------------
    def phonemize(self, text: str) -> str:
        """Phonemes of ``text`` as neutts makes them (see :mod:`engine.tts.neutts_espeak`)."""
        with self._lock:
            return self._phonemizer(text)

    def budget(self, ref: ReferenceCodes) -> Budget:
        ref_phonemes = self.phonemize(ref.transcript)
        n_phone = max(1, sum(1 for ch in ref_phonemes if not ch.isspace()))
        rate = float(np.clip(len(ref.codes) / n_phone, *_PHONE_RATE))
        if self.lm.fixed_prompt_tokens(ref.codes) + self.lm.count_tokens(ref_phonemes) > N_CTX // 2:
            raise InvalidInput(
                "The voice note is too long for NeuTTS: send at most 15 seconds.", field="voice"
            )
        return Budget(
            n_ctx=N_CTX,
            fixed_prompt_tokens=self.lm.fixed_prompt_tokens(ref.codes),
            ref_phonemes=ref_phonemes,
            tokens_per_phone=rate,
            count_tokens=self.lm.count_tokens,
            phonemize=self.phonemize,
            frame_rate=FRAME_RATE,
        )

    def plan(self, script: str, ref: ReferenceCodes) -> list[ChunkPlan]:
        """How ``script`` will be cut into generations (every one fits the context)."""
        return plan_chunks(script, self.budget(ref))

    # ---- generation ------------------------------------------------------------------------
    def stream(
        self,
        script: str,
        voice: VoiceRef | ReferenceCodes,
        *,
        seed: int | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Iterator[SpeechChunk]:
        """Speak ``script`` chunk by chunk; each chunk is yielded as soon as it is decoded."""
        ref = voice if isinstance(voice, ReferenceCodes) else self.encode_reference(voice)
        budget = self.budget(ref)
        queue = list(plan_chunks(script, budget))
        if not queue:
            raise InvalidInput(
                "The script has nothing that can be spoken: send some words.", field="script"
            )
        base_seed = self.sampling.seed if seed is None else seed
        index = 0
        while queue:
            if should_cancel and should_cancel():
                raise Cancelled("cancelled during speech")
            plan = queue.pop(0)
            chunk = self._generate(
                plan, ref, budget, replace(self.sampling, seed=base_seed + index), index
            )
            retry = self._retry(chunk, plan, budget)
            if retry:
                queue[:0] = retry
                continue
            index += 1
            yield chunk

    def _generate(
        self, plan: ChunkPlan, ref: ReferenceCodes, budget: Budget, sampling: Sampling, index: int
    ) -> SpeechChunk:
        phonemes = f"{budget.ref_phonemes} {plan.phonemes}"
        with self._lock:
            prompt = self.lm.prompt(phonemes, ref.codes)
            gen = self.lm.generate(prompt, plan.max_new_tokens, sampling)
        samples = self.codec.decode(gen.codes) if len(gen.codes) else np.zeros(0, np.float32)
        return SpeechChunk(
            index=index,
            text=plan.text,
            audio=Audio(np.clip(samples, -1, 1).astype(np.float32), OUTPUT_RATE),
            tokens=len(gen.codes),
            expected_tokens=plan.expected_tokens,
            max_new_tokens=plan.max_new_tokens,
            prompt_tokens=gen.prompt_tokens,
            finish_reason=gen.finish_reason,
            ends_sentence=plan.ends_sentence,
        )

    def _retry(self, chunk: SpeechChunk, plan: ChunkPlan, budget: Budget) -> list[ChunkPlan] | None:
        """Smaller chunks to generate instead of a truncated or far too short one."""
        truncated = chunk.finish_reason == "length"
        # Far too short means words were skipped; that happens on long chunks, so only
        # those are cut again (short ones would only shrink without getting better).
        too_short = (
            chunk.tokens < _TOO_SHORT * plan.expected_tokens
            and plan.expected_tokens > _RESPLIT_ABOVE * FRAME_RATE
        )
        if not (truncated or too_short):
            return None
        parts = split_plan(plan, budget)
        if parts is None:
            return None
        why = (
            "ran out of budget"
            if truncated
            else f"gave {chunk.tokens} of ~{plan.expected_tokens} tokens"
        )
        log.info("chunk %r %s: splitting it", plan.text[:40], why)
        return parts

    def synthesize(
        self,
        script: str,
        voice: VoiceRef,
        *,
        language: str | None = None,
        should_cancel: CancelCheck | None = None,
        seed: int | None = None,
    ) -> Speech:
        """Speak ``script`` in ``voice``: all chunks joined, with per-chunk and word timings."""
        warnings = []
        if (language or detect_language(script)) != "en":
            warnings.append(
                "NeuTTS Air speaks English; other languages come out accented or garbled."
            )
        chunks = list(self.stream(script, voice, seed=seed, should_cancel=should_cancel))
        for c in chunks:
            if c.finish_reason == "length":
                warnings.append(f"A part of the script may be cut short: {c.text[:40]!r}.")
        from engine.media.audio import normalize_loudness

        samples, segments = join_chunks(chunks)
        return Speech(
            audio=normalize_loudness(Audio(samples, OUTPUT_RATE)),
            words=tuple(w for seg in segments for w in _word_segments(seg)),
            chunks=tuple(segments),
            backend=self.name,
            watermarked=False,
            warnings=tuple(dict.fromkeys(warnings)),
        )


# ---- joining and timings -------------------------------------------------------------------
def join_chunks(chunks: list[SpeechChunk]) -> tuple[np.ndarray, list[Segment]]:
    """Concatenate chunk audio: a pause after a sentence, a crossfade inside one."""
    rate = OUTPUT_RATE
    gap = np.zeros(int(_SENTENCE_GAP * rate), np.float32)
    cross = int(_CROSSFADE * rate)
    out = np.zeros(0, np.float32)
    segments: list[Segment] = []
    prev_ends_sentence = True
    for chunk in chunks:
        audio = _fade_edges(chunk.audio.samples, int(_EDGE_FADE * rate))
        if out.size and prev_ends_sentence:
            out = np.concatenate([out, gap])
        if out.size and not prev_ends_sentence and min(out.size, audio.size) > cross:
            ramp = np.linspace(0.0, 1.0, cross, dtype=np.float32)
            mixed = out[-cross:] * (1 - ramp) + audio[:cross] * ramp
            start = (out.size - cross) / rate
            out = np.concatenate([out[:-cross], mixed, audio[cross:]])
        else:
            start = out.size / rate
            out = np.concatenate([out, audio])
        segments.append(Segment(start, out.size / rate, chunk.text))
        prev_ends_sentence = chunk.ends_sentence
    return out, segments


def _fade_edges(samples: np.ndarray, n: int) -> np.ndarray:
    samples = samples.astype(np.float32, copy=True)
    n = min(n, samples.size // 2)
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return samples


def _word_segments(chunk: Segment) -> list[Segment]:
    """Word timings estimated by spreading the chunk over its words by letter count."""
    words = [w for w in chunk.text.split() if any(ch.isalnum() for ch in w)]
    weights = np.array([sum(ch.isalnum() for ch in w) + 1 for w in words], dtype=np.float64)
    if not words or chunk.end <= chunk.start:
        return []
    edges = chunk.start + np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * (
        chunk.end - chunk.start
    )
    return [Segment(float(edges[i]), float(edges[i + 1]), w) for i, w in enumerate(words)]


# ---- loading helpers -----------------------------------------------------------------------
def _torch_device(device: str) -> str:
    if device == "cpu":
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise BackendUnavailable(
            f"device {device!r} asked for, but torch sees no CUDA GPU", hint="use --device cpu"
        )
    return device


def _resolve(value: str, settings: EngineSettings, what: str, *, download: bool) -> Path:
    """A local path for the backbone or codec: given path, downloaded model, or hub id."""
    from engine import models

    if not value:
        names = ("neutts-q4", "neutts-q8") if what == "backbone" else ("neucodec",)
        for name in names:
            folder = models.model_dir(settings.models_dir, name)
            found = (
                sorted(folder.glob("*.gguf"))
                if what == "backbone"
                else ([folder] if folder.is_dir() else [])
            )
            if found:
                return found[0]
        flag = "--tts-backbone" if what == "backbone" else "--tts-codec"
        raise BackendUnavailable(
            f"no NeuTTS {what} configured",
            hint=f"mouthpiece models fetch {names[0]}, or pass {flag} PATH",
        )
    path = Path(value).expanduser()
    if path.exists() or not _looks_like_hub_id(value):
        if not path.exists():
            raise BackendUnavailable(f"NeuTTS {what} not found: {path}", hint="check the path")
        return path
    return _from_hub(value, settings, what, download=download)


def _looks_like_hub_id(value: str) -> bool:
    parts = value.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not value.startswith((".", "~"))
        and not value.endswith(".gguf")
    )


def _from_hub(repo: str, settings: EngineSettings, what: str, *, download: bool) -> Path:
    target = Path(settings.models_dir) / repo.replace("/", "--")
    local = (
        sorted(target.glob("*.gguf"))
        if what == "backbone"
        else ([target] if target.is_dir() else [])
    )
    if local:
        return local[0]
    if not download:
        raise BackendUnavailable(f"{repo} is not downloaded yet", hint="it downloads on first use")
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id=repo, local_dir=target, allow_patterns=list(_HUB_FILES[what]))
    except Exception as e:  # network errors come in many types; the message is what matters
        raise BackendUnavailable(
            f"could not download {repo}: {type(e).__name__}: {e}",
            hint=f"download it by hand into {target}, or pass a local path",
        ) from e
    return _from_hub(repo, settings, what, download=False)


def _fingerprint(path: Path) -> str:
    """Identifies the codec weights (name, size, first MiB) for the reference cache key."""
    h = hashlib.sha256(f"{Path(path).name}:{Path(path).stat().st_size}".encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
    cfg = Path(path).parent / "neucodec_config.json"
    if cfg.is_file():
        h.update(cfg.read_bytes())
    return h.hexdigest()[:16]
