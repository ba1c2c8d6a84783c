"""The full-size network through the real loading path and the command line.

A random-weight checkpoint in the released format (0.4 GB, written once per module) stands
in for the authors' file; renders are kept to 1 step and a handful of frames because one
full-size forward costs about a second per frame on a 2-core CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# the diff2lip extra: make test installs it, so a missing one fails here instead of skipping
import torch  # noqa: E402

from engine.lipsync.diff2lip import Diff2LipBackend  # noqa: E402
from engine.media.video import probe  # noqa: E402
from engine.settings import EngineSettings  # noqa: E402
from engine.types import Audio, FaceBox, FaceLandmarks, Portrait, RenderOptions, Speech  # noqa: E402
from tests.auxil.diff2lip_models import write_random_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def full_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("d2l_full") / "paper.pt", full_size=True)


def _cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )


@pytest.mark.slow
def test_full_size_checkpoint_loads_and_renders(full_ckpt: Path) -> None:
    be = Diff2LipBackend(
        EngineSettings(
            lipsync="diff2lip", lipsync_model=str(full_ckpt), device="cpu", lipsync_batch=2
        )
    )
    assert be.cfg.image_size == 128
    rng = np.random.default_rng(0)
    img = rng.integers(60, 200, (256, 224, 3), dtype=np.uint8)
    pts = np.array([[80, 180], [112, 190], [144, 180]], np.float32)
    jaw = np.array([[40, 100], [60, 200], [112, 230], [164, 200], [184, 100]], np.float32)
    eye = np.array([[70, 110], [90, 110]], np.float32)
    lm = FaceLandmarks(
        outer_lips=pts,
        inner_lips=pts,
        left_eye=eye + [64, 0],
        right_eye=eye,
        jaw=jaw,
        nose_tip=(112.0, 150.0),
    )
    p = Portrait(image=img, face=FaceBox(40, 80, 144, 150), landmarks=lm)
    t = np.arange(4000) / 16000
    speech = Speech(audio=Audio((0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000))
    frames = list(be.frames(p, speech, n_frames=2, options=RenderOptions(lipsync_steps=1)))
    assert len(frames) == 2 and frames[1].shape == img.shape
    assert not np.array_equal(frames[0], img)


@pytest.mark.slow
def test_cli_renders_a_valid_mp4_with_diff2lip(
    tmp_path: Path, full_ckpt: Path, sample_voice: Path, sample_photo: Path
) -> None:
    out = tmp_path / "d2l.mp4"
    proc = _cli(
        "render",
        "--lipsync",
        "diff2lip",
        "--lipsync-model",
        full_ckpt,
        "--lipsync-steps",
        "1",
        "--lipsync-batch",
        "0",  # auto, as documented (1 on CPU); over MOUTHPIECE_LIPSYNC_BATCH too
        "--device",
        "cpu",
        "--script",
        "Hi.",
        "--voice",
        sample_voice,
        "--photo",
        sample_photo,
        "-o",
        out,
        env={**os.environ, "MOUTHPIECE_LIPSYNC_BATCH": "-3"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "per second of video" in proc.stderr  # the ETA note before a CPU render
    info = probe(out)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert info.fps == pytest.approx(25.0)
    assert info.n_frames > 5


@pytest.mark.slow
def test_cli_wrong_checkpoint_fails_cleanly(
    tmp_path: Path, full_ckpt: Path, sample_voice: Path, sample_photo: Path
) -> None:
    state = torch.load(full_ckpt, weights_only=True, mmap=True)
    del state["out.2.bias"]
    state["input_blocks.0.0.weight"] = torch.zeros(128, 6, 3, 3)  # no reference frame
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    out = tmp_path / "never.mp4"
    proc = _cli(
        "render",
        "--lipsync",
        "diff2lip",
        "--lipsync-model",
        bad,
        "--script",
        "Hi.",
        "--voice",
        sample_voice,
        "--photo",
        sample_photo,
        "-o",
        out,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: diff2lip checkpoint")
    assert "1 missing keys: out.2.bias;" in lines[0]
    assert (
        "1 wrong shapes: input_blocks.0.0.weight (128, 6, 3, 3) (expected (128, 9, 3, 3))"
        in lines[0]
    )
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.suffix == ".mp4"]


@pytest.mark.parametrize(
    ("batch", "error"),
    [
        ("-1", "error: --lipsync-batch must be 0 (auto) or more, not -1."),
        ("0", "error: The output must be an .mp4 file"),  # 0 = auto passes; the next check answers
    ],
)
def test_cli_checks_the_batch(
    tmp_path: Path, sample_voice: Path, sample_photo: Path, batch: str, error: str
) -> None:
    proc = _cli(
        "render",
        "--lipsync",
        "diff2lip",
        "--lipsync-batch",
        batch,
        "--script",
        "Hi.",
        "--voice",
        sample_voice,
        "--photo",
        sample_photo,
        "-o",
        tmp_path / "x.mov",
    )
    assert proc.returncode == 2 and proc.stderr.startswith(error), proc.stderr
