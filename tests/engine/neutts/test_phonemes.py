"""NeuTTS phonemes exactly as upstream makes them: espeak-ng 1.52.0.1 from the neutts 1.4.1
wheel, phonemizer with neutts's options, whitespace collapsed as ``NeuTTS._to_phones`` does.

How ``UPSTREAM`` was derived (not by this project's code): in a scratch venv with phonemizer
3.4.0 and the neutts 1.4.1 wheel installed ``--no-deps``, neutts's own ``phonemizers.py`` was
loaded from the installed wheel (its ``_configure_espeak_library()`` picked the bundled
library, ``_using_bundled_espeak`` was True, ``version()`` (1, 52, 0, 1)), and each entry is
``" ".join(BasePhonemizer("en-us").phonemize([text])[0].split())``. Debian 12's espeak-ng 1.51
gives something else for 17 of these 24 (e.g. "recording" ``ɹᵻkˈoːɹdɪŋ``, "nobody else"
``nˈoʊbɑːdi ˈɛls``).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("phonemizer", reason="the neutts extra is not installed")

from engine.errors import BackendUnavailable  # noqa: E402
from engine.tts import neutts_espeak  # noqa: E402
from engine.tts.neutts_espeak import LIBRARY, Phonemizer, default_dir, extract, fetch, find  # noqa: E402

UPSTREAM = {
    "recording": "ɹᵻkˈɔːɹdɪŋ",
    "nobody": "nˈoʊbɑːdi",
    "nobody else": "nˈoʊbɑːdiʲ ˈɛls",
    "before": "bᵻfˈɔːɹ",
    "more": "mˈɔːɹ",
    "portrait": "pˈɔːɹtɹɪt",
    "video": "vˈɪdɪʲoʊ",
    "audio": "ˈɔːdɪʲˌoʊ",
    "real": "ɹˈiːʲəl",
    "create": "kɹiːʲˈeɪt",
    "abbreviations": "ɐbɹˌiːvɪʲˈeɪʃənz",
    "therefore": "ðˈɛɹfɔːɹ",
    "one": "wˌʌn",
    "orientation": "ˌɔːɹiəntˈeɪʃən",
    "variable": "vˈɛɹɪʲəbəl",
    "hello": "həlˈoʊ",
    "world": "wˈɜːld",
    "voice": "vˈɔɪs",
    "through": "θɹˈuː",
    "thought": "θˈɔːt",
    "Hello, world! Is this the recording?": "həlˈoʊ, wˈɜːld! ɪz ðɪs ðə ɹᵻkˈɔːɹdɪŋ?",
    "Nobody expected the weather to turn so quickly, yet the sailors kept their course.": (
        "nˈoʊbɑːdiʲ ɛkspˈɛktᵻd ðə wˈɛðɚ tə tˈɜːn sˌoʊ kwˈɪkli, jˈɛt ðə sˈeɪlɚz kˈɛpt ðɛɹ kˈɔːɹs."
    ),
    "This system combines state-of-the-art voice cloning with advanced lip synchronization.": (
        "ðɪs sˈɪstəm kəmbˈaɪnz stˈeɪɾʌvðɪʲˈɑːɹt vˈɔɪs klˈoʊnɪŋ wɪð ɐdvˈænst lˈɪp sˌɪŋkɹənᵻzˈeɪʃən."
    ),
    "twenty five dollars and fifty cents on March fifteenth": (
        "twˈɛnti fˈaɪv dˈɑːlɚz ænd fˈɪfti sˈɛnts ˌɔn mˈɑːɹtʃ fˈɪftiːnθ"
    ),
}


@pytest.fixture(scope="module")
def phonemize() -> Phonemizer:
    if find(default_dir()) is None:
        pytest.fail(f"no espeak-ng 1.52 in {default_dir()}: run python -m engine.tts.neutts_espeak")
    return Phonemizer()


def test_phonemes_are_upstreams(phonemize: Phonemizer) -> None:
    assert phonemize.faithful and phonemize.version == "1.52.0.1"
    got = {text: phonemize(text) for text in UPSTREAM}
    assert got == UPSTREAM


def test_the_speech_backends_espeak_can_be_loaded_beside_it(phonemize: Phonemizer) -> None:
    """The espeak backend's own (system) libespeak-ng in the same process changes nothing."""
    from engine.tts._espeak_lib import EspeakLib

    samples, _ = EspeakLib.get().synthesize("nobody else", voice="en-us")
    assert len(samples) > 0
    assert Phonemizer()("nobody else") == UPSTREAM["nobody else"]


def test_without_the_build_the_systems_espeak_is_used_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(neutts_espeak, "default_dir", lambda: tmp_path / "absent")
    with caplog.at_level(logging.WARNING, logger=neutts_espeak.__name__):
        fallback = Phonemizer()
    assert not fallback.faithful and fallback.version != "1.52.0.1"
    assert "not the 1.52.0.1 the model was trained with" in caplog.text
    if fallback.version.startswith("1.51"):  # Debian 12: a vowel the model never saw
        assert fallback("recording") == "ɹᵻkˈoːɹdɪŋ"
    with pytest.raises(BackendUnavailable, match="MOUTHPIECE_TTS_ESPEAK"):
        Phonemizer(str(tmp_path / "absent"))  # a folder named on purpose must hold the build


def _wheel(path: Path, extra: dict[str, bytes] | None = None) -> Path:
    files = {f"neutts/{LIBRARY}": b"\x7fELF", "neutts/neutts.py": b"import torch"}
    for name in ("phontab", "phondata", "phonindex", "en_dict", "lang/gmw/en-US"):
        files[f"neutts/espeak-ng-data/{name}"] = name.encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in {**files, **(extra or {})}.items():
            z.writestr(name, data)
    return path


def test_extract_takes_only_the_library_and_its_data(tmp_path: Path) -> None:
    target = tmp_path / "share" / "espeak"
    build = extract(_wheel(tmp_path / "neutts.whl"), target)
    assert build.library.read_bytes() == b"\x7fELF"
    assert (build.data / "lang" / "gmw" / "en-US").read_bytes() == b"lang/gmw/en-US"
    assert sorted(p.name for p in target.iterdir()) == sorted(["SOURCE", LIBRARY, "espeak-ng-data"])
    assert target.stat().st_mode & 0o755 == 0o755  # readable by a container's other users
    assert "GPL-3.0" in (target / "SOURCE").read_text()
    # present: nothing is downloaded again (a pip that fails would raise)
    assert fetch(target, pip=["false"]) == build


def test_extract_refuses_paths_leaving_the_target(tmp_path: Path) -> None:
    bad = _wheel(tmp_path / "bad.whl", {"neutts/espeak-ng-data/../../../evil": b"x"})
    with pytest.raises(ValueError, match="unsafe path"):
        extract(bad, tmp_path / "espeak")
    assert not (tmp_path / "espeak").exists() and not (tmp_path.parent / "evil").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.whl"]  # no staging left behind
