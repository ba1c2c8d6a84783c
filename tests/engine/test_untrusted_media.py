"""Uploads are hostile: playlists, manifests and lists posing as voice notes must not make
ffmpeg read other files; ffmpeg runs are killed at their timeout; only photo formats a
phone sends are decoded, and no photo file over 30 MB is.

Each crafted file sits next to a "secret" recording of a distinctive 1234 Hz tone (another
user's upload, a rendered video). Plain ffmpeg on this machine follows several of them to the
secret, which shows the attack is real here; the engine refuses every one with the usual
one-line reason, so no audio of the secret ever comes back.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from engine import Engine, EngineSettings
from engine.errors import InvalidInput
from engine.jail import Jail, Jailed, JailRefusal
from engine.media.audio import decode_audio
from engine.media.ffmpeg import ToolTimeout, probe_upload, run_tool, untrusted_input
from engine.media.image import MAX_PHOTO_BYTES, load_photo
from engine.verify import verify
from tests.auxil.media_fixtures import astronaut, ffmpeg, lying_wav

TONE = 1234.0
RATE = 16_000


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the secret tone as OGG, M4A and MP4 (common extensions: ffmpeg's own
    extension checks let them through)."""
    folder = tmp_path_factory.mktemp("uploads")
    src = folder / "secret.wav"
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency={TONE:g}:duration=3", "-ar", "16000", str(src))
    ffmpeg("-i", str(src), "-c:a", "libopus", str(folder / "secret.ogg"))
    ffmpeg("-i", str(src), "-c:a", "aac", str(folder / "secret.m4a"))
    src.unlink()
    return folder


def _hls_relative(d: Path) -> str:
    return "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\nsecret.ogg\n#EXT-X-ENDLIST\n"


def _hls_file_url(d: Path) -> str:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\nfile://{d}/secret.ogg\n#EXT-X-ENDLIST\n"


def _dash(d: Path) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'mediaPresentationDuration="PT3S" minBufferTime="PT1S" '
        'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">\n'
        f"  <BaseURL>file://{d}/</BaseURL>\n"
        '  <Period duration="PT3S"><AdaptationSet mimeType="audio/mp4">'
        '<Representation id="a" bandwidth="64000"><BaseURL>secret.m4a</BaseURL>'
        "</Representation></AdaptationSet></Period>\n</MPD>\n"
    )


def _ffconcat_relative(d: Path) -> str:
    return "ffconcat version 1.0\nfile secret.ogg\n"


def _ffconcat_absolute(d: Path) -> str:
    return f"ffconcat version 1.0\nfile {d}/secret.ogg\n"


def _sdp(d: Path) -> str:  # an RTP stream: ffmpeg would listen on the network
    return (
        "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=voice\nc=IN IP4 127.0.0.1\nt=0 0\n"
        "m=audio 5004 RTP/AVP 96\na=rtpmap:96 opus/48000/2\n"
    )


def _file_urls(d: Path) -> str:
    return f"file:{d}/secret.ogg\nfile://{d}/secret.m4a\n"


CRAFTED: dict[str, Callable[[Path], str]] = {
    "hls-relative": _hls_relative,
    "hls-file-url": _hls_file_url,
    "dash-file-baseurl": _dash,
    "ffconcat-relative": _ffconcat_relative,
    "ffconcat-absolute": _ffconcat_absolute,
    "sdp": _sdp,
    "text-with-file-urls": _file_urls,
}


def _plain_ffmpeg_reads(path: Path) -> bool:
    """Whether ffmpeg without our options decodes audio from ``path`` (within 10 s)."""
    try:
        done = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "quiet", "-i", str(path), "-t", "1", "-f", "f32le", "-"],
            capture_output=True,
            timeout=10,
            cwd=path.parent,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and len(done.stdout) > 0


@pytest.mark.parametrize("name", sorted(CRAFTED))
@pytest.mark.parametrize("suffix", [".ogg", ".audio"])  # a Telegram voice name; the worker's
def test_crafted_voice_notes_are_refused(name: str, suffix: str, secrets: Path) -> None:
    path = secrets / f"{name}{suffix}"
    path.write_text(CRAFTED[name](secrets))
    with pytest.raises(InvalidInput) as e:
        decode_audio(path, sample_rate=RATE)
    assert e.value.field == "voice" and "\n" not in e.value.reason
    assert e.value.reason.startswith("The voice note could not be read as audio")
    assert probe_upload(path) is None


def test_the_attack_is_real_here(secrets: Path) -> None:
    """Plain ffmpeg follows the playlists to the secret: the refusals above are what stops it."""
    followed = []
    for name in ("hls-relative", "dash-file-baseurl", "ffconcat-relative"):
        path = secrets / f"real-{name}.ogg"
        path.write_text(CRAFTED[name](secrets))
        followed.append(_plain_ffmpeg_reads(path))
    if not any(followed):
        pytest.skip("this ffmpeg build refuses the playlists on its own")
    assert any(followed)


def test_image2_sequence_pattern_is_refused(secrets: Path, tmp_path: Path) -> None:
    """A name with a %d pattern would make ffmpeg's image2 demuxer read frame1.png, ..."""
    for i in range(1, 4):
        Image.new("RGB", (64, 64), (i * 60, 0, 0)).save(tmp_path / f"frame{i}.png")
    pattern = tmp_path / "frame%d.png"
    Image.new("RGB", (64, 64)).save(pattern, format="PNG")
    with pytest.raises(InvalidInput, match="could not be read as audio"):
        decode_audio(pattern, sample_rate=RATE)


def test_real_voice_notes_still_decode(secrets: Path) -> None:
    """The whitelists let the formats a voice note comes in through (every format is
    covered in test_audio.py); here: the secret itself, read directly, is the tone."""
    audio = decode_audio(secrets / "secret.m4a", sample_rate=RATE)
    spectrum = np.abs(np.fft.rfft(audio.samples))
    peak = np.fft.rfftfreq(len(audio.samples), 1 / RATE)[int(np.argmax(spectrum))]
    assert abs(peak - TONE) < 5
    info = probe_upload(secrets / "secret.ogg")
    assert info is not None and info.has_audio and info.format_name == "ogg"


def test_the_video_track_of_an_upload_is_never_decoded(tmp_path: Path) -> None:
    """Only audio decoders may open: an MP4's H.264 track stays shut, its audio decodes."""
    mp4 = tmp_path / "note.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=s=64x64:r=25:d=2",
        "-f", "lavfi", "-i", f"sine=frequency={TONE:g}:duration=2",
        "-shortest", "-c:v", "libx264", "-c:a", "aac", str(mp4),
    )  # fmt: skip
    cmd = ["ffmpeg", "-nostdin", "-v", "error", *untrusted_input(mp4), "-f", "null", "-"]
    done = run_tool(cmd, timeout=30)
    assert b"h264" in done.stderr and b"not on whitelist" in done.stderr
    assert decode_audio(mp4, sample_rate=RATE).duration > 1.5


def test_verify_reads_only_allowed_containers(secrets: Path) -> None:
    path = secrets / "verify-me.mp4"
    path.write_text(_dash(secrets))
    with pytest.raises(InvalidInput, match="not a media file"):
        verify(path)


def test_a_hung_ffmpeg_is_killed_with_its_process_group(tmp_path: Path) -> None:
    """run_tool's timeout kills the tool and anything it started."""
    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    started = time.monotonic()
    with pytest.raises(ToolTimeout):
        run_tool(["sh", "-c", script], timeout=1.0)
    assert time.monotonic() - started < 10
    child = int(pidfile.read_text())
    # SIGKILL is delivered at once but the kernel tears a process down a moment later (and
    # init reaps it later still): wait, bounded, for it to be gone rather than look once
    deadline = time.monotonic() + 5.0
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child), "the tool's child survived the timeout"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie waiting for init to reap it is dead


def test_a_decode_past_its_timeout_is_a_one_line_refusal(secrets: Path) -> None:
    with pytest.raises(InvalidInput) as e:
        decode_audio(secrets / "secret.ogg", sample_rate=RATE, timeout=0.001)
    assert "took too long" in e.value.reason and "\n" not in e.value.reason


def test_a_fifo_voice_note_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "voice.ogg"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInput):
        decode_audio(fifo, sample_rate=RATE, timeout=2.0)


@pytest.mark.parametrize("fmt", ["TIFF", "ICO", "TGA", "PPM", "PCX", "SGI"])
def test_photo_formats_outside_the_list_are_refused(fmt: str, tmp_path: Path) -> None:
    """Pillow reads these (it would turn them into a photo), but no phone sends them and
    each plugin is attack surface: the engine refuses before decoding."""
    path = tmp_path / f"photo.{fmt.lower()}"
    Image.fromarray(astronaut()[::2, ::2]).save(path, format=fmt)
    with Image.open(path) as im:  # Pillow alone accepts it
        assert im.format == fmt
    with pytest.raises(InvalidInput) as e:
        load_photo(path)
    assert e.value.field == "photo" and "JPEG, PNG or WebP" in e.value.reason


def test_render_with_a_crafted_voice_note_exits_2_and_uses_no_other_file(
    secrets: Path, sample_photo: Path, tmp_path: Path
) -> None:
    """The whole CLI: a DASH manifest as the voice fails with one line, no video is made."""
    voice = secrets / "cli-voice.m4a"
    voice.write_text(_dash(secrets))
    out = tmp_path / "out.mp4"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "render",
            "--script",
            "Hello.",
            "--voice",
            str(voice),
            "--photo",
            str(sample_photo),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: The voice note could not be read")
    assert not out.exists()


# ---- refused by structure, before spending ------------------------------------------------
def test_a_wav_declaring_250_mhz_is_refused_from_its_header(tmp_path: Path) -> None:
    """4 KB whose header says 250,000,007 samples a second: ffmpeg's resampler once spent
    2 GB and 11 s on it before failing. Now the header is read first and the file refused."""
    bomb = lying_wav(tmp_path / "voice.wav", rate=250_000_007, channels=1)
    started = time.monotonic()
    with pytest.raises(InvalidInput) as e:
        decode_audio(bomb, sample_rate=RATE)
    assert "250,000,007 samples a second" in e.value.reason and "\n" not in e.value.reason
    assert time.monotonic() - started < 5


def test_a_voice_note_claiming_255_channels_is_refused(tmp_path: Path) -> None:
    bomb = lying_wav(tmp_path / "voice.wav", rate=RATE, channels=255, data_bytes=255 * 200)
    with pytest.raises(InvalidInput) as e:
        decode_audio(bomb, sample_rate=RATE)
    assert "255 channels" in e.value.reason


def test_ffmpeg_itself_is_held_to_a_bounded_allocation(tmp_path: Path) -> None:
    """Behind the header check, ffmpeg runs with -max_alloc: even the 250 MHz WAV decoded
    anyway (the check switched off) fails fast and small. Peak memory of the decoding
    process tree, measured from outside it (a fresh interpreter's children)."""
    bomb = lying_wav(tmp_path / "voice.wav", rate=250_000_007, channels=1)
    code = (
        "import resource, sys, time\n"
        "from pathlib import Path\n"
        "import engine.media.audio as audio\n"
        "from engine.errors import InvalidInput\n"
        "audio._check_stream = lambda path, timeout: None\n"
        "t = time.monotonic()\n"
        "try:\n"
        f"    audio.decode_audio(Path({str(bomb)!r}), sample_rate={RATE})\n"
        "except InvalidInput:\n"
        "    pass\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(f'{peak:.0f} {time.monotonic() - t:.2f}')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    peak_mb, seconds = (float(x) for x in out.stdout.split())
    assert peak_mb < 400 and seconds < 10, (peak_mb, seconds)


def test_a_jpeg_of_thousands_of_scans_is_refused_before_decoding(tmp_path: Path) -> None:
    """A progressive JPEG whose last scan is repeated 3,000 times: every scan is a pass over
    the image. Counted from the markers and refused before Pillow decodes a pixel."""
    import io

    buf = io.BytesIO()
    Image.fromarray(astronaut()[::4, ::4]).save(buf, format="JPEG", progressive=True)
    data = buf.getvalue()
    assert 1 < data.count(b"\xff\xda") < 100  # an ordinary progressive photo passes
    last_scan = data[data.rindex(b"\xff\xda") : -2]  # up to the end-of-image marker
    bomb = tmp_path / "photo.jpg"
    bomb.write_bytes(data[:-2] + last_scan * 3000 + b"\xff\xd9")
    started = time.monotonic()
    with pytest.raises(InvalidInput) as e:
        load_photo(bomb)
    assert "scans" in e.value.reason and "\n" not in e.value.reason
    assert time.monotonic() - started < 5
    assert load_photo(data).shape[2] == 3  # the photo itself still loads


@pytest.mark.parametrize("kind", ["png16", "gif"])
def test_a_16_megapixel_photo_of_a_few_kb_is_shrunk_before_any_full_size_copy(
    kind: str, tmp_path: Path
) -> None:
    """A blank 16-megapixel 16-bit PNG or GIF (the most a format decoded whole may have)
    passes the pixel cap; it is shrunk right after decoding, so orientation, palette and
    16-bit conversions work on the small image: peak memory of a fresh interpreter loading it,
    measured from outside (at 40 MP, before these bounds, they took 844-1,111 MB)."""
    photo = tmp_path / ("photo.png" if kind == "png16" else "photo.gif")
    mode = "I;16" if kind == "png16" else "P"
    Image.new(mode, (5000, 3200), 0).save(photo)
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from engine.media.image import load_photo\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"shape = load_photo(Path({str(photo)!r})).shape\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(shape[1], (peak - base) / 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    width, grew_mb = out.stdout.split()
    assert int(width) == 1024
    assert float(grew_mb) < 150, f"{kind}: {grew_mb} MB"


# ---- the photo file's size, before any decode ----------------------------------------------
def _portrait_of(path: Path, size: int) -> Path:
    """An ordinary portrait JPEG (a face the detector finds), zeros after its end-of-image
    marker up to exactly ``size`` bytes: a decoder stops at the marker, so only the file's
    size differs from the photo's."""
    import io

    buf = io.BytesIO()
    Image.fromarray(astronaut()).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    path.write_bytes(data + bytes(size - len(data)))
    return path


_OVER_30_MB = "The photo is 30 MB; the limit is 30 MB: send an ordinary photo."


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    built = Engine(EngineSettings())
    yield built
    built.close()


@pytest.mark.parametrize("past", [1, 0, -1], ids=["over", "at", "under"])
def test_a_photo_file_over_30_mb_is_refused_for_its_size_before_any_decode(
    past: int, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``MAX_PHOTO_BYTES`` (30 MB) is checked on the file's size, before it is hashed or
    decoded (in the jail or here): one byte over is refused with its one line; at the cap or
    a byte under, the same photo is decoded and its face found."""
    photo = _portrait_of(tmp_path / "photo.jpg", MAX_PHOTO_BYTES + past)
    jail = engine.intake_jail
    assert jail is not None
    decodes: list[str] = []
    real = jail.run

    def run(op: str, *args: Any, **kwargs: Any) -> Any:
        decodes.append(op)
        return real(op, *args, **kwargs)

    def in_this_process(*_: object, **__: object) -> None:
        raise AssertionError("the photo was decoded in the engine's own process")

    monkeypatch.setattr(jail, "run", run)
    monkeypatch.setattr("PIL.Image.open", in_this_process)
    if past > 0:
        with pytest.raises(InvalidInput) as e:
            engine.inspect_photo(photo)
        assert e.value.field == "photo" and e.value.reason == _OVER_30_MB
        assert decodes == [], "decoded before its size was checked"
    else:
        intake = engine.inspect_photo(photo)
        assert (
            decodes == ["photo"] and intake.digest == hashlib.sha256(photo.read_bytes()).hexdigest()
        )


@pytest.mark.parametrize("past", [1, 0], ids=["over", "at"])
def test_the_jail_refuses_a_photo_file_over_30_mb_before_reading_it(
    past: int, tmp_path: Path
) -> None:
    """The jail checks the size itself, before it reads the file (a second line, for any
    caller of ``Jail.photo``): the photo over the cap is refused for its size although it
    would decode; at the cap it decodes."""
    photo = _portrait_of(tmp_path / "photo.jpg", MAX_PHOTO_BYTES + past)
    jail = Jail()

    def decode() -> Jailed:
        return jail.photo(
            photo,
            find_face=False,
            max_pixels=40_000_000,
            working_size=1024,
            max_bytes=MAX_PHOTO_BYTES,
        )

    if past > 0:
        with pytest.raises(JailRefusal) as e:
            decode()
        assert e.value.field == "photo" and e.value.reason == _OVER_30_MB
    else:
        jailed = decode()
        assert jailed.array is not None and jailed.array.shape == (512, 512, 3)
