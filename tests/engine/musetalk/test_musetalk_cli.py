"""`mouthpiece render --lipsync musetalk --lipsync-model DIR` end to end, in a subprocess.

The released layout is written with random weights (the tiny configuration; the full-size
one is in test_musetalk_full.py): a valid MP4 comes out, a wrong file is refused naming keys.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from engine.media.video import probe  # noqa: E402
from tests.auxil.musetalk_models import write_layout  # noqa: E402


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_layout(tmp_path_factory.mktemp("mt_cli") / "musetalk")


def _render(model: Path, out: Path, voice: Path, photo: Path) -> subprocess.CompletedProcess[str]:
    args = ["render", "--lipsync", "musetalk", "--lipsync-model", str(model), "--device", "cpu"]
    args += ["--script", "Hi.", "--voice", str(voice), "--photo", str(photo), "-o", str(out)]
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_cli_renders_a_valid_mp4_with_musetalk(
    tmp_path: Path, layout: Path, sample_voice: Path, sample_photo: Path
) -> None:
    out = tmp_path / "mt.mp4"
    proc = _render(layout, out, sample_voice, sample_photo)
    assert proc.returncode == 0, proc.stderr
    assert '"lipsync_backend": "musetalk"' in proc.stdout
    info = probe(out)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert info.fps == pytest.approx(25.0) and info.n_frames > 5


def test_cli_refuses_a_wrong_file_naming_the_keys(
    tmp_path: Path, layout: Path, sample_voice: Path, sample_photo: Path
) -> None:
    bad = tmp_path / "bad"
    for sub in ("musetalkV15", "sd-vae", "whisper"):
        (bad / sub).mkdir(parents=True)
        for f in (layout / sub).iterdir():
            (bad / sub / f.name).symlink_to(f)
    (bad / "musetalkV15" / "unet.pth").unlink()
    state = torch.load(layout / "musetalkV15" / "unet.pth", weights_only=True)
    del state["conv_out.weight"]
    torch.save(state, bad / "musetalkV15" / "unet.pth")
    out = tmp_path / "never.mp4"
    proc = _render(bad, out, sample_voice, sample_photo)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: musetalk file ")
    assert "does not match its network: 1 missing keys: conv_out.weight" in lines[0]
    assert not out.exists() and not list(tmp_path.glob("*.mp4"))


def test_cli_says_where_the_files_should_be(
    tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    proc = _render(tmp_path / "missing", tmp_path / "x.mp4", sample_voice, sample_photo)
    assert proc.returncode == 1
    assert "mouthpiece models fetch musetalk" in proc.stderr and "not a folder" in proc.stderr
