"""`mouthpiece render --tts neutts` end to end with tiny local models, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# the neutts extra: make test installs it, so a missing one fails here instead of skipping
import llama_cpp  # noqa: F401
import pytest

from engine.media.audio import decode_audio
from engine.media.video import probe

pytestmark = pytest.mark.slow  # tens of seconds

LONG = " ".join(
    [
        "Hello and welcome to this rather long test of the speech backend.",
        "It has to speak several sentences, with numbers like 42 and $3.50, dates like 2024-01-02,",
        "and clauses that go on, and on, until the planner must cut them into pieces.",
    ]
    * 2
)


def run_cli(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "MOUTHPIECE_THREADS": "1", **(env or {})},
    )


def _render_args(
    backbone: Path, codec: Path, samples: Path, out: Path, script: str
) -> list[str | Path]:
    return [
        "render",
        "--tts",
        "neutts",
        "--tts-backbone",
        backbone,
        "--tts-codec",
        codec,
        "--script",
        script,
        "--voice",
        samples / "voice.ogg",
        "--voice-text",
        (samples / "voice.txt").read_text().strip(),
        "--photo",
        samples / "portrait.jpg",
        "-o",
        out,
        "--json",
        "--device",
        "cpu",
    ]


def test_long_script_renders_a_watermarked_mp4(
    tiny_models: tuple[Path, Path], samples: Path, tmp_path: Path
) -> None:
    backbone, codec = tiny_models
    out = tmp_path / "neutts.mp4"
    env = {"MOUTHPIECE_CACHE_DIR": str(tmp_path / "cache")}
    proc = run_cli(*_render_args(backbone, codec, samples, out, LONG), env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["tts_backend"] == "neutts" and result["watermarked"] is True
    info = probe(out)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert info.video_duration == pytest.approx(result["speech_seconds"] + 0.4, abs=0.1)
    assert list((tmp_path / "cache" / "neutts").glob("*.npz")), "reference codes not cached"
    from engine.watermark import detect_watermark

    assert detect_watermark(decode_audio(out, sample_rate=24_000)) > 0.8


def _expect_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_missing_and_corrupt_model_files_fail_with_one_error_line(
    tiny_models: tuple[Path, Path], samples: Path, tmp_path: Path
) -> None:
    backbone, codec = tiny_models
    out = tmp_path / "x.mp4"
    missing = tmp_path / "absent.gguf"
    _expect_error(
        run_cli(*_render_args(missing, codec, samples, out, "Hi.")), "absent.gguf", "not found"
    )

    not_gguf = tmp_path / "bad.gguf"
    not_gguf.write_bytes(b"<html>404</html>" * 10)
    _expect_error(
        run_cli(*_render_args(not_gguf, codec, samples, out, "Hi.")), "bad.gguf", "not a GGUF"
    )

    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(backbone.read_bytes()[:200_000])
    _expect_error(run_cli(*_render_args(truncated, codec, samples, out, "Hi.")), "truncated.gguf")

    bad_codec = tmp_path / "codec"
    bad_codec.mkdir()
    (bad_codec / "pytorch_model.bin").write_bytes(b"garbage" * 100)
    _expect_error(
        run_cli(*_render_args(backbone, bad_codec, samples, out, "Hi.")), "pytorch_model.bin"
    )
    assert not out.exists()
