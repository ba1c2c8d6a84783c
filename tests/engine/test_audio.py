"""Audio decoding of every voice-note format, cleaning, and the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import InvalidInput
from engine.media.audio import (
    cut_at_pause,
    decode_audio,
    load_voice,
    normalize_loudness,
    resample,
    save_wav,
    trim_silence,
)
from engine.types import Audio
from tests.auxil.media_fixtures import espeak_wav, tone_speech, transcode, write_wav

FORMATS = {
    "wav": (),
    "mp3": ("-c:a", "libmp3lame", "-b:a", "64k"),
    "m4a": ("-c:a", "aac", "-b:a", "64k"),
    "ogg": ("-c:a", "libopus", "-b:a", "24k"),  # Telegram / Discord voice notes
    "webm": ("-c:a", "libopus", "-b:a", "24k"),
    "flac": ("-c:a", "flac"),
}


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return espeak_wav(
        tmp_path_factory.mktemp("a") / "s.wav", "The quick brown fox jumps over the lazy dog."
    )


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_voice_note_format_decodes(fmt: str, speech: Path, tmp_path: Path) -> None:
    src = transcode(speech, tmp_path / f"v.{fmt}", *FORMATS[fmt]) if fmt != "wav" else speech
    reference = decode_audio(speech, sample_rate=16_000)
    audio = decode_audio(src, sample_rate=16_000)
    assert audio.sample_rate == 16_000 and audio.samples.dtype == np.float32
    assert audio.duration == pytest.approx(reference.duration, abs=0.1)


def test_audio_track_of_an_mp4(speech: Path, tmp_path: Path) -> None:
    mp4 = tmp_path / "v.mp4"
    from tests.auxil.media_fixtures import ffmpeg

    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=64x64:r=25",
        "-i",
        str(speech),
        "-shortest",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        str(mp4),
    )
    assert decode_audio(mp4, sample_rate=16_000).duration > 1.5


def test_stereo_becomes_mono(tmp_path: Path) -> None:
    stereo = np.stack([tone_speech(1.0), tone_speech(1.0)], axis=1)
    path = write_wav(tmp_path / "st.wav", stereo, 16_000)
    assert decode_audio(path, sample_rate=8_000).samples.ndim == 1


@pytest.mark.parametrize("case", ["text", "png", "empty", "garbage-ogg"])
def test_unreadable_files_are_refused(case: str, tmp_path: Path) -> None:
    path = tmp_path / "voice.ogg"
    if case == "text":
        path.write_text("hello, I am not audio")
    elif case == "png":
        from PIL import Image

        Image.new("RGB", (10, 10)).save(tmp_path / "x.png")
        path = tmp_path / "x.png"
    elif case == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"OggS" + bytes(500))
    with pytest.raises(InvalidInput) as e:
        decode_audio(path, sample_rate=16_000)
    assert e.value.field == "voice" and "\n" not in e.value.reason


def test_silence_is_refused(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "quiet.wav", np.zeros(48_000, np.float32), 16_000)
    with pytest.raises(InvalidInput, match="silent"):
        load_voice(path)


def test_too_little_speech_is_refused(tmp_path: Path) -> None:
    samples = np.concatenate([np.zeros(16_000), tone_speech(0.3), np.zeros(16_000)]).astype(
        np.float32
    )
    path = write_wav(tmp_path / "short.wav", samples, 16_000)
    with pytest.raises(InvalidInput, match="at least"):
        load_voice(path, min_seconds=1.0)


def test_long_reference_is_cut_at_a_pause(tmp_path: Path) -> None:
    rate = 16_000
    parts = []
    for _ in range(7):  # 7 x (2.5 s speech + 0.5 s pause) = 21 s
        parts += [tone_speech(2.5, rate), np.zeros(rate // 2, np.float32)]
    path = write_wav(tmp_path / "long.wav", np.concatenate(parts), rate)
    voice = load_voice(path, max_seconds=15.0)
    assert 10.0 < voice.audio.duration <= 15.0
    tail = voice.audio.samples[-int(0.05 * rate) :]
    assert np.sqrt(np.mean(tail**2)) < 0.01, "the cut should land in a pause"


def test_trim_and_normalise(tmp_path: Path) -> None:
    rate = 16_000
    x = np.concatenate([np.zeros(rate), 0.01 * tone_speech(2.0, rate), np.zeros(rate)]).astype(
        np.float32
    )
    trimmed = trim_silence(Audio(x, rate))
    assert trimmed.duration < 2.5
    louder = normalize_loudness(trimmed, target_dbfs=-20)
    assert np.max(np.abs(louder.samples)) > 10 * np.max(np.abs(trimmed.samples))
    assert np.max(np.abs(louder.samples)) <= 10 ** (-1 / 20) + 1e-6
    silent = Audio(np.zeros(rate, np.float32), rate)
    assert np.array_equal(normalize_loudness(silent).samples, silent.samples)


def test_resample_and_cut_keep_shape() -> None:
    a = Audio(tone_speech(1.0, 16_000), 16_000)
    assert resample(a, 24_000).samples.shape == (24_000,)
    assert cut_at_pause(a, 5.0) is a


def test_save_wav_is_atomic_and_readable(tmp_path: Path) -> None:
    a = Audio(tone_speech(0.5), 16_000)
    out = save_wav(a, tmp_path / "x.wav")
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]
    assert decode_audio(out, sample_rate=16_000).duration == pytest.approx(0.5, abs=0.01)
