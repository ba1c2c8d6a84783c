"""Living faces: the motion plan (blinks, head pose) and the stage that applies it to frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.lipsync.visemes import energy_track
from engine.media.image import load_portrait
from engine.motion import BLINKS_PER_MINUTE, MotionStage, plan_motion
from engine.motion.head import HeadWarp
from engine.types import Audio, Portrait, RenderOptions, Segment, Speech
from tests.auxil.media_fixtures import tone_speech

RATE = 16_000
FPS = 25
STILL = RenderOptions(head_motion=False, blinks=False)


def speech_of(*parts: tuple[str, float]) -> Speech:
    """Speech from ("talk" | "quiet" | "pause", seconds) parts; quiet is 14 dB below talk."""
    gain = {"talk": 1.0, "quiet": 0.2, "pause": 0.0}
    audio = np.concatenate([gain[kind] * tone_speech(sec, RATE) for kind, sec in parts])
    return Speech(audio=Audio(audio.astype(np.float32), RATE))


def frames_of(speech: Speech, extra: float = 0.0) -> int:
    return int(round((speech.audio.duration + extra) * FPS))


def spans(parts: list[tuple[str, float]], kind: str, margin: float) -> list[slice]:
    """Frame slices of every ``kind`` part, shrunk by ``margin`` seconds at both ends."""
    out, t = [], 0.0
    for k, sec in parts:
        if k == kind and sec > 2 * margin:
            out.append(slice(int((t + margin) * FPS), int((t + sec - margin) * FPS)))
        t += sec
    return out


@pytest.fixture(scope="module")
def portrait(sample_photo: Path) -> Portrait:
    return load_portrait(sample_photo)


# ---- the plan: blinks -------------------------------------------------------------------
def test_blinks_come_at_a_natural_rate_with_refractory_gaps() -> None:
    silent = Speech(audio=Audio(np.zeros(RATE * 120, np.float32), RATE))
    rates, gaps = [], []
    for seed in range(5):
        plan = plan_motion(silent, 120 * FPS, FPS, seed=seed, level=0)
        rates.append(len(plan.blink_peaks) / 2.0)
        gaps += list(np.diff(plan.blink_peaks) / FPS)
        assert all(plan.blink[p] == 1.0 for p in plan.blink_peaks)
        assert (plan.blink > 0).mean() < 0.15, "the eyes are open most of the time"
    assert 14 <= np.mean(rates) <= 20 and all(11 <= r <= 24 for r in rates), rates
    assert min(gaps) >= 1.4, "never two blinks in a row"
    assert np.std(gaps) > 0.6, "intervals jitter"
    assert abs(np.mean(rates) - BLINKS_PER_MINUTE) < 3


def test_blinks_are_deterministic_per_seed() -> None:
    speech = speech_of(("talk", 20.0))
    a = plan_motion(speech, 500, FPS, seed=7)
    b = plan_motion(speech, 500, FPS, seed=7)
    c = plan_motion(speech, 500, FPS, seed=8)
    assert a.blink_peaks == b.blink_peaks and np.array_equal(a.pose, b.pose)
    assert a.blink_peaks != c.blink_peaks and not np.array_equal(a.pose, c.pose)


def test_blinks_avoid_words_and_prefer_pauses() -> None:
    rng = np.random.default_rng(0)
    words, t = [], 0.3
    while t < 118:  # phrases of 3-7 words (short gaps), then a pause
        for _ in range(rng.integers(3, 8)):
            length = rng.uniform(0.2, 0.5)
            words.append(Segment(t, t + length, "word"))
            t += length + 0.06
        t += rng.uniform(0.4, 0.8)
    speech = Speech(audio=Audio(np.zeros(RATE * 120, np.float32), RATE), words=tuple(words))
    times = (np.arange(120 * FPS) + 0.5) / FPS
    inside = np.zeros(len(times), bool)
    for w in words:
        inside |= (times >= w.start) & (times < w.end)
    assert inside.mean() > 0.6
    in_word = []
    for seed in range(4):
        plan = plan_motion(speech, 120 * FPS, FPS, seed=seed, level=0)
        closed = plan.blink > 0.5
        in_word.append((closed & inside).sum() / closed.sum())
    assert np.mean(in_word) < 0.1, f"closed eyes fall inside words: {in_word}"


# ---- the plan: head -----------------------------------------------------------------------
PARTS = [("pause", 2.0), ("talk", 3.0), ("pause", 3.0), ("quiet", 3.0), ("pause", 2.5)]


def test_head_is_still_in_silence_and_follows_the_energy() -> None:
    speech = speech_of(*PARTS)
    plan = plan_motion(speech, frames_of(speech), FPS, seed=1, blinks=False)
    for still in spans(PARTS, "pause", margin=0.8):
        assert not plan.pose[still].any(), "the head rests in a pause"
    loud = spans(PARTS, "talk", 0.5)[0]
    quiet = spans(PARTS, "quiet", 0.5)[0]
    size = np.abs(plan.pose[:, :4]) / np.array([2.2, 0.025, 0.012, 0.01])  # peak per field
    assert size[loud].mean() > 2 * size[quiet].mean() > 0, "louder speech, livelier head"
    assert plan.pose[loud, 4].max() > 0, "nods while speaking"
    # smooth: no jumps from frame to frame (slow motion, a few hundredths of the peak)
    assert np.abs(np.diff(size, axis=0)).max() < 0.08
    assert not plan.blink.any()


def test_level_scales_the_head_and_zero_keeps_it_still() -> None:
    speech = speech_of(("talk", 3.0))
    one = plan_motion(speech, 75, FPS, seed=2, blinks=False)
    two = plan_motion(speech, 75, FPS, seed=2, blinks=False, level=2.0)
    assert np.allclose(two.pose, 2 * one.pose) and one.pose.any()
    assert plan_motion(speech, 75, FPS, seed=2, blinks=False, level=0).still
    with pytest.raises(ValueError, match="between 0 and 2"):
        plan_motion(speech, 75, FPS, level=2.5)


# ---- the stage: eyes ----------------------------------------------------------------------
def _eye_mask(portrait: Portrait) -> np.ndarray:
    import cv2

    mask = np.zeros(portrait.image.shape[:2], np.uint8)
    for eye in (portrait.landmarks.left_eye, portrait.landmarks.right_eye):
        cv2.fillPoly(mask, [np.round(eye).astype(np.int32)], (1,))
    return mask.astype(bool)


def test_eyes_close_at_the_blink_times_and_nothing_else_changes(portrait: Portrait) -> None:
    silent = Speech(audio=Audio(np.zeros(RATE * 8, np.float32), RATE))
    plan = plan_motion(silent, 200, FPS, seed=3, level=0)
    stage = MotionStage(portrait, plan)
    assert plan.blink_peaks and stage.head is None and len(stage.eyes) == 2
    image = portrait.image
    eyes = _eye_mask(portrait)
    outside = np.ones(image.shape[:2], bool)
    for lid in stage.eyes:
        x0, y0, x1, y1 = lid.box
        outside[y0:y1, x0:x1] = False
    change = []
    for i, frame in enumerate(stage(image for _ in range(plan.n_frames))):
        if plan.blink[i] == 0:
            assert frame is image, "open eyes: the backend's frame, untouched"
        assert np.array_equal(frame[outside], image[outside])
        change.append(np.abs(frame[eyes].astype(int) - image[eyes]).mean())
    change_arr = np.array(change)
    peaks = list(plan.blink_peaks)
    assert change_arr[peaks].min() > 12, "the lid covers the eye at each blink"
    assert change_arr[plan.blink == 0].max() == 0
    half = np.flatnonzero((plan.blink > 0.2) & (plan.blink < 0.6))
    assert 0 < np.median(change_arr[half]) < np.median(change_arr[peaks]), "closing is gradual"


# ---- the stage: head ----------------------------------------------------------------------
def _upper_face(p: Portrait) -> tuple[slice, slice]:
    eyes = np.concatenate([p.landmarks.left_eye, p.landmarks.right_eye])
    (x0, y0), (x1, y1) = eyes.min(axis=0), eyes.max(axis=0)
    return slice(int(y0 - 0.6 * (x1 - x0)), int(y1 + 2)), slice(int(x0), int(x1))


def test_head_moves_while_speaking_and_rests_in_pauses(portrait: Portrait) -> None:
    speech = speech_of(*PARTS)
    n = frames_of(speech)
    plan = plan_motion(speech, n, FPS, seed=4, blinks=False)
    stage = MotionStage(portrait, plan)
    image = portrait.image
    ys, xs = _upper_face(portrait)
    outs = list(stage(image for _ in range(n)))
    moved = np.array([np.abs(f[ys, xs].astype(int) - image[ys, xs]).mean() for f in outs])
    for talk in spans(PARTS, "talk", 0.5):
        assert np.median(moved[talk]) > 1.5 and (moved[talk] > 0.3).mean() > 0.9
    for pause in spans(PARTS, "pause", 0.8):
        assert all(outs[i] is image for i in range(pause.start, pause.stop)), "still in silence"
    x0, y0, x1, y1 = stage.head.box if stage.head else (0, 0, 0, 0)
    h, w = image.shape[:2]
    assert y1 < h or (x0 > 0 and x1 < w), "the warp stays off part of the shoulders"
    keep = np.ones((h, w), bool)
    keep[y0:y1, x0:x1] = False
    assert keep.sum() > 0.2 * h * w
    assert all(np.array_equal(f[keep], image[keep]) for f in outs), "background far away stays"


def _ramp(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 0.35 + y * 0.15) % 256
    g = (y * 0.3) % 256
    b = 128 + 60 * np.sin(x / 37.0) * np.cos(y / 29.0)
    return np.dstack([r, g, b]).astype(np.uint8)


def test_no_seam_and_no_black_border_at_the_falloff(portrait: Portrait) -> None:
    # a smooth test card behind the real face geometry: any seam shows as a jump in the
    # gradient; a strong pose (twice the largest the plan makes) exaggerates it
    image = _ramp(*portrait.image.shape[:2])
    card = Portrait(image=image, face=portrait.face, landmarks=portrait.landmarks)
    warp = HeadWarp(card)
    out = warp.apply(image, np.array([3.6, 0.04, -0.03, 0.02, 0.03]))
    assert not np.array_equal(out, image)
    for axis in (0, 1):
        before = np.abs(np.diff(image[..., 1].astype(int), axis=axis))
        after = np.abs(np.diff(out[..., 1].astype(int), axis=axis))
        smooth = before <= 1  # skip the card's own wrap-around edges
        assert after[smooth].max() <= 3, "a seam: neighbouring pixels jump"
    assert out.min() >= image.min(), "nothing black is pulled in"
    # where the warped box ends inside the photo, it has faded to nothing
    x0, y0, x1, y1 = warp.box
    h, w = image.shape[:2]
    rim = np.zeros((h, w), bool)
    rim[y0:y1, x0:x1] = True
    rim[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] = False
    rim[[0, -1], :] = rim[:, [0, -1]] = False
    assert rim.sum() > 100
    assert np.abs(out[rim].astype(int) - image[rim])[:, 1:].max() <= 1, "the warp fades out"


def test_frames_of_another_size_are_refused(portrait: Portrait) -> None:
    speech = speech_of(("talk", 1.0))
    stage = MotionStage(portrait, plan_motion(speech, 25, FPS))
    with pytest.raises(ValueError, match="frame 0 has shape"):
        stage.apply(np.zeros((10, 10, 3), np.uint8), 0)


def test_any_image_size(portrait: Portrait) -> None:
    import cv2

    speech = speech_of(("talk", 2.0))
    for scale in (0.5, 2.0):
        h, w = portrait.image.shape[:2]
        size = (int(w * scale) // 2 * 2, int(h * scale) // 2 * 2)
        lm = portrait.landmarks
        k = size[0] / w
        big = Portrait(
            image=cv2.resize(portrait.image, size, interpolation=cv2.INTER_AREA),
            face=type(portrait.face)(
                *(
                    int(v * k)
                    for v in (portrait.face.x, portrait.face.y, portrait.face.w, portrait.face.h)
                )
            ),
            landmarks=type(lm)(
                outer_lips=lm.outer_lips * k,
                inner_lips=lm.inner_lips * k,
                left_eye=lm.left_eye * k,
                right_eye=lm.right_eye * k,
                jaw=lm.jaw * k,
                nose_tip=(lm.nose_tip[0] * k, lm.nose_tip[1] * k),
            ),
        )
        plan = plan_motion(speech, 50, FPS, seed=6)
        stage = MotionStage(big, plan)
        out = [stage.apply(big.image, i) for i in range(50)]
        assert all(f.shape == big.image.shape and f.dtype == np.uint8 for f in out)
        assert any(not np.array_equal(f, big.image) for f in out)


def test_energy_drives_both_mouth_and_head() -> None:
    # the plan reads the same energy as the mouth track: motion and speech stay in step
    speech = speech_of(*PARTS)
    n = frames_of(speech)
    plan = plan_motion(speech, n, FPS, seed=0, blinks=False)
    energy = energy_track(speech.audio, n, FPS)
    active = np.abs(plan.pose).sum(axis=1) > 0
    assert energy[~active].max() == 0, "no speech where the head rests"
