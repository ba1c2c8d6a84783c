"""End to end through the `mouthpiece` command line with the embedded CPU backends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.media.video import probe

SHORT = "Hello there. This is a short test of the talking video."


def run_cli(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_render_writes_a_valid_mp4(tmp_path: Path, sample_voice: Path, sample_photo: Path) -> None:
    out = tmp_path / "out.mp4"
    proc = run_cli(
        "render",
        "--script",
        SHORT,
        "--voice",
        sample_voice,
        "--photo",
        sample_photo,
        "-o",
        out,
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    info = probe(out)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert info.pix_fmt == "yuv420p"
    assert info.width % 2 == 0 and info.height % 2 == 0
    assert info.fps == pytest.approx(25.0)
    assert info.video_duration == pytest.approx(info.audio_duration, abs=0.1)
    # The video ends when the speech ends plus the short tail: no "buffer frames".
    assert info.video_duration == pytest.approx(result["speech_seconds"] + 0.4, abs=0.1)
    assert result["frames"] == info.n_frames
    assert result["stage_seconds"]["motion"] > 0, "blinks and head motion are on by default"
    assert info.tags.get("encoder", "").startswith("Mouthpiece") or "Mouthpiece" in json.dumps(
        info.tags
    )
    assert not [p for p in tmp_path.iterdir() if p.name != "out.mp4"], "temporary files left behind"


def test_byte_budget_is_respected(tmp_path: Path, sample_voice: Path, sample_photo: Path) -> None:
    out = tmp_path / "small.mp4"
    budget = 150_000
    proc = run_cli(
        "render",
        "--script",
        SHORT,
        "--voice",
        sample_voice,
        "--photo",
        sample_photo,
        "-o",
        out,
        "--max-bytes",
        budget,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size <= budget


def _noise_photo(path: Path) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize(
    "case",
    [
        "missing-voice",
        "no-face",
        "corrupt-voice",
        "empty-script",
        "not-mp4",
        "text-as-photo",
        "bad-steps",
        "bad-head-motion",
        "bad-head-motion-setting",
        "unreadable-script-file",
    ],
)
def test_invalid_input_exits_2_with_one_line(
    case: str,
    tmp_path: Path,
    sample_voice: Path,
    sample_photo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out.mp4"
    voice, photo, script = sample_voice, sample_photo, ["--script", SHORT]
    extra: list[str] = []
    if case == "missing-voice":
        voice = tmp_path / "nope.ogg"
    elif case == "no-face":
        photo = _noise_photo(tmp_path / "noise.png")
    elif case == "corrupt-voice":
        voice = tmp_path / "bad.ogg"
        voice.write_bytes(b"OggS" + bytes(range(256)) * 8)
    elif case == "empty-script":
        script = ["--script", "   "]
    elif case == "not-mp4":
        out = tmp_path / "out.avi"
    elif case == "text-as-photo":
        photo = tmp_path / "photo.jpg"
        photo.write_text("this is not an image")
    elif case == "bad-steps":
        extra = ["--lipsync-steps", "0"]
    elif case == "bad-head-motion":
        extra = ["--head-motion", "3"]
    elif case == "bad-head-motion-setting":
        monkeypatch.setenv("MOUTHPIECE_HEAD_MOTION", "-1")
    elif case == "unreadable-script-file":
        bad = tmp_path / "script.txt"
        bad.write_bytes(b"\xff\xfe\xfa not utf8 \xc3")
        script = ["--script-file", str(bad)]
    proc = run_cli("render", *script, "--voice", voice, "--photo", photo, "-o", out, *extra)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    assert list(tmp_path.glob("*.mp4*")) == [] or case == "not-mp4"


def test_a_script_longer_spoken_than_allowed_exits_2_with_one_line(
    tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    """The script limit (``max_script_chars``, 5,000 by default) counts the script as spoken:
    994 typed characters of numbers are about 10,800 once written out as words."""
    digits = ("7777777 " * 125)[:994]
    out = tmp_path / "out.mp4"
    proc = run_cli(
        "render", "--script", digits, "--voice", sample_voice, "--photo", sample_photo, "-o", out
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "spoken as words" in lines[0] and "994-character" in lines[0], lines[0]
    assert "the limit is 5000" in lines[0], lines[0]
    assert not out.exists() and list(tmp_path.glob("*.mp4*")) == []


@pytest.mark.parametrize(
    ("flags", "blinks", "head"),
    [
        ([], True, True),
        (["--no-blinks"], False, True),
        (["--no-head-motion"], True, False),
        (["--no-motion"], False, False),
    ],
)
def test_motion_flags(flags: list[str], blinks: bool, head: bool) -> None:
    from engine.cli import build_parser, render_options

    base = ["render", "--script", "x", "--voice", "v", "--photo", "p", "-o", "o.mp4"]
    options = render_options(build_parser().parse_args([*base, *flags]))
    assert (options.blinks, options.head_motion) == (blinks, head)


def test_no_motion_renders_the_backends_frames(
    tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    out = tmp_path / "still.mp4"
    args = ["--script", "Hi.", "--voice", sample_voice, "--photo", sample_photo, "-o", out]
    proc = run_cli("render", *args, "--no-motion", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stage_seconds"]["motion"] == 0.0


def test_usage_error_is_one_line(tmp_path: Path) -> None:
    proc = run_cli("render", "--script", "hi")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")


def test_doctor_lists_every_backend() -> None:
    proc = run_cli("doctor")
    assert proc.returncode == 0, proc.stderr
    names = {line.split()[2] for line in proc.stdout.splitlines()}
    assert {"espeak", "warp", "neutts", "diff2lip"} <= names
    usable = {line.split()[2] for line in proc.stdout.splitlines() if line.startswith("ok")}
    assert {"espeak", "warp"} <= usable
    (jail,) = [line for line in proc.stdout.splitlines() if line.split()[1] == "jail"]
    from engine.jail.confine import landlock_abi

    assert jail.startswith("ok ") and "memory/CPU limits" in jail
    files = "files confined" if landlock_abi() > 0 else "files NOT confined (no Landlock)"
    assert files in jail  # what this kernel offers, said as it is
