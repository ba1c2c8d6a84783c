"""Living faces through Engine.render for every lip-sync backend (warp, and Diff2Lip with its tiny
random network): MP4s decoded and measured, and the backend's frames checked against the stage.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from engine import Engine, EngineSettings, RenderOptions, RenderRequest
from engine.lipsync.visemes import energy_track
from engine.media import video
from engine.media.image import load_portrait
from engine.motion import MotionPlan, MotionStage, plan_motion
from engine.motion.head import HeadWarp, pose_matrix
from engine.types import Audio, CancelCheck, Portrait, Speech, VoiceRef
from tests.auxil.media_fixtures import tone_speech

RATE = 16_000
FPS = 25
# the speech: pause, talk, pause; the render adds 0.4 s of silent tail
PARTS = [("pause", 1.6), ("talk", 1.2), ("pause", 1.6)]
BASE = RenderOptions(label=None, lipsync_steps=1)
NEAR_LOSSLESS = video.VideoQuality(crf=4, tune=None)


class ToneVoice:
    """A speech backend that says the same syllable buzz whatever the script, so the test
    knows the speech the engine animated."""

    name = "tone"
    needs_transcript = False
    speech = Speech(
        audio=Audio(
            np.concatenate([tone_speech(s, RATE) * (k == "talk") for k, s in PARTS]).astype(
                np.float32
            ),
            RATE,
        )
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


def spans(kind: str, margin: float) -> list[slice]:
    out, t = [], 0.0
    for k, sec in PARTS:
        if k == kind:
            out.append(slice(int((t + margin) * FPS), int((t + sec - margin) * FPS)))
        t += sec
    return out


def decode(path: Path, size: tuple[int, int]) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
    ).stdout
    w, h = size
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def eye_mask(p: Portrait) -> np.ndarray:
    import cv2

    mask = np.zeros(p.image.shape[:2], np.uint8)
    for eye in (p.landmarks.left_eye, p.landmarks.right_eye):
        cv2.fillPoly(mask, [np.round(eye).astype(np.int32)], (1,))
    return mask.astype(bool)


class Renders:
    """One engine per backend; renders the tone speech and decodes the MP4."""

    def __init__(self, engine: Engine, tmp: Path, photo: Path, voice: Path) -> None:
        self.engine, self.tmp, self.photo, self.voice = engine, tmp, photo, voice
        self.portrait = load_portrait(photo)

    def __call__(self, name: str, **opts: object) -> np.ndarray:
        options = replace(BASE, **opts)  # type: ignore[arg-type]
        request = RenderRequest(
            script="Hello.",
            voice=self.voice,
            photo=self.photo,
            output=self.tmp / f"{name}.mp4",
            options=options,
        )
        # Near-lossless: two renders are compared pixel by pixel, and at the product's CRF the
        # encoder's choices for still blocks depend on what moves elsewhere in the picture.
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(video, "VideoWriter", partial(video.VideoWriter, quality=NEAR_LOSSLESS))
            result = self.engine.render(request)
        assert "motion" in result.stage_seconds
        return decode(result.output, self.portrait.size)


@pytest.fixture(scope="module", params=["warp", pytest.param("diff2lip", marks=pytest.mark.slow)])
def renders(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sample_photo: Path,
    sample_voice: Path,
) -> Renders:
    settings = EngineSettings(watermark=False)
    if request.param == "diff2lip":
        pytest.importorskip("torch")
        from tests.auxil.diff2lip_models import write_random_checkpoint

        ckpt = write_random_checkpoint(tmp_path_factory.mktemp("d2l") / "tiny.pt", full_size=False)
        settings = replace(
            settings,
            lipsync="diff2lip",
            lipsync_model=str(ckpt),
            lipsync_config="tiny",
            lipsync_batch=8,  # faster per frame than 1 on this tiny network
            device="cpu",
        )
    engine = Engine(settings, tts=ToneVoice())  # type: ignore[arg-type]
    return Renders(engine, tmp_path_factory.mktemp(request.param), sample_photo, sample_voice)


SEED = 1  # this plan blinks once while the head moves (frame 44) and once in the tail (99)


@pytest.fixture(scope="module")
def videos(renders: Renders) -> tuple[np.ndarray, np.ndarray]:
    """(frames as rendered by default: blinks and head motion, frames without any motion)."""
    return renders("lively", seed=SEED), renders("still", blinks=False, head_motion=False)


@pytest.fixture(scope="module")
def plan(videos: tuple[np.ndarray, np.ndarray]) -> MotionPlan:
    """The engine's plan for the lively render, made again from the same speech and seed."""
    return plan_motion(ToneVoice.speech, len(videos[0]), FPS, seed=SEED)


def forehead(p: Portrait) -> tuple[slice, slice]:
    """Above the eyelids: no lip-sync backend and no blink draws there."""
    eyes = np.concatenate([p.landmarks.left_eye, p.landmarks.right_eye])
    (x0, y0), (x1, _) = eyes.min(axis=0), eyes.max(axis=0)
    lids = min(lid.box[1] for lid in MotionStage(p, plan_motion(ToneVoice.speech, 100, FPS)).eyes)
    return slice(int(y0 - 0.6 * (x1 - x0)), lids - 1), slice(int(x0), int(x1))


def undo_pose(frame: np.ndarray, warp: HeadWarp, pose: np.ndarray) -> np.ndarray:
    import cv2

    h, w = frame.shape[:2]
    back = cv2.invertAffineTransform(pose_matrix(pose, warp.pivot, warp.unit))
    return cv2.warpAffine(
        frame, back, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def moved(frame: np.ndarray, warp: HeadWarp, pose: np.ndarray) -> np.ndarray:
    import cv2

    h, w = frame.shape[:2]
    m = pose_matrix(pose, warp.pivot, warp.unit)
    return cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def test_the_head_moves_while_speaking_and_rests_in_silence(
    renders: Renders, videos: tuple[np.ndarray, np.ndarray], plan: MotionPlan
) -> None:
    lively, still = videos
    assert lively.shape == still.shape
    ys, xs = forehead(renders.portrait)

    def steps(frames: np.ndarray) -> np.ndarray:  # change from each frame to the next
        region = frames[:, ys, xs].astype(np.int16)
        return np.abs(np.diff(region, axis=0)).mean(axis=(1, 2, 3))

    m, s = steps(lively), steps(still)
    talk = spans("talk", 0.2)[0]
    assert m[talk].mean() > 0.25 and m[talk].mean() > 4 * s[talk].mean() + 0.1
    apart = np.abs(lively[:, ys, xs].astype(int) - still[:, ys, xs]).mean(axis=(1, 2, 3))
    assert apart[talk].mean() > 1.5
    at_rest = np.flatnonzero(~plan.pose.any(axis=1))
    lead, tail = at_rest[at_rest < talk.start], at_rest[at_rest > talk.stop]
    assert len(lead) > 15 and len(tail) > 15, "the plan rests in the silences"
    for quiet in (lead, tail):
        # H.264 keeps static blocks as they were, so a frame can carry a little of the last
        # motion, and a blink re-encodes blocks near the eyes: judge by the typical frame
        steps_at_rest = m[quiet[:-1]]
        assert np.median(steps_at_rest) < 0.05 and (steps_at_rest > 0.5).mean() < 0.1, "still"
        assert np.median(apart[quiet]) < 1.0


def test_the_background_far_from_the_head_stays(videos: tuple[np.ndarray, np.ndarray]) -> None:
    lively, still = videos
    # the shoulders (bottom corners) and the backdrop beside the head (top corners)
    for ys in (slice(None, 64), slice(-64, None)):
        for xs in (slice(None, 64), slice(-64, None)):
            diff = np.abs(lively[:, ys, xs].astype(int) - still[:, ys, xs]).mean(axis=(1, 2, 3))
            assert diff.max() < 1.0, f"the corner {ys}, {xs} moved"


def test_the_eyes_blink_at_the_planned_times(
    renders: Renders, videos: tuple[np.ndarray, np.ndarray], plan: MotionPlan
) -> None:
    """The lively frame's eyes against the motion-free frame moved by the same head pose:
    apart only while a blink closes them."""
    lively, still = videos
    portrait = renders.portrait
    warp = MotionStage(portrait, plan).head
    assert warp is not None and plan.blink_peaks == (44, 99)
    mask = eye_mask(portrait)
    change = np.array(
        [
            np.abs(f[mask].astype(int) - moved(s, warp, plan.pose[i])[mask]).mean()
            for i, (f, s) in enumerate(zip(lively, still, strict=True))
        ]
    )
    open_ = np.median(change[plan.blink == 0])  # H.264's own error on a small, detailed patch
    assert change[list(plan.blink_peaks)].min() > max(10, 4 * open_), "closed at each blink"
    assert open_ < 6, "open otherwise"


def test_the_mouth_rides_rigidly_with_the_head(renders: Renders) -> None:
    """Every moving frame's lip-synced mouth is the backend's mouth moved by the head's pose."""
    portrait, n = renders.portrait, 12
    speech = Speech(audio=Audio(tone_speech(1.0, RATE), RATE))
    frames = renders.engine.lipsync.frames(portrait, speech, n_frames=n, options=BASE)
    plan = plan_motion(speech, n, FPS, seed=5, blinks=False, level=2.0)
    stage = MotionStage(portrait, plan)
    warp = stage.head
    assert isinstance(warp, HeadWarp)
    cx, cy = portrait.landmarks.mouth_center
    mw = portrait.landmarks.mouth_width
    ys = slice(int(cy - 0.5 * mw), int(cy + 0.7 * mw))
    xs = slice(int(cx - 0.7 * mw), int(cx + 0.7 * mw))
    moving = 0
    for i, frame in enumerate(frames):
        out = stage.apply(frame, i)
        if out is frame:
            continue
        moving += 1
        expected = moved(frame, warp, plan.pose[i])
        diff = np.abs(out[ys, xs].astype(int) - expected[ys, xs])
        assert diff.mean() < 0.3 and np.percentile(diff, 99.9) <= 3, f"frame {i}: mouth not rigid"
        assert np.abs(out[ys, xs].astype(int) - frame[ys, xs]).mean() > 0.5, "the mouth moved"
    assert moving == n


@pytest.mark.parametrize("renders", ["warp"], indirect=True)
def test_lip_sync_survives_head_motion(
    renders: Renders, videos: tuple[np.ndarray, np.ndarray], plan: MotionPlan
) -> None:
    """Mouth openness, measured after undoing each frame's known head pose, follows the speech
    energy as closely as without motion (the warp's mouth follows the energy; Diff2Lip's tiny
    random network draws no meaningful mouth: its frames are checked for rigidity above)."""
    lively, still = videos
    portrait, n = renders.portrait, len(lively)
    warp = MotionStage(portrait, plan).head
    assert warp is not None
    cx, cy = portrait.landmarks.mouth_center
    mw = portrait.landmarks.mouth_width
    ys = slice(int(cy - 0.3 * mw), int(cy + 0.5 * mw))
    xs = slice(int(cx - 0.5 * mw), int(cx + 0.5 * mw))
    rest = portrait.image[ys, xs].astype(int)
    talk = spans("talk", 0.0)[0]
    energy = energy_track(ToneVoice.speech.audio, n, FPS)[talk]
    open_still = [np.abs(f[ys, xs] - rest).mean() for f in still[talk]]
    open_moving = [
        np.abs(undo_pose(f, warp, plan.pose[i])[ys, xs] - rest).mean()
        for i, f in zip(range(talk.start, talk.stop), lively[talk], strict=True)
    ]
    r_still = np.corrcoef(open_still, energy)[0, 1]
    r_moving = np.corrcoef(open_moving, energy)[0, 1]
    assert r_still > 0.5
    assert r_moving > r_still - 0.1, (r_moving, r_still)


def test_motion_off_leaves_the_backends_frames_untouched(renders: Renders) -> None:
    """Off by option or by setting: no stage at all, the backend's frames go to the encoder."""
    speech, portrait = ToneVoice.speech, renders.portrait
    off = replace(BASE, blinks=False, head_motion=False)
    assert renders.engine._motion(portrait, speech, 120, off) is None
    assert renders.engine._motion(portrait, speech, 120, BASE) is not None
    settings = replace(renders.engine.settings, head_motion=0.0, blinks=False)
    quiet = Engine(settings, tts=ToneVoice(), lipsync=renders.engine.lipsync)  # type: ignore[arg-type]
    assert quiet._motion(portrait, speech, 120, BASE) is None
    with pytest.raises(ValueError, match="MOUTHPIECE_HEAD_MOTION"):
        Engine(replace(settings, head_motion=2.5), tts=ToneVoice(), lipsync=renders.engine.lipsync)  # type: ignore[arg-type]
