"""The install this project chose: pocket-tts 4.0.1 without its declared dependencies, beside
numpy 1.26 (mediapipe 0.10.21 needs numpy<2; pocket-tts's metadata asks numpy>=2 but its code
runs on 1.26). Proved in a fresh interpreter: mediapipe and pocket-tts import together, and
pocket-tts encodes a voice and speaks through the backend, on numpy < 2."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

from engine.tts.pocket import POCKET_VERSION

ROOT = Path(__file__).resolve().parents[3]

_PROBE = """
import json, sys
from pathlib import Path
import numpy as np
import mediapipe
import torch
from engine.settings import EngineSettings
from engine.tts.pocket import PocketBackend
from engine.types import Audio, VoiceRef

torch.set_num_threads(3)  # what the process runs with, whatever the machine
threads = torch.get_num_threads()
root, cache = sys.argv[1], sys.argv[2]
settings = EngineSettings(tts="pocket", tts_pocket=root, cache_dir=Path(cache), threads=1)
backend = PocketBackend(settings)  # imports pocket_tts, which sets torch to one thread
threads_after = torch.get_num_threads()
rng = np.random.default_rng(0)
voice = VoiceRef(Audio((0.1 * rng.standard_normal(48_000)).astype(np.float32), 16_000))
speech = backend.synthesize("Bonjour. Comment allez-vous ?", voice, language="fr")
print(json.dumps({
    "numpy": np.__version__,
    "mediapipe": mediapipe.__version__,
    "modules": sorted(m for m in ("numpy", "mediapipe", "pocket_tts", "torch") if m in sys.modules),
    "seconds": speech.audio.duration,
    "chunks": len(speech.chunks),
    "threads": [threads, threads_after, torch.get_num_threads()],
}))
"""


def test_pocket_tts_runs_beside_numpy_1_and_mediapipe(pocket_root: Path, tmp_path: Path) -> None:
    assert importlib.metadata.version("pocket-tts") == POCKET_VERSION
    assert importlib.metadata.version("mediapipe") == "0.10.21"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(pocket_root), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert int(report["numpy"].split(".")[0]) < 2
    assert report["mediapipe"] == "0.10.21"
    assert report["modules"] == ["mediapipe", "numpy", "pocket_tts", "torch"]
    assert report["seconds"] > 0 and report["chunks"] >= 1
    # importing pocket-tts (which sets one thread) left the process's count alone
    assert report["threads"] == [3, 3, 3]


def test_the_dependencies_pocket_tts_imports_are_in_the_pocket_extra() -> None:
    """What pocket-tts 4.0.1 imports at run time (not its server or CLI) is what the extra
    lists; the numpy pin and the server's packages stay out."""
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["pocket"]
    names = {
        req.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
        for req in extra
    }
    needed = {
        "einops",
        "pyyaml",
        "pydantic",
        "requests",
        "huggingface-hub",
        "safetensors",
        "scipy",
        "sentencepiece",
        "tokenizers",
        "typing-extensions",
        "torch",
    }
    assert needed <= {n.replace("_", "-") for n in names}
    assert not {"numpy", "fastapi", "uvicorn", "typer", "python-multipart", "pocket-tts"} & names
