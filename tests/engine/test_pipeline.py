"""Engine.render: stages, progress, cancellation, result, atomic output."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import Cancelled, Engine, EngineSettings, InvalidInput, RenderOptions, RenderRequest
from engine.media.label import Label
from engine.pipeline import check_script
from engine.tts.espeak import EspeakBackend
from engine.types import PhotoIntake


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(EngineSettings())


def _request(
    tmp_path: Path, voice: Path, photo: Path, script: str = "Hello, one two three.", **opts: object
) -> RenderRequest:
    return RenderRequest(
        script=script,
        voice=voice,
        photo=photo,
        output=tmp_path / "out.mp4",
        options=RenderOptions(**opts),
    )  # type: ignore[arg-type]


def test_progress_runs_through_the_stages_in_order(
    engine: Engine, tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    seen = []
    result = engine.render(_request(tmp_path, sample_voice, sample_photo), on_progress=seen.append)
    stages = [p.stage for p in seen]
    order = [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s]
    assert order == ["inputs", "speech", "video", "encode"]
    video = [p.fraction for p in seen if p.stage == "video"]
    assert video == sorted(video) and video[-1] == 1.0
    assert result.output.is_file() and result.frames == round(result.video_seconds * 25)
    assert set(result.stage_seconds) >= {"inputs", "speech", "video", "lipsync", "encode"}
    assert result.tts_backend == "espeak" and result.lipsync_backend == "warp"


def test_cancel_during_video_leaves_nothing(
    engine: Engine, tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    calls = {"video": 0}

    def should_cancel() -> bool:
        return calls["video"] >= 3

    def on_progress(p: object) -> None:
        if getattr(p, "stage", "") == "video":
            calls["video"] += 1

    req = _request(
        tmp_path,
        sample_voice,
        sample_photo,
        script="This sentence is long enough to have many frames in it.",
    )
    with pytest.raises(Cancelled):
        engine.render(req, on_progress=on_progress, should_cancel=should_cancel)
    assert list(tmp_path.iterdir()) == []


def test_cancel_before_start(
    engine: Engine, tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    with pytest.raises(Cancelled):
        engine.render(_request(tmp_path, sample_voice, sample_photo), should_cancel=lambda: True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("script", ["", "   \n\t ", "!!! ??? ...", "x" * 5001])
def test_bad_scripts_are_refused(script: str) -> None:
    with pytest.raises(InvalidInput) as e:
        check_script(script, 5000)
    assert e.value.field == "script" and "\n" not in e.value.reason


def test_the_script_limit_counts_the_script_as_spoken() -> None:
    """``max_chars`` bounds the typed script and the script written out as words."""
    assert check_script("  Call 555 now.  ", 40) == "Call 555 now."  # 37 characters spoken
    with pytest.raises(InvalidInput, match="spoken as words") as e:
        check_script("Call 5555 now.", 40)  # "Call five thousand five hundred and ..."
    assert e.value.field == "script" and "\n" not in e.value.reason
    # longer runs of digits than Python turns into an int: refused, not a ValueError
    for script in ("7" * 5000, "$" + "7" * 4999, "7" * 4990 + "th"):
        with pytest.raises(InvalidInput, match="spoken as words"):
            check_script(script, 5000)


def test_transcript_required_when_backend_needs_it(
    tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    class NeedsTranscript(EspeakBackend):
        needs_transcript = True

    engine = Engine(EngineSettings(), tts=NeedsTranscript(EngineSettings()))
    with pytest.raises(InvalidInput, match="--voice-text") as e:
        engine.render(_request(tmp_path, sample_voice, sample_photo))
    assert e.value.field == "voice"


def test_label_is_drawn_in_its_corner_only() -> None:
    frame = np.full((240, 320, 3), 128, np.uint8)
    label = Label("AI-generated", size=(320, 240), position="bottom-right")
    out = label.apply(frame.copy())
    x, y, w, h = label.box
    changed = np.argwhere((out != 128).any(axis=2))
    assert len(changed) > 0
    assert changed[:, 0].min() >= y and changed[:, 1].min() >= x
    assert x + w <= 320 and y + h <= 240 and x > 160 and y > 120


def test_inspect_photo_and_voice(engine: Engine, sample_voice: Path, sample_photo: Path) -> None:
    photo = engine.inspect_photo(sample_photo)
    assert photo.faces_found == 1 and photo.width > 0
    voice = engine.inspect_voice(sample_voice)
    assert 2.0 < voice.seconds < 15.0


def test_the_reference_voice_names_its_file_for_the_caches(
    engine: Engine, sample_voice: Path, tmp_path: Path
) -> None:
    """What speech backends cache from a voice is filed under the SHA-256 of the voice file
    (the hash a caller that stores uploads by content knows), so it can be erased by it."""
    import hashlib

    voice = engine._load_voice(sample_voice, None)  # what render() hands the speech backend
    assert voice.source == hashlib.sha256(sample_voice.read_bytes()).hexdigest()
    assert engine.voice_cache.folder == Path(engine.settings.cache_dir) / "neutts"


@pytest.fixture(scope="module")
def unbudgeted_size(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory, sample_voice: Path, sample_photo: Path
) -> int:
    """Bytes of the default render without a byte budget (constant quality)."""
    tmp = tmp_path_factory.mktemp("free")
    return engine.render(_request(tmp, sample_voice, sample_photo)).size_bytes


@pytest.mark.parametrize("budget", [50_000_000, 10_485_760], ids=["telegram", "discord"])
def test_platform_budgets_are_ceilings_not_targets(
    engine: Engine,
    unbudgeted_size: int,
    budget: int,
    tmp_path: Path,
    sample_voice: Path,
    sample_photo: Path,
) -> None:
    req = _request(tmp_path, sample_voice, sample_photo, max_bytes=budget)
    assert engine.render(req).size_bytes <= 1.5 * unbudgeted_size


def test_a_tight_budget_fits(
    engine: Engine, tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    # Long enough that 80 % of its constant-quality size is above the refusal floor.
    script = "This sentence is long enough to have many frames in it. " * 2
    free = engine.render(_request(tmp_path / "free", sample_voice, sample_photo, script=script))
    budget = free.size_bytes * 8 // 10
    assert budget > 100_000
    capped = _request(tmp_path / "capped", sample_voice, sample_photo, script=script)
    result = engine.render(replace(capped, options=RenderOptions(max_bytes=budget)))
    assert result.size_bytes == result.output.stat().st_size <= budget


def test_a_budget_too_small_is_refused_before_any_frame(
    engine: Engine,
    tmp_path: Path,
    sample_voice: Path,
    sample_photo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int] = []
    real = engine.lipsync.frames
    monkeypatch.setattr(
        engine.lipsync, "frames", lambda *a, **kw: (asked.append(1), real(*a, **kw))[1]
    )
    script = "This sentence is long enough to have many frames in it. " * 2
    req = _request(tmp_path, sample_voice, sample_photo, script=script, max_bytes=100_000)
    with pytest.raises(InvalidInput, match="needs at least") as e:
        engine.render(req)
    assert e.value.field == "options" and asked == []
    assert list(tmp_path.iterdir()) == []


def _decoded(video: Path) -> bytes:
    """The video's frames, decoded to raw RGB."""
    import subprocess

    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(video), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return out.stdout


def test_a_photo_intake_through_its_codec_is_the_same_value(
    engine: Engine, sample_photo: Path
) -> None:
    intake = engine.inspect_photo(sample_photo)
    again = PhotoIntake.from_json(intake.to_json())
    assert again.to_json() == intake.to_json() and again.digest == intake.digest
    for name in ("outer_lips", "inner_lips", "left_eye", "right_eye", "jaw"):
        a, b = getattr(intake.landmarks, name), getattr(again.landmarks, name)
        assert a.dtype == b.dtype and np.array_equal(a, b)
    with pytest.raises(ValueError):
        PhotoIntake.from_json('{"digest": "x"}')


def _face_searches(engine: Engine, monkeypatch: Any) -> list[bool]:
    """Every face search the engine asks its decode jail for, from now on."""
    assert engine.jail is not None
    searches: list[bool] = []
    real = engine.jail.photo

    def photo(path: Path, **kw: Any) -> Any:
        if kw["find_face"]:
            searches.append(True)
        return real(path, **kw)

    monkeypatch.setattr(engine.jail, "photo", photo)
    return searches


def test_a_reused_photo_intake_renders_the_same_frames_without_a_face_search(
    engine: Engine, tmp_path: Path, sample_voice: Path, sample_photo: Path, monkeypatch: Any
) -> None:
    """The face found at intake, handed to the render (through its JSON codec), gives
    byte-identical frames to finding it afresh, and no face is searched for again."""
    intake = PhotoIntake.from_json(engine.inspect_photo(sample_photo).to_json())
    # one speech for both renders (espeak's output varies from call to call)
    speech = engine.tts.synthesize("Hello, one two three.", engine._load_voice(sample_voice, None))
    monkeypatch.setattr(engine.tts, "synthesize", lambda *a, **k: speech)
    (tmp_path / "fresh").mkdir()
    (tmp_path / "reused").mkdir()
    engine.clear_memory()  # no avatar memory of the photo: each render loads it
    fresh = engine.render(_request(tmp_path / "fresh", sample_voice, sample_photo))
    engine.clear_memory()
    searches = _face_searches(engine, monkeypatch)
    request = replace(
        _request(tmp_path / "reused", sample_voice, sample_photo), photo_intake=intake
    )
    reused = engine.render(request)
    assert searches == []
    assert _decoded(reused.output) == _decoded(fresh.output)
    assert engine._load_portrait(sample_photo, intake).face == intake.face
    assert reused.warnings == fresh.warnings


def test_a_photo_intake_of_other_bytes_is_not_trusted(
    engine: Engine, tmp_path: Path, sample_voice: Path, sample_photo: Path, monkeypatch: Any
) -> None:
    """An intake whose digest names other bytes (or another working size) is ignored: the
    render finds the face in the photo it was given."""
    intake = engine.inspect_photo(sample_photo)
    searches = _face_searches(engine, monkeypatch)
    for stale in (replace(intake, digest="0" * 64), replace(intake, width=intake.width - 2)):
        portrait = engine._load_portrait(sample_photo, stale)
        assert portrait.face == intake.face
    assert len(searches) == 2
