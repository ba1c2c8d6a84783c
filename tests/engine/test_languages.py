"""Scripts in other languages, end to end on the embedded voice: the language chosen (``--lang``,
a batch row's ``language``) or detected, spoken by espeak-ng in that language, the warp lip sync
shaped by that language's phonemes, and ``tts = auto`` routing each language to the backend
that speaks it here (``doctor`` shows the choice)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.backends import choose_tts, doctor
from engine.lipsync.visemes import viseme
from engine.media.video import probe
from engine.settings import EngineSettings
from engine.tts.espeak import EspeakBackend
from engine.tts.phonetimes import espeak_timing
from engine.types import Audio, VoiceRef
from spoken_text.languages import LANGUAGES, SUPPORTED, language, resolve
from tests.auxil.media_fixtures import tone_speech
from tests.engine.test_cli import run_cli

pytestmark = pytest.mark.slow  # tens of seconds

#: one short line a language (what a person would type), each with a letter only it has
SCRIPTS = {
    "en": "Hello, this is my voice.",
    "fr": "Bonjour, tu es très gentil.",
    "de": "Guten Tag, das ist schön.",
    "es": "Hola, mañana vamos a la playa.",
    "it": "Ciao, questa è la mia voce.",
    "pt": "Olá, esta é a minha voz.",
    "nl": "Hallo, dit is mijn stem.",
}


def test_every_supported_language_renders_through_the_cli(
    tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    """One batch (one engine load) with a row in each language, named in the manifest: every
    video made by the embedded voice, in the language asked for (`render --lang fr` runs in
    the Pocket TTS test below)."""
    manifest = tmp_path / "languages.jsonl"
    manifest.write_text(
        "\n".join(
            json.dumps({"script": SCRIPTS[c], "language": c, "output": f"{c}.mp4"})
            for c in SUPPORTED
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = ("batch", manifest, "-o", out, "--voice", sample_voice, "--photo", sample_photo)
    proc = run_cli(*args, "--json", "--no-motion")
    assert proc.returncode == 0, proc.stderr
    outcomes = json.loads(proc.stdout)
    assert [o["status"] for o in outcomes] == ["done"] * len(SUPPORTED)
    assert [o["language"] for o in outcomes] == list(SUPPORTED)
    for code in SUPPORTED:
        info = probe(out / f"{code}.mp4")
        assert info.video_codec == "h264" and info.audio_duration > 0.5, code


def test_an_unknown_language_is_one_line_and_exit_2(
    tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    proc = run_cli(
        "render", "--script", "Hallo", "--lang", "klingon", "--voice", sample_voice,
        "--photo", sample_photo, "-o", tmp_path / "x.mp4",
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "klingon" in lines[0] and "fr" in lines[0], lines
    assert not (tmp_path / "x.mp4").exists()


def _voice() -> VoiceRef:
    return VoiceRef(Audio(tone_speech(2.0, 16_000, 120.0), 16_000))


def _phonemes(code: str, script: str) -> list[str]:
    speech = EspeakBackend(EngineSettings()).synthesize(script, _voice(), language=code)
    return [p.text for p in speech.phonemes]


def test_espeak_speaks_the_chosen_language() -> None:
    """'Tu' in French has the rounded front vowel y, which English's reading lacks; German's
    'schön' has its own; the same text read as English has neither."""
    french = _phonemes("fr", "Tu es là.")
    assert "y" in french
    assert "y" not in _phonemes("en", "Tu es là.")
    assert "Y:" in _phonemes("de", "Das ist schön.")


def test_front_rounded_and_nasal_vowels_round_the_lips() -> None:
    """The warp backend's mouth for French 'tu' and 'bon' is rounded (spread < 0), not the
    spread lips English symbols would give them."""
    for symbol in ("y", "Y", "2:", "9", "O~"):
        assert viseme(symbol)[1] < 0, symbol
    assert viseme("i")[1] > 0
    assert viseme("A~")[0] > 0.5


def test_phoneme_timings_fit_the_span_of_the_audio() -> None:
    words, phonemes = espeak_timing("Bonjour, je m'appelle Marie.", "fr", 2.0, 4.5)
    assert [w.text for w in words] == ["Bonjour", "je", "m", "Marie"]
    assert words[0].start == pytest.approx(2.0, abs=0.05) and words[-1].end == pytest.approx(4.5)
    assert all(2.0 <= p.start <= p.end <= 4.5 for p in phonemes)
    assert "O~" in [p.text for p in phonemes]  # French's nasal, from the French voice
    assert espeak_timing("...", "fr", 0.0, 1.0) == ([], [])


def test_language_codes_are_checked() -> None:
    assert language("pt-BR").code == "pt" and language("FR").code == "fr"
    with pytest.raises(ValueError, match="klingon.*fr"):
        language("klingon")
    assert resolve("de", "Hello there") == "de"
    assert resolve(None, "Привет, как дела?") == "ru"  # detected, outside the supported
    assert set(SUPPORTED) == {"en", "fr", "de", "es", "it", "pt", "nl"}


def test_auto_routes_each_language_and_doctor_says_so(tmp_path: Path) -> None:
    """Without weights everything is the embedded voice, each with the reason; NeuTTS Air's
    files make English NeuTTS, but only when the voice note's words are known."""
    bare = EngineSettings(tts="auto", models_dir=tmp_path / "none", cache_dir=tmp_path / "c")
    for code in SUPPORTED:
        choice = choose_tts(bare, code)
        assert choice.name == "espeak" and "pocket" in choice.reason, choice
    assert "neutts" in choose_tts(bare, "en").reason
    assert choose_tts(bare, "ru").name == "espeak"

    backbone = tmp_path / "neutts.gguf"
    backbone.write_bytes(b"GGUF")
    (tmp_path / "codec").mkdir()
    with_neutts = EngineSettings(
        tts="auto",
        models_dir=tmp_path / "none",
        tts_backbone=str(backbone),
        tts_codec=str(tmp_path / "codec"),
    )
    assert choose_tts(with_neutts, "en").name == "neutts"
    no_words = choose_tts(with_neutts, "en", transcript=False)
    assert no_words.name == "espeak" and "voice note's words" in no_words.reason
    assert choose_tts(with_neutts, "fr").name == "espeak"
    assert choose_tts(EngineSettings(tts="neutts"), "fr").name == "neutts"  # named: obeyed

    rows = {r.name: r for r in doctor(with_neutts) if r.kind == "speech"}
    assert set(rows) == set(SUPPORTED)
    assert rows["en"].reason.startswith("English -> neutts")
    assert rows["fr"].reason.startswith("French -> espeak")


def test_the_speech_estimate_follows_the_language() -> None:
    """The same message takes about as long in each language, though French spells it longer."""
    from spoken_text import speech_seconds

    en = speech_seconds("Hello world. I am glad to meet you today.", "en")
    fr = speech_seconds("Bonjour le monde. Je suis content de vous rencontrer aujourd'hui.", "fr")
    assert fr == pytest.approx(en, rel=0.35)
    assert LANGUAGES["fr"].chars_per_second > LANGUAGES["en"].chars_per_second
    assert np.isfinite(speech_seconds("", "de"))


def test_auto_takes_pocket_where_it_has_weights_and_the_cli_renders_with_it(
    tmp_path: Path, sample_voice: Path, sample_photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tiny random-weight Pocket TTS model of the released French configuration: `render
    --lang fr` (tts auto, the default) speaks with it, German still gets the embedded voice,
    and doctor says so per language."""
    pytest.importorskip("pocket_tts")
    from tests.auxil.pocket_models import write_pocket_model

    root = tmp_path / "pocket"
    write_pocket_model(root, "fr")
    settings = EngineSettings(tts="auto", tts_pocket=str(root), models_dir=tmp_path / "none")
    assert choose_tts(settings, "fr").name == "pocket"
    german = choose_tts(settings, "de")
    assert german.name == "espeak" and "pocket" in german.reason
    rows = {r.name: r.reason for r in doctor(settings) if r.kind == "speech"}
    assert rows["fr"].startswith("French -> pocket") and rows["de"].startswith("German -> espeak")

    monkeypatch.setenv("MOUTHPIECE_TTS_POCKET", str(root))
    monkeypatch.setenv("MOUTHPIECE_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "fr.mp4"
    proc = run_cli(
        "render", "--script", SCRIPTS["fr"], "--lang", "fr", "--voice", sample_voice,
        "--photo", sample_photo, "-o", out, "--json", "--no-motion",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["tts_backend"] == "pocket" and result["language"] == "fr"
    assert probe(out).audio_codec == "aac"
    doctor_out = run_cli("doctor")
    assert doctor_out.returncode == 0
    assert any(
        line.split()[1:3] == ["speech", "fr"] and "-> pocket" in line
        for line in doctor_out.stdout.splitlines()
    ), doctor_out.stdout
