"""`mouthpiece models fetch`: parts land in the released layout, every large file must have the
SHA-256 its hub publishes, and the checksums are recorded; `mouthpiece models check` verifies
them: a good copy passes (exit 0), an altered or missing file fails (exit 1, a BAD line naming
it). A stand-in hub serves files from a local folder (tests never download); everything else is
the real code, and the checks run through the real command line."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import BackendUnavailable
from engine.models import MODELS, fetch, verify


class LocalHub:
    """Repositories as folders under ``root``; ``published`` overrides announced checksums."""

    def __init__(self, root: Path, published: dict[str, str] | None = None) -> None:
        self.root, self.published, self.calls = root, published or {}, list[str]()

    def download(self, repo: str, patterns: tuple[str, ...], target: Path) -> None:
        self.calls.append(repo)
        for pattern in patterns:
            for src in (self.root / repo).glob(pattern):
                dst = target / src.relative_to(self.root / repo)
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)

    def published_sha256(self, repo: str) -> dict[str, str]:
        out = {}
        for path in (self.root / repo).rglob("*"):
            rel = str(path.relative_to(self.root / repo))
            if path.is_file() and path.suffix in {".pth", ".safetensors", ".bin"}:
                out[rel] = self.published.get(f"{repo}/{rel}") or _sha(path)
        return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    files = {
        "TMElyralab/MuseTalk/musetalkV15/unet.pth": b"unet",
        "TMElyralab/MuseTalk/musetalkV15/musetalk.json": b"{}",
        "TMElyralab/MuseTalk/musetalk/pytorch_model.bin": b"v1, not fetched",
        "stabilityai/sd-vae-ft-mse/config.json": b"{}",
        "stabilityai/sd-vae-ft-mse/diffusion_pytorch_model.safetensors": b"vae",
        "stabilityai/sd-vae-ft-mse/diffusion_pytorch_model.bin": b"same, pickled",
        "openai/whisper-tiny/config.json": b"{}",
        "openai/whisper-tiny/model.safetensors": b"whisper",
        "openai/whisper-tiny/preprocessor_config.json": b"{}",
        "openai/whisper-tiny/tokenizer.json": b"not needed",
    }
    root = tmp_path / "hub"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_musetalk_is_fetched_into_the_released_layout(tmp_path: Path, hub: Path) -> None:
    from engine.lipsync.musetalk.config import Layout

    local = LocalHub(hub)
    said: list[str] = []
    target = fetch("musetalk", tmp_path / "models", hub=local, on_progress=said.append)
    assert target == tmp_path / "models" / "musetalk"
    assert local.calls == [
        "TMElyralab/MuseTalk",
        "stabilityai/sd-vae-ft-mse",
        "openai/whisper-tiny",
    ]
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == [
        "SHA256SUMS",
        "musetalkV15/musetalk.json",
        "musetalkV15/unet.pth",
        "sd-vae/config.json",
        "sd-vae/diffusion_pytorch_model.safetensors",
        "whisper/config.json",
        "whisper/model.safetensors",
        "whisper/preprocessor_config.json",
    ]
    assert isinstance(Layout.find(target), Layout)
    assert any("musetalkV15/unet.pth: SHA-256 matches the hub's" in s for s in said)
    assert all(
        row.ok and row.detail == "checksum ok" for row in verify("musetalk", tmp_path / "models")
    )
    (target / "sd-vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"tampered")
    bad = [r for r in verify("musetalk", tmp_path / "models") if not r.ok]
    assert len(bad) == 1 and "checksum mismatch" in bad[0].detail


def test_a_file_that_differs_from_the_hubs_checksum_is_refused(tmp_path: Path, hub: Path) -> None:
    wrong = {"openai/whisper-tiny/model.safetensors": "0" * 64}
    with pytest.raises(BackendUnavailable) as err:
        fetch("musetalk", tmp_path / "models", hub=LocalHub(hub, wrong))
    msg = str(err.value)
    assert "whisper/model.safetensors has SHA-256" in msg
    assert f"but openai/whisper-tiny publishes {'0' * 64}" in msg
    assert not (tmp_path / "models" / "musetalk" / "SHA256SUMS").exists()


def test_musetalks_licences_are_listed() -> None:
    spec = MODELS["musetalk"]
    assert "commercial" in spec.licence and "MIT" in spec.licence
    assert [p.subdir for p in spec.downloads()] == ["", "sd-vae", "whisper"]


def test_diff2lip_still_cannot_be_downloaded(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="cannot be downloaded automatically"):
        fetch("diff2lip", tmp_path, hub=LocalHub(tmp_path))


def _check(models_dir: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "models", "check", name],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MOUTHPIECE_MODELS_DIR": str(models_dir)},
    )


@pytest.fixture
def fetched(tmp_path: Path) -> Path:
    """neutts-q4 as `models fetch` leaves it, from the stand-in hub."""
    repo = tmp_path / "hub" / "neuphonic" / "neutts-air-q4-gguf"
    repo.mkdir(parents=True)
    (repo / "neutts-air-Q4_0.gguf").write_bytes(b"GGUF" + bytes(range(256)) * 64)
    (repo / "README.md").write_text("# NeuTTS Air\n")
    target = fetch("neutts-q4", tmp_path / "models", hub=LocalHub(tmp_path / "hub"))
    sums = (target / "SHA256SUMS").read_text().splitlines()
    gguf = _sha(target / "neutts-air-Q4_0.gguf")
    assert f"{gguf}  neutts-air-Q4_0.gguf" in sums and len(sums) == 2
    return tmp_path / "models"


def test_a_good_copy_passes(fetched: Path) -> None:
    proc = _check(fetched, "neutts-q4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("ok ") for line in lines)
    assert all(line.endswith("checksum ok") for line in lines)


def test_an_altered_file_fails(fetched: Path) -> None:
    gguf = fetched / "neutts-q4" / "neutts-air-Q4_0.gguf"
    data = bytearray(gguf.read_bytes())
    data[100] ^= 1  # one bit
    gguf.write_bytes(bytes(data))
    proc = _check(fetched, "neutts-q4")
    assert proc.returncode == 1
    bad = [line for line in proc.stdout.splitlines() if line.startswith("BAD")]
    assert len(bad) == 1 and str(gguf) in bad[0] and "checksum mismatch" in bad[0]


def test_a_missing_file_fails(fetched: Path) -> None:
    gguf = fetched / "neutts-q4" / "neutts-air-Q4_0.gguf"
    gguf.unlink()
    proc = _check(fetched, "neutts-q4")
    assert proc.returncode == 1
    bad = [line for line in proc.stdout.splitlines() if line.startswith("BAD")]
    assert len(bad) == 1 and str(gguf) in bad[0] and "missing" in bad[0]


def test_nothing_downloaded_fails_and_says_how_to_get_it(tmp_path: Path) -> None:
    proc = _check(tmp_path, "neucodec")
    assert proc.returncode == 1
    assert proc.stdout.startswith("BAD") and "mouthpiece models fetch neucodec" in proc.stdout


def test_a_hand_placed_checkpoint_gets_its_whole_checksum_printed(tmp_path: Path) -> None:
    """Diff2Lip is downloaded by hand: `models check diff2lip` prints the SHA-256 to pin."""
    folder = tmp_path / "diff2lip"
    folder.mkdir()
    ckpt = folder / "e7.24.1.3_model260000_paper.pt"
    ckpt.write_bytes(b"not really a checkpoint")
    proc = _check(tmp_path, "diff2lip")
    assert proc.returncode == 0
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() in proc.stdout
