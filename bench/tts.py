"""NeuTTS Air speed on this machine: backbone tokens/s, real-time factor, codec decode time.

Timing does not depend on weight values, so the benchmark builds a random GGUF of NeuTTS
Air's real shape (Qwen2: hidden 896, 24 layers, 14 heads, 2 KV heads, FFN 4864, tied
embeddings, vocabulary 151,665 text + 6 specials + 65,536 speech = 217,207 tokens), quantises
it with llama.cpp's own quantiser, and measures side by side in one run:

* prompt and generation tokens/s for Q4_0 and Q8_0, with 1 and 2 threads;
* levers toward real time (50 speech tokens per second): the output matrix quantised to
  Q4_0 instead of the Q8_0 llama.cpp picks, and a derived model whose vocabulary keeps only
  the speech tokens and a few text tokens (its output matrix is 3x smaller);
* NeuCodec decode seconds per second of audio (full-size decoder, random weights).

Run: ``python bench/tts.py`` (about 6-8 minutes on 2 cores; ``--quick`` for fewer runs).
Figures are printed, never asserted. Other jobs on the machine slow everything down: the
load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer tokens, fewer variants")
    ap.add_argument("--rounds", type=int, default=2, help="runs per variant; the best is kept")
    ap.add_argument("--dir", type=Path, help="where to build the models (default: a temp dir)")
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
