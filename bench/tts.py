"""Speech backends side by side on this machine, and NeuTTS Air's speed in detail.

Timing does not depend on weight values, so every model is built at its released size with
random weights, offline (no download):

* **Pocket TTS** (``pocket-tts``): the released English and French configurations from the
  wheel's YAML files, built with the package's own pydantic ``Config`` and ``TTSModel``
  constructors; the tokenizer (the config's 4,000 entries) is trained in code on the script.
* **NeuTTS Air** at Q4_0: a random GGUF of its real shape (Qwen2: hidden 896, 24 layers,
  14 heads, 2 KV heads, FFN 4864, tied embeddings, vocabulary 151,665 text + 6 specials +
  65,536 speech = 217,207 tokens), quantised with llama.cpp's own quantiser, run through the
  engine's ``SpeechLM``, chunk planner and full-size NeuCodec (decoder and encoder).
* **espeak-ng + WORLD**: the engine's embedded backend (``EspeakBackend``), as it renders.

Default run (``python bench/tts.py``): one table, for the same ~15 s script (Pocket TTS also
in French): real-time factor (seconds of audio per second of compute), time to first audio
and the one-off cost of a 5 s voice prompt. Random weights never emit an end of speech, so
the neural backends are made to speak the same number of seconds (see ``TARGET_SECONDS``).
``--quick`` takes under 3 minutes (one round, the default threads only).

``python bench/tts.py --neutts`` (the former default) details NeuTTS Air alone:

* prompt and generation tokens/s for Q4_0 and Q8_0, with 1 and 2 threads;
* levers toward real time (50 speech tokens per second): the output matrix quantised to
  Q4_0 instead of the Q8_0 llama.cpp picks, and a derived model whose vocabulary keeps only
  the speech tokens and a few text tokens (its output matrix is 3x smaller);
* NeuCodec decode seconds per second of audio (full-size decoder, random weights).

(about 6-8 minutes on 2 cores; ``--quick`` for fewer runs).

Figures are printed, never asserted. Other jobs on the machine slow everything down: the
load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import io
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # bench/queue.py etc.
sys.path.insert(0, str(_HERE.parent))

N_EMBD, N_LAYER, N_HEAD, N_HEAD_KV, N_FF = 896, 24, 14, 2, 4864
N_TEXT, N_SPECIAL, N_SPEECH = 151_665, 6, 65_536
FRAME_RATE = 50


N_LOWER = 50_000  # assumed: text tokens made of lower-case letters only (kept by pruning)


def _letters(i: int) -> str:
    out = ""
    while True:
        i, r = divmod(i, 26)
        out += chr(ord("a") + r)
        if i == 0:
            return out


def build_gguf(path: Path, n_text: int, *, seed: int = 0) -> Path:
    """A random F16 Qwen2 GGUF of NeuTTS Air's shape with ``n_text`` text tokens.

    Qwen2's real vocabulary is not on this machine; the stand-in has ``N_LOWER`` lower-case
    word pieces (which a pruned vocabulary keeps) and upper-case ones (which it drops).
    """
    import gguf

    from tests.auxil.neutts_models import _MERGES, _byte_tokens

    rng = np.random.default_rng(seed)
    base = _byte_tokens() + [m.replace(" ", "") for m in _MERGES]
    seen = set(base)
    lower = (t for t in (f"Ġ{_letters(i)}" for i in range(10**7)) if t not in seen)
    text = base + [next(lower) for _ in range(min(N_LOWER, n_text - len(base)))]
    text += [f"ĠX{_letters(i)}" for i in range(n_text - len(text))]
    specials = [
        "<|TEXT_PROMPT_START|>",
        "<|TEXT_PROMPT_END|>",
        "<|SPEECH_GENERATION_START|>",
        "<|SPEECH_GENERATION_END|>",
        "<|endoftext|>",
        "<|im_end|>",
    ][:N_SPECIAL]
    tokens = text + specials + [f"<|speech_{i}|>" for i in range(N_SPEECH)]
    types = [1] * len(text) + [3] * len(specials) + [4] * N_SPEECH
    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_context_length(32768)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_freq_base(1_000_000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(1)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(list(_MERGES))
    w.add_bos_token_id(len(text) + 4)
    w.add_eos_token_id(len(text) + 5)

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float16)

    w.add_tensor("token_embd.weight", rand(len(tokens), N_EMBD))  # tied: also the output
    w.add_tensor("output_norm.weight", np.ones(N_EMBD, np.float32))
    kv = N_HEAD_KV * (N_EMBD // N_HEAD)
    for i in range(N_LAYER):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(N_EMBD, np.float32))
        w.add_tensor(p + "ffn_norm.weight", np.ones(N_EMBD, np.float32))
        for name, shape in (
            ("attn_q", (N_EMBD, N_EMBD)),
            ("attn_k", (kv, N_EMBD)),
            ("attn_v", (kv, N_EMBD)),
        ):
            w.add_tensor(p + name + ".weight", rand(*shape))
            w.add_tensor(p + name + ".bias", np.zeros(shape[0], np.float32))
        w.add_tensor(p + "attn_output.weight", rand(N_EMBD, N_EMBD))
        w.add_tensor(p + "ffn_gate.weight", rand(N_FF, N_EMBD))
        w.add_tensor(p + "ffn_up.weight", rand(N_FF, N_EMBD))
        w.add_tensor(p + "ffn_down.weight", rand(N_EMBD, N_FF))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def quantize(src: Path, dst: Path, ftype: str, output_type: str | None = None) -> Path:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    params.nthread = os.cpu_count() or 1
    if output_type:
        t = getattr(llama_cpp, f"GGML_TYPE_{output_type}")
        params.output_tensor_type = t
        params.token_embedding_type = t
    with _quiet_stderr():  # llama.cpp logs every tensor
        rc = llama_cpp.llama_model_quantize(
            str(src).encode(), str(dst).encode(), ctypes.byref(params)
        )
    if rc != 0:
        raise RuntimeError(f"quantize {src} -> {ftype} failed ({rc})")
    return dst


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@dataclass
class Speed:
    prompt_tps: float
    gen_tps: float

    @property
    def rtf(self) -> float:  # seconds of audio per second of generation
        return self.gen_tps / FRAME_RATE


def measure(path: Path, threads: int, *, prompt_len: int, gen_len: int, vocab: int) -> Speed:
    """Prompt tokens/s and generation tokens/s sampled with the backend's defaults."""
    from llama_cpp import Llama

    from engine.tts._neutts_lm import Sampling

    sampling = Sampling()  # what a render samples with (upstream's: top-k 50, top-p, min-p)

    llm = Llama(
        str(path),
        n_ctx=2048,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
        seed=0,
    )
    rng = np.random.default_rng(1)
    speech0 = vocab - N_SPEECH
    prompt = [int(x) for x in rng.integers(0, min(speech0, 30_000), prompt_len // 3)]
    prompt += [int(x) for x in speech0 + rng.integers(0, N_SPEECH, prompt_len - len(prompt))]
    llm.eval(prompt[:8])  # warm up
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    t_prompt = time.perf_counter() - t0
    llm.reset()
    n = 0
    t0 = time.perf_counter()
    t_first = 0.0
    for _ in llm.generate(
        prompt,
        top_k=sampling.top_k,
        top_p=sampling.top_p,
        min_p=sampling.min_p,
        temp=sampling.temperature,
        reset=False,
    ):
        n += 1
        if n == 1:
            t_first = time.perf_counter()
        if n > gen_len:
            break
    t_gen = time.perf_counter() - t_first
    llm.close()
    return Speed(prompt_len / t_prompt, (n - 1) / t_gen)


def codec_decode_seconds(seconds: float) -> tuple[float, str]:
    """Seconds to decode one second of audio with the full-size NeuCodec decoder."""
    import torch

    from engine.tts._neucodec import CodecConfig, NeuCodecDecoder

    torch.manual_seed(0)
    decoder = NeuCodecDecoder(CodecConfig()).eval()
    n_params = sum(p.numel() for p in decoder.parameters())
    codes = np.random.default_rng(0).integers(0, N_SPEECH, int(seconds * FRAME_RATE))
    decoder.decode(codes[:50])  # warm up
    t0 = time.perf_counter()
    out = decoder.decode(codes)
    dt = time.perf_counter() - t0
    return dt / (
        len(out) / 24_000
    ), f"{n_params / 1e6:.0f} M parameters, torch threads {torch.get_num_threads()}"


def _models(root: Path) -> dict[str, tuple[Path, int]]:
    """Build, prune and quantise: model name -> (path, text tokens in its vocabulary)."""
    from engine.tts._neutts_prune import prune_vocab

    t0 = time.perf_counter()
    full = build_gguf(root / "full-f16.gguf", N_TEXT)
    print(
        f"built a random F16 GGUF in {time.perf_counter() - t0:.0f} s "
        f"(vocabulary {N_TEXT + N_SPECIAL + N_SPEECH:,})"
    )
    t0 = time.perf_counter()
    report = prune_vocab(full, root / "pruned-f16.gguf")  # = mouthpiece models prune-vocab
    n_pruned = report.tokens_after - N_SPECIAL - N_SPEECH
    print(
        f"pruned vocabulary: {report.tokens_after:,} of {report.tokens_before:,} tokens kept "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    t0 = time.perf_counter()
    models = {
        "Q4_0": (quantize(full, root / "q4.gguf", "Q4_0"), N_TEXT),
        "Q8_0": (quantize(full, root / "q8.gguf", "Q8_0"), N_TEXT),
        "Q4_0, output Q4_0": (quantize(full, root / "q4o.gguf", "Q4_0", "Q4_0"), N_TEXT),
        "Q4_0, pruned vocab": (quantize(report.output, root / "q4p.gguf", "Q4_0"), n_pruned),
        "Q4_0, pruned, output Q4_0": (
            quantize(report.output, root / "q4po.gguf", "Q4_0", "Q4_0"),
            n_pruned,
        ),
    }
    full.unlink()
    report.output.unlink()
    print(f"quantised in {time.perf_counter() - t0:.0f} s")
    for name, (path, _) in models.items():
        print(f"  {name:<28} {path.stat().st_size / 1e6:7.0f} MB")
    return models


def neutts_detail(args: argparse.Namespace) -> None:
    """NeuTTS Air alone: backbone variants and threads, codec decode (``--neutts``)."""
    prompt_len, gen_len = (400, 60) if args.quick else (600, 120)
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        models = _models(Path(tmp))
        # One thread first: on a shared 2-core machine two llama.cpp threads spin-wait for
        # each other whenever another process takes a core, and collapse (see docs/benchmarks.md).
        runs = [(name, 1) for name in models] + [("Q4_0", 2), ("Q4_0, pruned, output Q4_0", 2)]
        if args.quick:
            runs = [("Q4_0", 1), ("Q4_0, pruned, output Q4_0", 1), ("Q4_0", 2)]
        print(
            f"\nbackbone: prompt {prompt_len} tokens, then {gen_len} sampled tokens "
            f"(50 tokens = 1 s of audio); best of {args.rounds} interleaved rounds"
        )
        head = ("model", "threads", "prompt tok/s", "gen tok/s", "x real time", "all gen runs")
        print(f"{head[0]:<28} {head[1]:>7} {head[2]:>13} {head[3]:>10} {head[4]:>12}  {head[5]}")
        runs_by: dict[tuple[str, int], list[Speed]] = {r: [] for r in runs}
        for _ in range(args.rounds):
            for name, threads in runs:
                path, n_text = models[name]
                runs_by[(name, threads)].append(
                    measure(
                        path,
                        threads,
                        prompt_len=prompt_len,
                        gen_len=gen_len,
                        vocab=n_text + N_SPECIAL + N_SPEECH,
                    )
                )
        results: dict[tuple[str, int], Speed] = {}
        for (name, threads), speeds in runs_by.items():
            s = Speed(max(x.prompt_tps for x in speeds), max(x.gen_tps for x in speeds))
            results[(name, threads)] = s
            every = " ".join(f"{x.gen_tps:.1f}" for x in speeds)
            print(
                f"{name:<28} {threads:>7} {s.prompt_tps:>13.1f} {s.gen_tps:>10.1f} "
                f"{s.rtf:>11.2f}x  {every}"
            )
        base = results[("Q4_0", 1)]
        print("\nratios to Q4_0 with 1 thread (generation tok/s)")
        for (name, threads), s in results.items():
            print(f"  {name + f', {threads} thread(s)':<40} {s.gen_tps / base.gen_tps:5.2f}x")
    per_second, what = codec_decode_seconds(4.0 if args.quick else 10.0)
    print(
        f"\nNeuCodec decode (full-size decoder, random weights, {what}): "
        f"{per_second:.3f} s per second of audio ({1 / per_second:.1f}x real time)"
    )
    for key in (("Q4_0", 1), max(results, key=lambda k: results[k].gen_tps)):
        total = 1 / results[key].rtf + per_second
        print(
            f"{key[0]} ({key[1]} thread) + codec, one after the other: {total:.2f} s per "
            f"second of audio ({1 / total:.2f}x real time)"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


# ---- speech backends side by side (the default run) -----------------------------------------
SCRIPTS = {
    "en": (
        "Good morning, everyone. Today I want to tell you about our new project, and why it "
        "matters to all of us. We started small, with one simple question: how can a tiny team "
        "reach people in their own language? The answer was easier than we thought."
    ),
    "fr": (
        "Bonjour à tous. Aujourd'hui, je veux vous parler de notre nouveau projet, et de son "
        "importance pour chacun de nous. Nous avons commencé petit, avec une seule question : "
        "comment une petite équipe peut-elle toucher les gens dans leur propre langue ? La "
        "réponse était plus simple que prévu."
    ),
}
#: what the 5 s reference voice says (espeak-ng makes it; NeuTTS needs its transcript)
VOICE_TEXT = "This is my own voice, recorded on a quiet afternoon at home."
VOICE_SECONDS = 5.0
#: seconds of audio the neural backends are made to speak: random weights never end speech
#: on their own (Pocket: EOS threshold +inf and a frame budget per chunk; NeuTTS: exactly the
#: planned speech tokens per chunk). espeak-ng speaks the script at its own pace.
TARGET_SECONDS = 15.0
OUTPUT_RATE = 24_000


@dataclass(frozen=True)
class Run:
    """One synthesis of the whole script."""

    audio_s: float
    total_s: float
    first_s: float  # time to the first audio the backend hands over
    cpu_s: float  # CPU time of the whole process (all threads) for the script

    @property
    def rtf(self) -> float:  # seconds of audio per second of compute
        return self.audio_s / self.total_s

    @property
    def cpu_per_audio(self) -> float:  # CPU seconds per second of audio: what load hurts least
        return self.cpu_s / self.audio_s


class Case:
    """A backend under test: built once, then ``run`` speaks the script (voice ready)."""

    name = ""
    params = ""
    threads = ""
    voice_s: float | None = None  # one-off cost of a new 5 s voice prompt
    note = ""

    def run(self) -> Run:
        raise NotImplementedError


def _set_torch_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def reference_voice(seconds: float = VOICE_SECONDS) -> tuple[np.ndarray, str]:
    """``seconds`` of 24 kHz speech (espeak-ng saying ``VOICE_TEXT``, padded or cut) and its
    words; a synthetic buzz with syllable envelopes where espeak-ng is missing."""
    from engine.media.audio import resample
    from engine.types import Audio

    n = int(seconds * OUTPUT_RATE)
    try:
        from engine.tts._espeak_lib import EspeakLib

        lib = EspeakLib.get()
        raw, _ = lib.synthesize(VOICE_TEXT, voice="en-us+m3", rate_wpm=120)
        audio = resample(Audio(raw.astype(np.float32) / 32768.0, lib.sample_rate), OUTPUT_RATE)
        samples = audio.samples[:n]
    except OSError:
        t = np.arange(n) / OUTPUT_RATE
        buzz = sum(np.sin(2 * np.pi * 120.0 * k * t) / k for k in range(1, 12))
        samples = (0.1 * buzz * np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2).astype(np.float32)
    return np.pad(samples, (0, n - len(samples))).astype(np.float32), VOICE_TEXT


class EspeakCase(Case):
    """The embedded backend, exactly as a render calls it."""

    def __init__(self, script: str, lang: str, voice: np.ndarray) -> None:
        from engine.settings import EngineSettings
        from engine.tts.espeak import EspeakBackend
        from engine.tts.voicematch import analyse_reference
        from engine.types import Audio, VoiceRef
        from spoken_text.normalize import split_sentences

        self.name = f"espeak-ng + WORLD ({lang})"
        self.params = "rules + vocoder"
        self.threads = "1"
        self.script, self.lang = script, lang
        self.first = split_sentences(script)[0]
        self.backend = EspeakBackend(EngineSettings())
        warm = VoiceRef(Audio(voice[: OUTPUT_RATE // 2].copy() * 0.9, OUTPUT_RATE))
        self.backend.synthesize("Hello.", warm, language=lang)  # warm up
        self.voice = VoiceRef(Audio(voice, OUTPUT_RATE))
        t0 = time.perf_counter()
        analyse_reference(self.voice.audio)  # WORLD analysis, cached by content from then on
        self.voice_s = time.perf_counter() - t0
        self.note = "not streamed: first audio = the first sentence synthesised alone"

    def run(self) -> Run:
        t0 = time.perf_counter()
        self.backend.synthesize(self.first, self.voice, language=self.lang)
        first = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        speech = self.backend.synthesize(self.script, self.voice, language=self.lang)
        return Run(speech.audio.duration, time.perf_counter() - t0, first, time.process_time() - c0)


def _pocket_tokenizer(path: Path, text: str, n_bins: int) -> Path:
    """A ``tokenizer.json`` of ``n_bins`` entries, made offline: BPE pieces learnt from
    ``text`` (SentencePiece-style word starts, punctuation on its own as the package's
    sentence splitter expects), padded with unused entries to the config's size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation("isolated")]
    )
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=n_bins, special_tokens=["<unk>"], show_progress=False)
    tok.train_from_iterator([text, ".!?,;:'-…"], trainer)
    tok.add_tokens([f"<unused{i}>" for i in range(n_bins - tok.get_vocab_size())])
    assert tok.get_vocab_size() == n_bins
    tok.save(str(path))
    return path


def build_pocket(language: str, tokenizer: Path, *, seed: int = 0) -> Any:
    """Pocket TTS's released ``language`` architecture, random weights, nothing downloaded."""
    import logging

    import torch
    from pocket_tts.default_parameters import DEFAULT_NOISE_CLAMP, DEFAULT_SAMPLER_DECODE_STEPS
    from pocket_tts.models.tts_model import TTSModel
    from pocket_tts.utils.config import CONFIGS_DIR, load_config

    # the package warns about missing weights and about every chunk reaching its length
    logging.getLogger("pocket_tts").setLevel(logging.ERROR)
    cfg = load_config(CONFIGS_DIR / f"{language}.yaml")
    lut = cfg.flow_lm.lookup_table.model_copy(update={"tokenizer_path": str(tokenizer)})
    flow = cfg.flow_lm.model_copy(update={"lookup_table": lut, "weights_path": None})
    cfg = cfg.model_copy(
        update={
            "flow_lm": flow,
            "mimi": cfg.mimi.model_copy(update={"weights_path": None}),
            "weights_path": None,
            "weights_path_without_voice_cloning": None,
        }
    )
    torch.manual_seed(seed)
    model = TTSModel._from_pydantic_config_with_weights(
        cfg,
        temp=cfg.default_temperature,
        sampler_decode_steps=DEFAULT_SAMPLER_DECODE_STEPS,
        noise_clamp=DEFAULT_NOISE_CLAMP,
        eos_threshold=math.inf,  # random weights: EOS never fires, the frame budget ends a chunk
    )
    with torch.no_grad():  # the voice projection is created as zeros: give it values
        model.flow_lm.speaker_proj_weight.normal_(0.0, 0.02)
    return model.eval()


def _pocket_chunks(model: Any, script: str) -> list[int]:
    """Text tokens of each chunk ``generate_audio_stream`` will generate for ``script``."""
    from pocket_tts.default_parameters import MAX_TOKEN_PER_CHUNK
    from pocket_tts.models.text_chunking import prepare_text_prompt, split_into_best_sentences

    opts = (
        model.pad_with_spaces_for_short_inputs,
        model.remove_semicolons,
        model.append_terminal_punctuation,
        model.capitalize_first_letter,
        model.replace_characters,
    )
    tokenizer = model.flow_lm.conditioner.tokenizer
    chunks = split_into_best_sentences(tokenizer, script, MAX_TOKEN_PER_CHUNK, *opts)
    return [len(tokenizer.encode(prepare_text_prompt(c, *opts)[0])) for c in chunks]


class PocketCase(Case):
    """Pocket TTS through the package's own streaming API (``generate_audio_stream``)."""

    def __init__(
        self,
        model: Any,
        language: str,
        script: str,
        voice: np.ndarray,
        threads: int,
        *,
        label: str = "",
        params: str = "",
    ) -> None:
        import torch

        self.model, self.script, self.torch_threads = model, script, threads
        lang = {"english": "en", "french": "fr"}.get(language, language)
        self.name = f"Pocket TTS ({lang}{', ' + label if label else ''})"
        n = sum(p.numel() for p in model.parameters())
        n_flow = sum(p.numel() for p in model.flow_lm.parameters())
        self.params = params or f"{n / 1e6:.0f} M (FlowLM {n_flow / 1e6:.0f} M + Mimi)"
        self.threads = f"torch {threads} (+ decoder thread)"
        tokens = _pocket_chunks(model, script)
        # generated frames per chunk: ceil(tokens / tokens_per_second * 12.5), the package's
        # own estimate (_estimate_max_gen_len) with its two knobs set so that the chunks add up
        # to TARGET_SECONDS (instance attributes; the class stays as shipped)
        model._TOKENS_PER_SECOND_ESTIMATE = sum(tokens) / TARGET_SECONDS
        model._GEN_SECONDS_PADDING = 0.0
        words = len(script.split())
        self.note = (
            f"{len(tokens)} chunk(s), {sum(tokens)} text tokens for {words} words; "
            f"EOS off, frames budgeted to {TARGET_SECONDS:.0f} s"
        )
        _set_torch_threads(threads)
        warm = model.get_state_for_audio_prompt(torch.from_numpy(voice[:OUTPUT_RATE].copy())[None])
        for _ in model.generate_audio_stream(warm, "Hello there."):  # warm up
            pass
        t0 = time.perf_counter()
        self.state = model.get_state_for_audio_prompt(torch.from_numpy(voice.copy())[None])
        self.voice_s = time.perf_counter() - t0

    def run(self) -> Run:
        _set_torch_threads(self.torch_threads)
        t0, c0 = time.perf_counter(), time.process_time()
        first = 0.0
        samples = 0
        for chunk in self.model.generate_audio_stream(self.state, self.script):
            if not samples:
                first = time.perf_counter() - t0
            samples += int(chunk.shape[-1])
        total = time.perf_counter() - t0
        return Run(samples / self.model.sample_rate, total, first, time.process_time() - c0)


def _neutts_params() -> int:
    """Parameters of NeuTTS Air's backbone (tied embeddings counted once)."""
    kv = N_HEAD_KV * (N_EMBD // N_HEAD)
    attn = 2 * N_EMBD * N_EMBD + 2 * kv * N_EMBD + N_EMBD + 2 * kv
    layer = attn + 3 * N_EMBD * N_FF + 2 * N_EMBD
    return (N_TEXT + N_SPECIAL + N_SPEECH) * N_EMBD + N_LAYER * layer + N_EMBD


class NeuTTSCase(Case):
    """NeuTTS Air as ``NeuTTSBackend.stream`` runs it: the engine's chunk plan, and per chunk
    its prompt, sampled speech tokens, then a NeuCodec decode (a chunk is the first audio)."""

    def __init__(
        self,
        gguf: Path,
        codec: Any,
        encoder: Any,
        script: str,
        voice: np.ndarray,
        transcript: str,
        *,
        threads: int = 0,
    ) -> None:
        from engine.media.audio import resample
        from engine.settings import EngineSettings
        from engine.tts._neutts_lm import N_CTX, Sampling, SpeechLM
        from engine.tts._neutts_text import Budget, phone_length, plan_chunks
        from engine.tts.neutts_espeak import Phonemizer
        from engine.types import Audio

        self.lm = SpeechLM(gguf, device="cpu", threads=threads)
        self.codec = codec
        self.sampling = Sampling()  # what a render samples with
        n_threads = self.lm.llm.context_params.n_threads
        self.torch_threads = os.cpu_count() or 1  # torch's default: NeuTTSBackend sets none
        self.name = "NeuTTS Air (en, Q4_0)"
        n_codec = sum(p.numel() for p in codec.parameters())
        self.params = f"{_neutts_params() / 1e6:.0f} M LM + {n_codec / 1e6:.0f} M codec decoder"
        self.threads = f"llama {n_threads}, torch {self.torch_threads}"
        phonemize = Phonemizer(EngineSettings().tts_espeak)
        _set_torch_threads(self.torch_threads)
        voice16 = resample(Audio(voice, OUTPUT_RATE), 16_000).samples
        encoder.encode(voice16[:16_000])  # warm up
        t0 = time.perf_counter()
        self.ref_codes = encoder.encode(voice16)  # what encode_reference caches on disk
        ref_phonemes = phonemize(transcript)
        self.voice_s = time.perf_counter() - t0
        # speech tokens per phoneme character chosen so that the plan adds up to TARGET_SECONDS
        rate = TARGET_SECONDS * FRAME_RATE / max(1, phone_length(phonemize(script)))
        self.budget = Budget(
            n_ctx=N_CTX,
            fixed_prompt_tokens=self.lm.fixed_prompt_tokens(self.ref_codes),
            ref_phonemes=ref_phonemes,
            tokens_per_phone=rate,
            count_tokens=self.lm.count_tokens,
            phonemize=phonemize,
            frame_rate=FRAME_RATE,
        )
        self.plans = plan_chunks(script, self.budget)
        expected = sum(p.expected_tokens for p in self.plans)
        self.note = (
            f"{len(self.plans)} chunk(s), {expected} speech tokens; each chunk's audio comes "
            "when all its tokens are sampled and decoded"
        )
        self.lm.llm.eval(self.lm.prompt(ref_phonemes, self.ref_codes[:20]))  # warm up
        self.codec.decode(np.zeros(50, np.int64))

    def run(self) -> Run:
        from dataclasses import replace

        _set_torch_threads(self.torch_threads)
        rng = np.random.default_rng(0)
        first = 0.0
        samples = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for i, plan in enumerate(self.plans):
            prompt = self.lm.prompt(f"{self.budget.ref_phonemes} {plan.phonemes}", self.ref_codes)
            sampling = replace(self.sampling, seed=self.sampling.seed + i)
            gen = self.lm.generate(prompt, plan.expected_tokens, sampling)
            # random weights sample text tokens too: decode as many codes as were sampled
            n = plan.expected_tokens if gen.finish_reason == "length" else len(gen.codes)
            samples += len(self.codec.decode(rng.integers(0, N_SPEECH, n)))
            if not first:
                first = time.perf_counter() - t0
        total = time.perf_counter() - t0
        return Run(samples / OUTPUT_RATE, total, first, time.process_time() - c0)


def _neucodec() -> tuple[Any, Any]:
    """Full-size NeuCodec decoder and encoder (with its 16-layer w2v-BERT), random weights."""
    import torch

    from engine.tts._neucodec import CodecConfig, NeuCodecDecoder, NeuCodecEncoder, _semantic_model

    torch.manual_seed(0)
    cfg = CodecConfig()
    decoder = NeuCodecDecoder(cfg).eval()
    encoder = NeuCodecEncoder(cfg, _semantic_model(cfg, cfg.semantic_layer)).eval()
    return decoder, encoder


def _machine() -> str:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({cpu or 'unknown CPU'}), load average {load} (1/5/15 min), "
        f"memory bandwidth {_bandwidth():.1f} GB/s"
    )


def _bandwidth() -> float:
    """GB/s one core copies now (best of 3): the models here are memory-bound, so a busy
    neighbour shows up as a low figure."""
    src = np.ones(32 * 2**20, np.float32)  # 128 MiB
    dst = np.empty_like(src)
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9  # read + write


def _build_cases(args: argparse.Namespace, root: Path) -> list[Case]:
    """Every backend this machine can run, built and warmed up (skipped ones say why)."""
    voice, transcript = reference_voice()
    cases: list[Case] = []

    def attempt(what: str, make: Any) -> None:
        t0 = time.perf_counter()
        try:
            made = make()
        except (ImportError, OSError, RuntimeError) as e:
            print(f"  {what}: skipped ({type(e).__name__}: {e})")
            return
        for case in made:
            cases.append(case)
        print(f"  {what}: ready in {time.perf_counter() - t0:.0f} s")

    def espeak() -> list[Case]:
        return [EspeakCase(SCRIPTS["en"], "en", voice)]

    def pocket() -> list[Case]:
        import copy
        import warnings

        import torch
        from pocket_tts.quantization import RECOMMENDED_CONFIG, apply_dynamic_int8

        threads = torch.get_num_threads()  # what importing pocket_tts set (it sets 1)
        made: list[Case] = []
        for lang, language in (("en", "english"), ("fr", "french")):
            tok = _pocket_tokenizer(root / f"pocket-{lang}.json", SCRIPTS[lang], 4000)
            model = build_pocket(language, tok)
            made.append(PocketCase(model, language, SCRIPTS[lang], voice, threads))
            if lang == "en" and not args.quick:
                made.append(
                    PocketCase(model, language, SCRIPTS[lang], voice, 2, label="torch 2 threads")
                )
                int8 = copy.deepcopy(model)
                with warnings.catch_warnings():  # torch.ao's quantised tensors are deprecated
                    warnings.simplefilter("ignore", UserWarning)
                    apply_dynamic_int8(int8.flow_lm, RECOMMENDED_CONFIG)  # quantize=True
                base = made[0].params.split(" (")[0]
                made.append(
                    PocketCase(
                        int8,
                        language,
                        SCRIPTS[lang],
                        voice,
                        threads,
                        label="int8",
                        params=f"{base}, FlowLM linears int8",
                    )
                )
        return made

    def neutts() -> list[Case]:
        full = build_gguf(root / "full-f16.gguf", N_TEXT)
        q4 = quantize(full, root / "q4.gguf", "Q4_0")
        full.unlink()
        decoder, encoder = _neucodec()
        # llama.cpp with its default threads (half the cores); 2 threads on a shared 2-core
        # machine collapse whenever another job takes a core: ``--neutts`` compares them
        return [NeuTTSCase(q4, decoder, encoder, SCRIPTS["en"], voice, transcript)]

    print("building (random weights, released sizes):")
    attempt("espeak-ng + WORLD", espeak)
    attempt("Pocket TTS", pocket)
    attempt("NeuTTS Air Q4_0 (random GGUF, full-size NeuCodec)", neutts)
    return cases


def compare(args: argparse.Namespace) -> None:
    """All speech backends side by side on the same script: the default run."""
    rounds = 1 if args.quick else args.rounds
    t_start = time.perf_counter()
    print(f"machine: {_machine()}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        cases = _build_cases(args, Path(tmp))
        runs: dict[int, list[Run]] = {i: [] for i in range(len(cases))}
        print(f"\n{rounds} round(s), interleaved (a busy spell hits every backend alike):")
        for r in range(rounds):
            for i, case in enumerate(cases):
                run = case.run()
                runs[i].append(run)
                print(
                    f"  round {r + 1}: {case.name:<40} {run.rtf:6.2f}x real time, first audio "
                    f"{run.first_s:6.2f} s (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    import torch

    print(
        f"\nscript: {len(SCRIPTS['en'].split())} words in English ({len(SCRIPTS['fr'].split())} "
        f"in French); voice prompt {VOICE_SECONDS:.0f} s; best of {rounds} interleaved round(s); "
        f"torch {torch.__version__}"
    )
    head = (
        "backend",
        "params",
        "threads",
        "audio",
        "RTF (x real time)",
        "time to first audio",
        "voice prompt (5 s)",
        "CPU s per audio s",
    )
    rows = [head]
    for i, case in enumerate(cases):
        best = min(runs[i], key=lambda r: r.total_s)
        rows.append(
            (
                case.name,
                case.params,
                case.threads,
                f"{best.audio_s:.1f} s",
                f"{best.rtf:.2f}x"
                + ("" if rounds == 1 else f" ({', '.join(f'{r.rtf:.2f}' for r in runs[i])})"),
                f"{min(r.first_s for r in runs[i]):.2f} s",
                "-" if case.voice_s is None else f"{case.voice_s:.2f} s",
                f"{best.cpu_per_audio:.2f}",
            )
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
    for n, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\nnotes:")
    for case in cases:
        print(f"  {case.name}: {case.note}")
    print(
        "  RTF: seconds of audio per second of compute (above 1: faster than real time); "
        "first audio: from the call to the first audio handed over, voice state ready; "
        "voice prompt: one-off cost of a new 5 s voice (cached afterwards); CPU s per audio s: "
        "process CPU time (all threads), which other jobs on the machine disturb least"
    )
    print(f"machine after: {_machine()}; wall time {time.perf_counter() - t_start:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="under 3 minutes: fewer runs, variants")
    ap.add_argument("--rounds", type=int, default=2, help="runs per variant; the best is kept")
    ap.add_argument("--dir", type=Path, help="where to build the models (default: a temp dir)")
    ap.add_argument(
        "--neutts", action="store_true", help="NeuTTS Air alone in detail (the former default)"
    )
    args = ap.parse_args()
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows up when piped too
    if args.neutts:
        neutts_detail(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
