"""`mouthpiece batch`: a manifest of many videos, one engine load, resumable, each failure
with its reason, a non-zero exit when any row failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.batch import Row, read_manifest, run_batch
from engine.cli import main
from engine.errors import InvalidInput
from engine.media.video import probe
from engine.types import PhotoIntake
from tests.engine.test_cli import run_cli


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_csv_batch_renders_every_row_and_resumes(
    tmp_path: Path, sample_voice: Path, sample_photo: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Two good rows and one whose photo is missing: two videos, the failure named, exit 1;
    run again, the two are skipped (not rendered again) and the third still fails; with its
    photo given, only the third renders and the run exits 0."""
    (tmp_path / "lesson.txt").write_text("The second lesson, from a file.", encoding="utf-8")
    manifest = _csv(
        tmp_path / "batch.csv",
        "script,script_file,photo,output\n"
        '"Hello, this is the first one.",,,first.mp4\n'
        ",lesson.txt,,\n"
        f'"The third, with a photo that is not there.",,{tmp_path / "nope.jpg"},third.mp4\n',
    )
    out = tmp_path / "out"
    args = ("batch", manifest, "-o", out, "--voice", sample_voice, "--photo", sample_photo)
    first = run_cli(*args, "--json")
    assert first.returncode == 1, first.stderr
    outcomes = json.loads(first.stdout)
    assert [o["status"] for o in outcomes] == ["done", "done", "failed"]
    assert "nope.jpg" in outcomes[2]["reason"] and "\n" not in outcomes[2]["reason"]
    assert sorted(p.name for p in out.iterdir()) == ["002.mp4", "first.mp4"]
    for name in ("first.mp4", "002.mp4"):
        info = probe(out / name)
        assert info.video_codec == "h264" and info.audio_codec == "aac"
    made = (out / "first.mp4").stat().st_mtime_ns

    # the second and third runs in this process (the first ran as a user runs it)
    assert main([str(a) for a in args]) == 1
    table = capfd.readouterr().err.splitlines()  # the summary table
    assert table[-1] == "0 done, 2 skipped, 1 failed", table
    assert any("failed" in line and "nope.jpg" in line for line in table)
    assert (out / "first.mp4").stat().st_mtime_ns == made  # skipped, not rendered again

    manifest.write_text(manifest.read_text().replace(str(tmp_path / "nope.jpg"), str(sample_photo)))
    assert main([*(str(a) for a in args), "--json"]) == 0
    last = json.loads(capfd.readouterr().out)
    assert [o["status"] for o in last] == ["skipped", "skipped", "done"]
    assert (out / "third.mp4").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left"


def test_a_bad_manifest_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for name, text, says in (
        ("a.csv", "title,words\nx,y\n", "must name a script"),
        ("b.jsonl", '{"script": "hi"}\nnot json\n', "line 2 is not JSON"),
        ("c.csv", "", "empty"),
    ):
        proc = run_cli("batch", _csv(tmp_path / name, text), "-o", tmp_path / "out")
        assert proc.returncode == 2, (name, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], lines


def test_rows_are_checked_one_by_one(tmp_path: Path) -> None:
    """A JSONL manifest: a row with both script fields, one climbing out of the output
    folder, one with no script: each refused with its reason; the good rows stand."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "\n".join(
            json.dumps(r)
            for r in (
                {"script": "Fine.", "output": "sub/one.mp4"},
                {"script": "Both.", "script_file": "x.txt"},
                {"script": "Out.", "output": "../escape.mp4"},
                {"script": "Not a video.", "output": "two.mov"},
                {"photo": "p.jpg"},
                {"script": "Fine too."},
                {"script_file": "big.txt"},
            )
        )
    )
    (tmp_path / "big.txt").write_bytes(b"word " * 20_001)  # 100,005 bytes: over the cap
    rows = read_manifest(manifest)
    assert isinstance(rows[0], Row) and str(rows[0].output) == "sub/one.mp4"
    assert isinstance(rows[5], Row) and str(rows[5].output) == "006.mp4"
    reasons = [r.reason for r in rows if isinstance(r, InvalidInput)]
    assert len(reasons) == 5
    assert reasons[4] == "Row 7: The script file 'big.txt' is over 100,000 bytes."
    assert "one of them" in reasons[0] and "inside the output folder" in reasons[1]
    assert "inside the output folder" in reasons[2] and "one of them" in reasons[3]


def test_each_photos_face_is_found_once(tmp_path: Path) -> None:
    """The reference work a batch shares: one face search per distinct photo, handed to
    every render of that photo; a photo without a face fails its rows, not the others."""
    photo_a, photo_b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    rows: list[Row | InvalidInput] = [
        Row(n, f"Script {n}.", photo, None, None, Path(f"{n}.mp4"))  # type: ignore[arg-type]
        for n, photo in ((1, photo_a), (2, photo_b), (3, photo_a), (4, photo_b), (5, photo_a))
    ]
    searched: list[Path] = []
    rendered: list[tuple[Path, object]] = []

    def find_face(path: Path) -> PhotoIntake:
        searched.append(path)
        if path == photo_b:
            raise InvalidInput("No face found in the photo.", field="photo")
        return object()  # type: ignore[return-value]

    def render(request: object, progress: object) -> None:
        rendered.append((request.photo, request.photo_intake))  # type: ignore[attr-defined]

    outcomes = run_batch(rows, tmp_path / "out", render, find_face, voice=tmp_path / "v.wav")
    assert searched == [photo_a, photo_b]  # once each
    assert [o.status for o in outcomes] == ["done", "failed", "done", "failed", "done"]
    assert outcomes[1].reason == "No face found in the photo."
    assert len({id(intake) for _, intake in rendered}) == 1 and len(rendered) == 3


@pytest.mark.parametrize("missing", ["photo", "voice"])
def test_a_row_without_a_photo_or_voice_says_so(tmp_path: Path, missing: str) -> None:
    row = Row(
        1, "Hi.", None if missing == "photo" else tmp_path / "p.jpg", None, None, Path("a.mp4")
    )  # type: ignore[arg-type]
    voice = tmp_path / "v.wav" if missing == "photo" else None
    (outcome,) = run_batch([row], tmp_path, lambda *a: None, lambda p: None, voice=voice)  # type: ignore[arg-type,return-value]
    assert outcome.status == "failed" and f"no {missing} given" in outcome.reason


def test_render_preview_comes_first_and_is_the_opening(
    tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    """--preview writes the opening (about 3 s) as its own video before the full one."""
    out, preview = tmp_path / "full.mp4", tmp_path / "preview.mp4"
    script = "Welcome to the first lesson of this course, where we meet the alphabet. Good."
    proc = run_cli(
        "render", "--script", script, "--voice", sample_voice, "--photo", sample_photo,
        "-o", out, "--preview", preview, "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["preview"] == str(preview)
    assert f"preview: {preview}" in proc.stderr
    short, full = probe(preview), probe(out)
    assert short.video_duration <= 3.9 and full.video_duration > 1.4 * short.video_duration
    assert preview.stat().st_mtime_ns < out.stat().st_mtime_ns  # written first
    same = run_cli(
        "render", "--script", "Hi.", "--voice", sample_voice, "--photo", sample_photo,
        "-o", out, "--preview", out,
    )  # fmt: skip
    assert same.returncode == 2 and same.stderr.startswith("error:")


def test_the_opening_is_a_sentence_or_about_three_seconds() -> None:
    from spoken_text import opening, spoken

    assert opening("Hi there. And the rest of it.") == "Hi there."
    long = "One, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve."
    cut = opening(long)
    assert long.startswith(cut) and len(spoken(cut)) <= 45 and cut.endswith(",")
    words = "Supercalifragilistic expialidocious words keep going on and on without a pause"
    assert opening(words) == "Supercalifragilistic expialidocious words"
    assert opening("Short") == "Short" and opening("   ") == ""
