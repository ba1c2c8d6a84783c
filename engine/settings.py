"""EngineSettings: which backends run, where their models live, on what device."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["EngineSettings"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class EngineSettings:
    """All engine configuration, read from the environment in one place (``from_env``).

    Every field maps to ``MOUTHPIECE_<FIELD>`` (upper case).
    """

    tts: str = "auto"  # auto: per language, the best usable (engine.backends.choose_tts), or a name
    lipsync: str = "auto"  # auto: the best usable (engine.backends.choose_lipsync), or a name
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    models_dir: Path = Path("data/models")
    cache_dir: Path = Path("data/cache")
    threads: int = 0  # 0: all cores
    # NeuTTS Air
    tts_backbone: str = ""  # local .gguf path or hub id
    tts_codec: str = ""  # local NeuCodec weights (dir or file) or hub id
    # sampling as neutts leaves it (llama-cpp-python's completion defaults besides these two)
    tts_temperature: float = 1.0
    tts_top_k: int = 50
    tts_top_p: float = 0.95
    tts_min_p: float = 0.05
    tts_seed: int = 0  # NeuTTS sampling seed (the CLI's --seed sets it): repeatable renders
    # espeak-ng for NeuTTS phonemes: "" = the neutts 1.4.1 build (engine.tts.neutts_espeak),
    # else the system's with a warning; a folder holding that build; "system"
    tts_espeak: str = ""
    # Pocket TTS: the folder holding languages/<name>/model.safetensors + tokenizer.json (what
    # `mouthpiece models fetch pocket` writes); "": <models_dir>/pocket
    tts_pocket: str = ""
    watermark: bool = True
    # Diff2Lip and MuseTalk
    lipsync_model: str = ""  # Diff2Lip checkpoint file, or the MuseTalk models folder
    lipsync_steps: int = 25  # Diff2Lip only (MuseTalk takes one step)
    lipsync_batch: int = 0  # frames per forward; 0: 1 on CPU (fastest, cache-bound), 16 on CUDA
    lipsync_compile: bool = False  # torch.compile the network (first batch compiles)
    lipsync_cuda_graphs: bool = False  # CUDA graphs (compile mode reduce-overhead); no-op on CPU
    lipsync_precision: str = "auto"  # auto: fp16 on CUDA (as upstream), fp32 on CPU; fp32|bf16|fp16
    lipsync_config: str = ""  # network variant: "" (the paper's), "tiny", JSON or a JSON file
    lipsync_model_sha256: str = ""  # when set, the checkpoint must have this SHA-256
    # living faces (engine.motion), after every lip-sync backend
    head_motion: float = 1.0  # head motion level: 0 still, 1 the default, up to 2
    blinks: bool = True
    # avatars (engine.avatars): work made from a photo alone (its decoded image and face, the
    # lip-sync backend's crop and reference latents, the motion geometry) is kept in memory
    # for this many of the most recently rendered photos; 0 keeps none
    avatar_cache: int = 8
    # media limits
    max_photo_pixels: int = 40_000_000
    working_size: int = 1024  # longest side of the photo the video is made at
    max_script_chars: int = 5000
    max_voice_seconds: float = 60.0
    min_voice_seconds: float = 1.0
    decode_timeout: float = 60.0  # seconds ffmpeg may take on one upload before it is killed
    # the decode jail (engine.jail): every photo and voice note is decoded in a separate,
    # confined process with these bounds; off only for trusted files (benchmarks)
    decode_jail: bool = True
    jail_memory_mb: int = 1000  # resident memory of the jail's process tree
    jail_seconds: float = 20.0  # CPU seconds of one decode (its wall clock: 3 times that)
    # provenance (engine.provenance): every MP4 signed with a C2PA manifest and its speech
    # marked with the job's token; off only for benchmarks of the rest
    provenance: bool = True
    c2pa_dir: str = ""  # the local CA and signer, made on first use; "": beside cache_dir
    c2pa_cert: str = ""  # the operator's signing certificate chain, PEM, leaf first
    c2pa_key: str = ""  # its private key, PEM
    c2pa_trust: str = ""  # the CA certificate(s) `verify` trusts, PEM; "": the local CA's

    @property
    def signer_dir(self) -> Path:
        """Where the local C2PA CA and signer are kept (``c2pa_dir``, else a ``c2pa`` folder
        beside the cache folder: with the data, not in it, since clearing a cache must not
        change the signer)."""
        return Path(self.c2pa_dir) if self.c2pa_dir else Path(self.cache_dir).parent / "c2pa"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> EngineSettings:
        """Build settings from ``MOUTHPIECE_*`` variables, then apply ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"MOUTHPIECE_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, type(getattr(cls(), f.name)))
        settings = cls(**values)
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def _parse(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if issubclass(kind, Path):
            return Path(raw)
        return raw
    except ValueError as e:
        raise ValueError(f"MOUTHPIECE_{name.upper()}={raw!r} is not a valid {kind.__name__}") from e
