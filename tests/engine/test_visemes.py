import numpy as np

from engine.lipsync.visemes import energy_track, mouth_track, viseme
from engine.types import Audio, Segment
from tests.auxil.media_fixtures import tone_speech


def test_viseme_table() -> None:
    for closed in ("p", "b", "m", "b#"):
        assert viseme(closed)[0] == 0.0
    assert viseme("a")[0] > viseme("E")[0] > viseme("i")[0] > viseme("f")[0]
    assert viseme("u:")[1] < 0 < viseme("i:")[1]  # round vs spread
    assert viseme("_") == viseme("_:") == (0.0, 0.0)
    assert viseme("ɑ")[0] == 1.0 and viseme("ʊ")[1] < 0  # IPA works too


def test_energy_is_zero_in_silence_and_high_in_speech() -> None:
    rate = 16_000
    x = np.concatenate([np.zeros(rate), tone_speech(1.0, rate), np.zeros(rate)]).astype(np.float32)
    e = energy_track(Audio(x, rate), 75, 25)
    assert e[:20].max() == 0 and e[-20:].max() == 0 and e[25:50].max() > 0.8


def test_track_follows_phonemes() -> None:
    rate = 16_000
    audio = Audio(np.resize(tone_speech(0.25, rate, 150) + 0.05, rate * 2).astype(np.float32), rate)
    # "ma ma": closed lips, then an open vowel, twice
    phonemes = tuple(
        Segment(s, s + 0.25, p)
        for s, p in zip((0.0, 0.25, 0.5, 0.75), ("m", "a", "m", "a"), strict=True)
    )
    track = mouth_track(audio, phonemes, 25, 25)
    vowel = track.open[[8, 24 - 4]].mean()
    closure = track.open[[6, 13]].min()
    assert vowel > 0.3 > closure
    silent = mouth_track(Audio(np.zeros(rate, np.float32), rate), (), 25, 25)
    assert not silent.open.any() and not silent.spread.any()
