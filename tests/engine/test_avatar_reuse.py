"""Per-avatar reuse: what a render makes from the photo alone is kept for its next render.

Renders go through ``Engine.render`` with the warp backend, and with Diff2Lip and MuseTalk on
their tiny random networks; the frames handed to the encoder are compared exactly, warm
against cold. The speech is one fixed buzz (espeak's output varies from call to call), so two
renders differ only in what the caches give them.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import engine.lipsync.warp as warp
import engine.media.image as image_module
from engine import Engine, EngineSettings, RenderOptions, RenderRequest
from engine.avatars import LRU, PortraitWork
from engine.media import video
from engine.motion import MotionGeometry
from engine.types import Audio, CancelCheck, FaceBox, FaceLandmarks, Portrait, Speech, VoiceRef
from tests.auxil.media_fixtures import tone_speech

RATE = 16_000
# short and at 10 fps: 16 frames, the mouth moving in the first half
OPTIONS = RenderOptions(fps=10, label=None, lipsync_steps=1)
BASE = EngineSettings(decode_jail=False, provenance=False, watermark=False)


class Buzz:
    """A speech backend that says the same buzz whatever the script."""

    name = "buzz"
    needs_transcript = False
    speech = Speech(
        audio=Audio(np.concatenate([tone_speech(0.6, RATE), np.zeros(RATE // 2, np.float32)]), RATE)
    )

    def synthesize(
        self,
        script: str,
        voice: VoiceRef,
        *,
        language: str | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Speech:
        return self.speech


def _engine(settings: EngineSettings = BASE) -> Engine:
    return Engine(settings, tts=Buzz())  # type: ignore[arg-type]


def _render(
    engine: Engine, photo: Path, voice: Path, out: Path, options: RenderOptions = OPTIONS
) -> list[np.ndarray]:
    """Render and return the frames the encoder was given (after lip sync and motion)."""
    frames: list[np.ndarray] = []
    real = video.VideoWriter.write

    def write(self: video.VideoWriter, frame: np.ndarray) -> None:
        frames.append(frame.copy())
        real(self, frame)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(video.VideoWriter, "write", write)
        engine.render(RenderRequest("Hello.", voice, photo, out, options=options))
    return frames


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _decodes(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every photo decode and face search from now on, at the lowest level: the jail's
    requests where the engine has a jail, else the in-process decoder and face search."""
    seen: list[str] = []
    if engine.jail is not None:
        real_jail = engine.jail.photo

        def jailed(path: Path, **kw: Any) -> Any:
            seen.append("decode+search" if kw["find_face"] else "decode")
            return real_jail(path, **kw)

        monkeypatch.setattr(engine.jail, "photo", jailed)
        return seen
    real_load, real_find = image_module.load_photo, image_module.find_face

    def load(*a: Any, **kw: Any) -> Any:
        seen.append("decode")
        return real_load(*a, **kw)

    def find(*a: Any, **kw: Any) -> Any:
        seen.append("search")
        return real_find(*a, **kw)

    monkeypatch.setattr(image_module, "load_photo", load)
    monkeypatch.setattr(image_module, "find_face", find)
    return seen


def _calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Count the calls of ``owner.name`` from now on."""
    calls: list[int] = []
    real = getattr(owner, name)

    def counted(*a: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(owner, name, counted)
    return calls


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def warp_engine() -> Iterator[Engine]:
    engine = _engine()
    yield engine
    engine.close()


@pytest.fixture
def engine(warp_engine: Engine) -> Engine:
    """The warp engine with nothing kept from an earlier test."""
    warp_engine.clear_memory()
    return warp_engine


@pytest.fixture
def other_photo(tmp_path: Path, sample_photo: Path) -> Path:
    """The sample photo's image in a file of other bytes (junk after the JPEG's end)."""
    path = tmp_path / "other.jpg"
    path.write_bytes(sample_photo.read_bytes() + b"\0other bytes")
    return path


# --- the engine's decoded portraits --------------------------------------------------------


@pytest.mark.parametrize("jail", [False, True], ids=["in-process", "jail"])
def test_the_second_render_of_a_photo_neither_decodes_nor_searches_it(
    jail: bool,
    tmp_path: Path,
    sample_photo: Path,
    sample_voice: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = _engine(replace(BASE, decode_jail=jail))
    seen = _decodes(engine, monkeypatch)
    portraits: list[Portrait] = []
    real = engine.lipsync.frames
    monkeypatch.setattr(
        engine.lipsync, "frames", lambda p, *a, **kw: (portraits.append(p), real(p, *a, **kw))[1]
    )
    _render(engine, sample_photo, sample_voice, tmp_path / "1.mp4")
    first_render = ["decode+search"] if jail else ["decode", "search"]
    assert seen == first_render
    _render(engine, sample_photo, sample_voice, tmp_path / "2.mp4")
    assert seen == first_render  # nothing more
    first, second = portraits
    assert second is first and first.source == _digest(sample_photo)
    assert not first.image.flags.writeable  # shared between renders: nobody may draw on it
    engine.close()


def test_a_photo_is_known_by_its_bytes_not_its_path(
    engine: Engine,
    tmp_path: Path,
    sample_photo: Path,
    sample_voice: Path,
    other_photo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A copy of the photo elsewhere is the same avatar; a file of other bytes is another,
    even when it decodes to the very same image."""
    _render(engine, sample_photo, sample_voice, tmp_path / "1.mp4")
    seen = _decodes(engine, monkeypatch)
    copy = shutil.copy(sample_photo, tmp_path / "copy.jpg")
    _render(engine, Path(copy), sample_voice, tmp_path / "2.mp4")
    assert seen == []
    _render(engine, other_photo, sample_voice, tmp_path / "3.mp4")
    assert seen == ["decode", "search"]
    assert engine.lipsync.portraits.sources() == {_digest(sample_photo), _digest(other_photo)}  # type: ignore[attr-defined]


# --- warm frames are cold frames, for every backend ---------------------------------------


def _work_counter(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """How many times the lip-sync backend's work made from the photo alone was built, from
    now on (MuseTalk: the crop and the reference latents, always together)."""
    name = engine.lipsync.name
    if name == "warp":
        mouths = _calls(monkeypatch, warp, "_build_mouth")
        return lambda: len(mouths)
    if name == "diff2lip":
        import engine.lipsync.diff2lip as diff2lip

        crops = _calls(monkeypatch, diff2lip, "make_crop")
        return lambda: len(crops)
    import engine.lipsync.musetalk as musetalk

    faces = _calls(monkeypatch, musetalk, "frame_face")
    latents = _calls(monkeypatch, engine.lipsync.nets, "reference_latents")  # type: ignore[attr-defined]

    def both() -> int:
        assert len(faces) == len(latents)
        return len(faces)

    return both


@pytest.fixture(
    scope="module",
    params=[
        "warp",
        pytest.param("diff2lip", marks=pytest.mark.slow),
        pytest.param("musetalk", marks=pytest.mark.slow),
    ],
)
def any_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    settings = BASE
    if request.param == "diff2lip":
        pytest.importorskip("torch")
        from tests.auxil.diff2lip_models import write_random_checkpoint

        ckpt = write_random_checkpoint(tmp_path_factory.mktemp("d2l") / "tiny.pt", full_size=False)
        settings = replace(
            BASE, lipsync="diff2lip", lipsync_model=str(ckpt), lipsync_config="tiny", device="cpu"
        )
    elif request.param == "musetalk":
        pytest.importorskip("torch")
        pytest.importorskip("diffusers")
        from tests.auxil.musetalk_models import write_layout

        root = write_layout(tmp_path_factory.mktemp("musetalk") / "models")
        settings = replace(BASE, lipsync="musetalk", lipsync_model=str(root), device="cpu")
    engine = _engine(settings)
    assert engine.lipsync.name == request.param
    yield engine
    engine.close()


def test_a_warm_render_makes_the_frames_of_a_cold_one(
    any_engine: Engine,
    tmp_path: Path,
    sample_photo: Path,
    sample_voice: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second render of a photo (its work reused) yields exactly the first one's frames,
    with another seed as well; the backend's and the motion stage's work is made once."""
    engine = any_engine
    engine.clear_memory()
    built = _work_counter(engine, monkeypatch)
    geometry = _calls(monkeypatch, MotionGeometry, "__init__")
    seeded = replace(OPTIONS, seed=7)

    cold = _render(engine, sample_photo, sample_voice, tmp_path / "cold.mp4")
    warm = _render(engine, sample_photo, sample_voice, tmp_path / "warm.mp4")
    warm_seeded = _render(engine, sample_photo, sample_voice, tmp_path / "w7.mp4", seeded)
    assert built() == 1 and len(geometry) == 1  # reused, not made again
    engine.clear_memory()
    cold_seeded = _render(engine, sample_photo, sample_voice, tmp_path / "c7.mp4", seeded)
    assert built() == 2 and len(geometry) == 2

    assert any(not np.array_equal(f, cold[0]) for f in cold)  # the frames do move
    assert _same(warm, cold)
    assert _same(warm_seeded, cold_seeded)
    assert not _same(cold_seeded, cold)  # the seed matters (the motion plan, Diff2Lip's noise)


# --- forgetting --------------------------------------------------------------------------


def test_forget_photos_drops_everything_made_from_them(
    engine: Engine,
    tmp_path: Path,
    sample_photo: Path,
    sample_voice: Path,
    other_photo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _render(engine, sample_photo, sample_voice, tmp_path / "1.mp4")
    _render(engine, other_photo, sample_voice, tmp_path / "2.mp4")
    gone, kept = _digest(sample_photo), _digest(other_photo)
    backend: PortraitWork[Any] = engine.lipsync.portraits  # type: ignore[attr-defined]
    motion = engine._motion_geometry

    assert engine.forget_photos(["0" * 64]) == 0
    # the decoded portrait, the mouth and the motion geometry
    assert engine.forget_photos(gone) == 3  # one digest, as a string
    assert {k[0] for k in engine._portraits.held()} == {kept}
    assert backend.sources() == {kept} and motion.sources() == {kept}
    assert engine.forget_photos([gone]) == 0

    seen = _decodes(engine, monkeypatch)
    _render(engine, sample_photo, sample_voice, tmp_path / "3.mp4")
    assert seen == ["decode", "search"]  # made again from the file


def test_clear_memory_drops_every_photos_work_and_the_voice_analyses(
    engine: Engine,
    tmp_path: Path,
    sample_photo: Path,
    sample_voice: Path,
    other_photo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import engine.tts.voicematch as voicematch

    _render(engine, sample_photo, sample_voice, tmp_path / "1.mp4")
    _render(engine, other_photo, sample_voice, tmp_path / "2.mp4")
    profiles = _calls(monkeypatch, voicematch, "forget_profiles")
    assert engine.clear_memory() == 6
    assert len(engine._portraits) == len(engine._motion_geometry) == 0
    assert len(engine.lipsync.portraits) == 0  # type: ignore[attr-defined]
    assert profiles == [1]


def test_an_avatar_cache_of_zero_keeps_nothing(
    tmp_path: Path, sample_photo: Path, sample_voice: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(replace(BASE, avatar_cache=0))
    seen = _decodes(engine, monkeypatch)
    mouths = _calls(monkeypatch, warp, "_build_mouth")
    geometry = _calls(monkeypatch, MotionGeometry, "__init__")
    for n in range(2):
        _render(engine, sample_photo, sample_voice, tmp_path / f"{n}.mp4")
    assert seen == ["decode", "search"] * 2 and len(mouths) == len(geometry) == 2
    assert len(engine._portraits) == len(engine._motion_geometry) == 0
    assert len(engine.lipsync.portraits) == 0  # type: ignore[attr-defined]
    engine.close()
    with pytest.raises(ValueError, match="MOUTHPIECE_AVATAR_CACHE"):
        _engine(replace(BASE, avatar_cache=-1))


# --- the caches themselves -----------------------------------------------------------------


def test_the_lru_drops_the_least_recently_used() -> None:
    lru: LRU[str, int] = LRU(2)
    assert lru.get_or_make("a", lambda: 1) == 1 and lru.get_or_make("b", lambda: 2) == 2
    assert lru.get_or_make("a", lambda: 99) == 1  # kept, and now the most recent
    assert lru.get_or_make("c", lambda: 3) == 3
    assert lru.held() == ["a", "c"]
    with pytest.raises(ValueError):
        LRU(-1)


def test_work_made_while_photos_are_forgotten_is_not_kept() -> None:
    """A value being made when entries are dropped may come from what was just erased: its
    caller gets it, the cache does not keep it."""
    lru: LRU[str, int] = LRU(4)

    def make() -> int:
        lru.drop(lambda key: key == "a")  # an erasure, from another thread, meanwhile
        return 1

    assert lru.get_or_make("a", make) == 1
    assert lru.held() == []
    assert lru.get_or_make("a", lambda: 2) == 2 and lru.held() == ["a"]


def _portrait(source: str | None, h: int = 120, w: int = 100) -> Portrait:
    pts = np.array([[30, 80], [50, 86], [70, 80], [50, 76]], np.float32)
    lm = FaceLandmarks(
        outer_lips=pts,
        inner_lips=pts,
        left_eye=np.array([[60, 40], [70, 40]], np.float32),
        right_eye=np.array([[30, 40], [40, 40]], np.float32),
        jaw=np.array([[20, 40], [50, 100], [80, 40]], np.float32),
        nose_tip=(50.0, 60.0),
    )
    return Portrait(np.zeros((h, w, 3), np.uint8), FaceBox(20, 20, 60, 80), lm, source=source)


def test_portrait_work_is_kept_only_for_a_named_photo_and_its_own_face() -> None:
    """No source: made every time. The same source with another image size or another face
    (a decode at another working size, a moved landmark) is other work, not the kept one."""
    work: PortraitWork[int] = PortraitWork(8)
    made: list[Portrait] = []

    def make(p: Portrait) -> int:
        made.append(p)
        return len(made)

    anonymous = _portrait(None)
    assert work.get(anonymous, make) == 1 and work.get(anonymous, make) == 2
    assert len(work) == 0

    named = _portrait("a" * 64)
    assert work.get(named, make) == 3 and work.get(_portrait("a" * 64), make) == 3
    assert work.get(_portrait("a" * 64, h=240, w=200), make) == 4
    moved = replace(named.landmarks, jaw=named.landmarks.jaw + np.float32([0, 1]))
    assert work.get(replace(named, landmarks=moved), make) == 5
    assert work.get(_portrait("b" * 64), make) == 6
    assert work.sources() == {"a" * 64, "b" * 64}
    assert work.forget(["a" * 64]) == 3 and work.sources() == {"b" * 64}
