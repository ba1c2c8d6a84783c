"""Choosing a lip-sync backend: ``auto`` takes the best usable one; doctor says which and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.backends import choose_lipsync, doctor
from engine.settings import EngineSettings


def _musetalk_files(models: Path) -> None:
    """The released layout's file names (check() looks for files; nothing is loaded)."""
    for rel in (
        "musetalk/musetalkV15/unet.pth",
        "musetalk/sd-vae/diffusion_pytorch_model.safetensors",
        "musetalk/whisper/model.safetensors",
    ):
        (models / rel).parent.mkdir(parents=True, exist_ok=True)
        (models / rel).write_bytes(b"")


def _diff2lip_file(models: Path) -> None:
    (models / "diff2lip").mkdir(parents=True, exist_ok=True)
    (models / "diff2lip" / "e7.24.1.3_model260000_paper.pt").write_bytes(b"")


def test_auto_is_the_default_and_falls_back_to_warp(tmp_path: Path) -> None:
    settings = EngineSettings(models_dir=tmp_path)
    assert settings.lipsync == "auto"
    choice = choose_lipsync(settings)
    assert choice.name == "warp"
    assert "musetalk (model files not found" in choice.reason
    assert "diff2lip (no checkpoint configured" in choice.reason


@pytest.mark.parametrize(
    ("musetalk", "diff2lip", "device", "picked"),
    [
        (True, True, "cuda", "musetalk"),  # best first
        (False, True, "cuda", "diff2lip"),
        (True, True, "cpu", "warp"),  # on a CPU, auto keeps the real-time warp
        (False, False, "cuda", "warp"),
    ],
)
def test_auto_prefers_musetalk_then_diff2lip_then_warp(
    tmp_path: Path, musetalk: bool, diff2lip: bool, device: str, picked: str
) -> None:
    pytest.importorskip("diffusers")
    if musetalk:
        _musetalk_files(tmp_path)
    if diff2lip:
        _diff2lip_file(tmp_path)
    choice = choose_lipsync(EngineSettings(models_dir=tmp_path, device=device))
    assert choice.name == picked
    if device == "cpu" and musetalk:
        assert "auto takes it only with a CUDA GPU" in choice.reason


def test_a_named_backend_is_taken_as_named(tmp_path: Path) -> None:
    choice = choose_lipsync(EngineSettings(models_dir=tmp_path, lipsync="musetalk"))
    assert (choice.name, choice.reason) == ("musetalk", "named in the settings")


def test_doctor_lists_musetalk_and_the_auto_choice(tmp_path: Path) -> None:
    rows = doctor(EngineSettings(models_dir=tmp_path, device="cpu"))
    by_name = {(r.kind, r.name): r for r in rows}
    musetalk = by_name[("lipsync", "musetalk")]
    assert not musetalk.usable and "mouthpiece models fetch musetalk" in musetalk.reason
    auto = by_name[("lipsync", "auto")]
    assert auto.usable and auto.reason == "-> warp (passed over musetalk, diff2lip: see above)"
