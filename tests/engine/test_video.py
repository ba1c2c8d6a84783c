"""MP4 writing: codecs, 25 fps, equal stream lengths, +faststart, tags, byte budget, abort."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import InvalidInput
from engine.media.video import VideoWriter, probe
from engine.types import Audio
from tests.auxil.media_fixtures import tone_speech


def _audio(frames: int, fps: int = 25, rate: int = 24_000) -> Audio:
    n = round(frames / fps * rate)
    x = np.resize(tone_speech(1.0, rate), n)
    return Audio(x.astype(np.float32), rate)


def _frames(n: int, w: int = 160, h: int = 120, noisy: bool = False):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    for i in range(n):
        if noisy:
            yield rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        else:
            f = np.zeros((h, w, 3), np.uint8)
            f[:, : (i * 3) % w] = 200
            yield f


def _top_level_atoms(path: Path) -> list[str]:
    data, atoms, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        atoms.append(data[pos + 4 : pos + 8].decode("latin-1"))
        if size < 8:
            break
        pos += size
    return atoms


def test_mp4_streams_lengths_faststart_and_tags(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    n = 60
    with VideoWriter(
        out, size=(160, 120), fps=25, audio=_audio(n), metadata={"comment": "job 42"}
    ) as w:
        for f in _frames(n):
            w.write(f)
    info = probe(out)
    assert (info.video_codec, info.audio_codec, info.pix_fmt) == ("h264", "aac", "yuv420p")
    assert info.fps == pytest.approx(25.0) and info.n_frames == n
    assert info.video_duration == pytest.approx(n / 25, abs=0.01)
    assert info.audio_duration == pytest.approx(info.video_duration, abs=0.05)
    assert info.tags.get("comment") == "job 42"
    atoms = _top_level_atoms(out)
    assert atoms.index("moov") < atoms.index("mdat"), atoms
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_byte_budget_is_met_for_noisy_video(tmp_path: Path) -> None:
    out, n, budget = tmp_path / "b.mp4", 100, 120_000
    with VideoWriter(
        out, size=(320, 240), fps=25, audio=_audio(n), max_bytes=budget, n_frames=n
    ) as w:
        for f in _frames(n, 320, 240, noisy=True):
            w.write(f)
    assert out.stat().st_size <= budget
    assert probe(out).n_frames == n


def test_impossible_budget_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot fit"):
        VideoWriter(
            tmp_path / "x.mp4",
            size=(160, 120),
            fps=25,
            audio=_audio(2500),
            max_bytes=100_000,
            n_frames=2500,
        ).open()
    assert list(tmp_path.iterdir()) == []


def test_exception_inside_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    with (
        pytest.raises(RuntimeError),
        VideoWriter(out, size=(160, 120), fps=25, audio=_audio(10)) as w,
    ):
        w.write(next(_frames(1)))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_wrong_frame_shape_and_odd_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "x.mp4", size=(161, 120), fps=25, audio=_audio(5))
    with (
        pytest.raises(ValueError, match="frame must be"),
        VideoWriter(tmp_path / "y.mp4", size=(160, 120), fps=25, audio=_audio(5)) as w,
    ):
        w.write(np.zeros((100, 100, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
