"""MP4 writing: codecs, 25 fps, equal stream lengths, +faststart, tags, byte budget, abort."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import engine.media.video as video
from engine.errors import InvalidInput
from engine.media.video import (
    MAX_VIDEO_CAP,
    RatePlan,
    VideoQuality,
    VideoWriter,
    plan_rate,
    probe,
)
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


def _talking(n: int, w: int = 320, h: int = 240):  # type: ignore[no-untyped-def]
    """A still textured picture with a small patch that changes every frame (a mouth)."""
    rng = np.random.default_rng(1)
    still = rng.integers(60, 200, (h // 8, w // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    for i in range(n):
        f = still.copy()
        f[h // 2 : h // 2 + 24, w // 2 - 32 : w // 2 + 32] = rng.integers(0, 255, (24, 64, 3))
        f[h // 2 + 4 : h // 2 + 4 + (i % 16), w // 2 - 24 : w // 2 + 24] = 20
        yield f


def _write(path: Path, frames, n: int, size: tuple[int, int], **kw: object) -> int:  # type: ignore[no-untyped-def]
    with VideoWriter(path, size=size, fps=25, audio=_audio(n), n_frames=n, **kw) as w:  # type: ignore[arg-type]
        for f in frames:
            w.write(f)
    return path.stat().st_size


@pytest.mark.parametrize("budget", [50_000_000, 10_485_760])
def test_a_generous_budget_is_a_ceiling_not_a_target(tmp_path: Path, budget: int) -> None:
    n = 75
    free = _write(tmp_path / "free.mp4", _talking(n), n, (320, 240))
    capped = _write(tmp_path / "capped.mp4", _talking(n), n, (320, 240), max_bytes=budget)
    assert capped <= 1.5 * free, (capped, free)
    # x264 signals the H.264 level from the cap: a cap sized to the budget alone would say
    # 6.2 here, which phones' decoders may refuse; 3.0 plays everywhere.
    free_level, capped_level = (probe(tmp_path / n).level for n in ("free.mp4", "capped.mp4"))
    assert 0 < capped_level <= max(30, free_level), (capped_level, free_level)


def _count_reencodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    caps: list[int] = []
    real = VideoWriter._reencode
    monkeypatch.setattr(
        VideoWriter, "_reencode", lambda self, cap: (caps.append(cap), real(self, cap))
    )
    return caps


def test_a_tight_budget_caps_the_constant_quality_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 75
    free = _write(tmp_path / "free.mp4", _talking(n), n, (320, 240))
    budget = free * 6 // 10
    reencodes = _count_reencodes(monkeypatch)
    capped = _write(tmp_path / "capped.mp4", _talking(n), n, (320, 240), max_bytes=budget)
    assert budget * 0.6 <= capped <= budget, (capped, budget, free)
    assert reencodes == []  # the cap did it while encoding, no second pass
    assert probe(tmp_path / "capped.mp4").n_frames == n


def test_without_a_budget_there_is_no_cap_and_a_generous_one_keeps_the_level_low() -> None:
    assert plan_rate(None, seconds=10, size=(512, 512), fps=25) == RatePlan()
    huge = plan_rate(50_000_000, seconds=10, size=(512, 512), fps=25)
    assert huge.video_cap == MAX_VIDEO_CAP and huge.audio_bitrate == video.AUDIO_BITRATE


@pytest.mark.parametrize(("budget", "seconds"), [(400_000, 20.0), (100_000, 2.0)])
def test_rate_plan_leaves_room_for_audio_container_and_the_buffer_head_start(
    budget: int, seconds: float
) -> None:
    plan = plan_rate(budget, seconds=seconds, size=(256, 256), fps=25)
    assert plan.video_cap is not None and plan.audio_bitrate == video.LOW_AUDIO_BITRATE
    # x264 keeps the capped stream within the cap over the whole length plus what the buffer
    # holds at the start. Measured: AAC runs up to 6 % over its bitrate; the MP4 boxes took
    # 2.2 KB for 2 s, 7.6 KB for 10 s, 17.1 KB for 23.8 s.
    worst = (plan.video_cap * seconds + plan.buffer_bits * video._VBV_INIT) / 8
    boxes = 2_000 + 750 * seconds
    assert worst + plan.audio_bitrate * seconds / 8 * 1.06 + boxes <= budget
    assert worst > 0.5 * budget  # and the picture still gets most of it


def test_impossible_budget_is_refused_up_front_with_the_bytes_it_needs(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="needs at least") as e:
        VideoWriter(
            tmp_path / "x.mp4",
            size=(160, 120),
            fps=25,
            audio=_audio(2500),
            max_bytes=100_000,
            n_frames=2500,
        )
    assert e.value.field == "options" and "\n" not in e.value.reason
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("seconds", "size", "fps"), [(100, (160, 120), 25), (8, (512, 512), 25), (30, (1920, 1080), 60)]
)
def test_the_bytes_a_refusal_asks_for_are_enough(
    seconds: float, size: tuple[int, int], fps: int
) -> None:
    with pytest.raises(InvalidInput, match="needs at least") as e:
        plan_rate(100_000, seconds=seconds, size=size, fps=fps)
    need = int(e.value.reason.split("needs at least ")[1].split()[0])
    plan = plan_rate(need, seconds=seconds, size=size, fps=fps)
    assert plan.video_cap is not None and plan.video_cap >= plan.floor > 0
    with pytest.raises(InvalidInput):
        plan_rate(need - 100, seconds=seconds, size=size, fps=fps)


def test_an_overshooting_plan_is_caught_and_re_encoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend audio and container take nothing: the first pass must come out too big.
    monkeypatch.setattr(video, "_reserved_bytes", lambda *a: 0)
    reencodes = _count_reencodes(monkeypatch)
    out, n, budget = tmp_path / "b.mp4", 100, 60_000
    _write(out, _frames(n, 320, 240, noisy=True), n, (320, 240), max_bytes=budget)
    assert reencodes and out.stat().st_size <= budget
    assert probe(out).n_frames == n
    assert [p.name for p in tmp_path.iterdir()] == ["b.mp4"]


def test_what_cannot_be_made_to_fit_is_refused_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(video, "_reserved_bytes", lambda *a: 0)
    monkeypatch.setattr(video, "MIN_BITS_PER_PIXEL", 0.03)  # no room below the first cap
    with pytest.raises(InvalidInput, match="does not fit in 60000 bytes"):
        _write(
            tmp_path / "b.mp4",
            _frames(100, 320, 240, noisy=True),
            100,
            (320, 240),
            max_bytes=60_000,
        )
    assert list(tmp_path.iterdir()) == []


def test_quality_settings_are_checked() -> None:
    for bad in ({"crf": 52}, {"preset": "placebo2"}, {"tune": "ssim"}, {"keyframe_seconds": 0}):
        with pytest.raises(ValueError):
            VideoQuality(**bad)  # type: ignore[arg-type]


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
