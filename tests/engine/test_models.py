"""`mouthpiece models fetch` records SHA-256 checksums; `mouthpiece models check` verifies them:
a good copy passes (exit 0), an altered or missing file fails (exit 1, a BAD line naming it).

The model hub is a remote service, so its download call is replaced by a stand-in that writes
files the way ``huggingface_hub.snapshot_download`` does; everything else is the real code,
and the checks run through the real command line."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine import models


def _check(models_dir: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "models", "check", name],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MOUTHPIECE_MODELS_DIR": str(models_dir)},
    )


@pytest.fixture
def fetched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """neutts-q4 as `models fetch` leaves it, from a stand-in hub."""
    import huggingface_hub

    def snapshot_download(*, repo_id: str, local_dir: Path, **kw: Any) -> str:
        assert repo_id == "neuphonic/neutts-air-q4-gguf"
        (Path(local_dir) / "neutts-air-Q4_0.gguf").write_bytes(b"GGUF" + bytes(range(256)) * 64)
        (Path(local_dir) / "README.md").write_text("# NeuTTS Air\n")
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    target = models.fetch("neutts-q4", tmp_path / "models")
    sums = (target / "SHA256SUMS").read_text().splitlines()
    gguf = hashlib.sha256((target / "neutts-air-Q4_0.gguf").read_bytes()).hexdigest()
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
