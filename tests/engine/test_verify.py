"""`mouthpiece verify`: the Perth watermark found after the MP4 (AAC) round trip, the job id
read from the metadata, exit 3 for an unmarked video, exit 2 for a file that is no media."""

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
    assert lines[0].startswith("watermark: yes") and lines[1] == "job: 0123abcd4567ef890123"

    assert main(["verify", str(plain)]) == 3
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("watermark: no (confidence")
    assert lines[1].startswith("job: unknown")


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
    assert capsys.readouterr().out.splitlines()[0] == "watermark: no (the file has no audio track)"
