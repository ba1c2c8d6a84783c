"""`mouthpiece verify`: the Perth watermark found after the MP4 (AAC) round trip, the job id
read from the metadata, exit 3 for an unmarked video, exit 2 for a file that is no media.
(Every mark of a real render, and the manifest: tests/engine/test_provenance.py.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.cli import main
from engine.media.audio import decode_audio, save_wav
from engine.watermark import apply_watermark


def _mp4(tmp: Path, wav: Path, name: str, comment: str | None) -> Path:
    out = tmp / name
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=64x64:r=10",
        "-i",
        str(wav),
        "-shortest",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
    ]
    if comment is not None:
        cmd += ["-metadata", f"comment={comment}", "-metadata", "encoder=Mouthpiece"]
    subprocess.run([*cmd, str(out)], check=True)
    return out


def test_verify_finds_the_watermark_and_the_job_after_the_mp4_round_trip(
    tmp_path: Path, speech_wav: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    speech = decode_audio(speech_wav, sample_rate=24_000)
    marked = save_wav(apply_watermark(speech), tmp_path / "marked.wav")
    ours = _mp4(tmp_path, marked, "ours.mp4", "Mouthpiece job 0123abcd4567ef890123")
    plain = _mp4(tmp_path, speech_wav, "plain.mp4", None)

    assert main(["verify", str(ours)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["file: ours.mp4", "verdict: AI-generated (marked by Mouthpiece)"]
    assert _line(lines, "watermark (Perth): ").startswith("yes")
    assert _line(lines, "metadata: ") == "job 0123abcd4567ef890123"
    assert _line(lines, "manifest (C2PA): ") == "none"

    assert main(["verify", str(plain)]) == 3
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "verdict: no Mouthpiece mark found"
    assert _line(lines, "watermark (Perth): ").startswith("no (confidence")
    assert _line(lines, "speech mark: ") == "no job token found"
    assert _line(lines, "metadata: ") == "no job id"


def _line(lines: list[str], prefix: str) -> str:
    """The rest of the one line that starts with ``prefix``."""
    found = [line[len(prefix) :] for line in lines if line.startswith(prefix)]
    assert len(found) == 1, (prefix, lines)
    return found[0]


def test_verify_refuses_what_is_not_media(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    assert main(["verify", str(text)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: notes.mp4")
    assert main(["verify", str(tmp_path / "missing.mp4")]) == 2


def test_a_video_without_audio_is_not_marked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    silent = tmp_path / "mute.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:s=64x64:r=10:d=1",
            "-c:v",
            "libx264",
            str(silent),
        ],
        check=True,
    )
    assert main(["verify", str(silent)]) == 3
    lines = capsys.readouterr().out.splitlines()
    assert _line(lines, "speech mark: ") == "none (the file has no audio track)"
    assert not any(line.startswith("watermark") for line in lines)
