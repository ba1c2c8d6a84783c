"""`mouthpiece models fetch pocket`: every language's released files, at the commits the
pocket-tts wheel's configurations pin, land where the backend looks for them (a stand-in hub
serves them from folders per commit; tests never download)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.errors import BackendUnavailable
from engine.models import MODELS, POCKET_TOKENIZERS, POCKET_WEIGHTS, fetch, verify
from engine.settings import EngineSettings
from spoken_text.languages import LANGUAGES
from tests.engine.test_models import LocalHub


class PinnedHub(LocalHub):
    """Repositories as folders ``<root>/<repo>@<revision>``: a file fetched at the wrong
    commit is not found."""

    def download(
        self, repo: str, patterns: tuple[str, ...], target: Path, revision: str | None = None
    ) -> None:
        super().download(f"{repo}@{revision}", patterns, target)

    def published_sha256(self, repo: str, revision: str | None = None) -> dict[str, str]:
        return super().published_sha256(f"{repo}@{revision}")


def _wheel_pins() -> dict[str, tuple[str, str, str]]:
    """``repo/path`` -> (repo, path, revision) for every file the wheel's configurations of
    the supported languages name."""
    from pocket_tts.utils.config import CONFIGS_DIR

    pins = {}
    for lang in LANGUAGES.values():
        config = yaml.safe_load((CONFIGS_DIR / f"{lang.pocket}.yaml").read_text("utf-8"))
        for url in (config["weights_path"], config["flow_lm"]["lookup_table"]["tokenizer_path"]):
            where, revision = url.removeprefix("hf://").split("@")
            owner, name, path = where.split("/", 2)
            pins[where] = (f"{owner}/{name}", path, revision)
    return pins


def test_the_spec_pins_what_the_wheels_configurations_name() -> None:
    pins = _wheel_pins()
    assert len(pins) == 2 * len(LANGUAGES)
    fetched = {
        (part.repo, pattern, part.revision)
        for part in MODELS["pocket"].downloads()
        for pattern in part.patterns
    }
    assert fetched == set(pins.values())
    assert {repo for repo, _, _ in fetched} == {POCKET_WEIGHTS, POCKET_TOKENIZERS}
    spec = MODELS["pocket"]
    assert "CC-BY-4.0" in spec.licence and "consent" in spec.licence
    assert "gated" in spec.description and spec.setting == "MOUTHPIECE_TTS_POCKET"


@pytest.fixture
def hub(tmp_path: Path, pocket_root: Path) -> Path:
    """The released files of every language at their pinned commits: the tiny French model's
    files for each (their bytes do not matter to fetch), decoys at other commits."""
    root = tmp_path / "hub"
    tiny = pocket_root / "languages" / "french"
    for repo, path, revision in _wheel_pins().values():
        dest = root / f"{repo}@{revision}" / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tiny / Path(path).name, dest)
        decoy = root / f"{repo}@{'0' * 40}" / path  # the same path at another commit
        decoy.parent.mkdir(parents=True, exist_ok=True)
        decoy.write_bytes(b"wrong commit")
    return root


def test_fetch_lays_out_what_the_backend_reads(
    hub: Path, tmp_path: Path, settings: EngineSettings, voice: Any, pocket_root: Path
) -> None:
    from engine.tts.pocket import PocketBackend, languages_ready

    local = PinnedHub(hub)
    said: list[str] = []
    models_dir = tmp_path / "models"
    target = fetch("pocket", models_dir, hub=local, on_progress=said.append)
    assert target == models_dir / "pocket"
    assert len(local.calls) == 5 and all("@" in call for call in local.calls)
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    expected = [
        f"languages/{lang.pocket}/{name}"
        for lang in LANGUAGES.values()
        for name in ("model.safetensors", "tokenizer.json")
    ]
    assert files == sorted(["SHA256SUMS", *expected])
    assert sum("SHA-256 matches the hub's" in s for s in said) == len(LANGUAGES)
    assert all(row.ok and row.detail == "checksum ok" for row in verify("pocket", models_dir))

    # the backend's default folder is <models_dir>/pocket: every language is found there
    fetched = replace(settings, tts_pocket="", models_dir=models_dir, cache_dir=tmp_path / "c")
    assert languages_ready(fetched) == dict.fromkeys(LANGUAGES)
    # and speaks with it (the tiny weights need their own sizes: their config.yaml beside them)
    shutil.copyfile(
        pocket_root / "languages" / "french" / "config.yaml",
        target / "languages" / "french" / "config.yaml",
    )
    speech = PocketBackend(fetched).synthesize("Bonjour à tous.", voice, language="fr")
    assert speech.audio.duration > 0 and speech.backend == "pocket"


def test_a_gated_repository_says_how_to_get_access(tmp_path: Path) -> None:
    class GatedRepoError(Exception):
        pass

    class Gated(PinnedHub):
        def download(self, repo: str, *args: Any, **kwargs: Any) -> None:
            raise GatedRepoError("401 Client Error: access to this model is restricted")

    with pytest.raises(BackendUnavailable) as err:
        fetch("pocket", tmp_path / "models", hub=Gated(tmp_path))
    message = str(err.value)
    assert "kyutai/pocket-tts is gated" in message
    assert "https://huggingface.co/kyutai/pocket-tts" in message and "hf auth login" in message


def test_the_other_models_still_fetch_without_revisions(tmp_path: Path) -> None:
    """A hub stand-in that knows nothing of revisions serves parts that pin none."""
    repo = tmp_path / "hub" / "neuphonic" / "neucodec"
    repo.mkdir(parents=True)
    (repo / "model.safetensors").write_bytes(b"codec")
    target = fetch("neucodec", tmp_path / "models", hub=LocalHub(tmp_path / "hub"))
    assert (target / "model.safetensors").read_bytes() == b"codec"
