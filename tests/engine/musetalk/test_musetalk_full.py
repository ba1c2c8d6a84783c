"""The full-size networks through the real loading path: the released layout with random
weights of the real configurations (a 3.4 GB unet.pth, written once for this module)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from engine.lipsync.musetalk import MuseTalkBackend  # noqa: E402
from engine.settings import EngineSettings  # noqa: E402
from engine.types import RenderOptions  # noqa: E402
from tests.auxil.musetalk_models import write_layout  # noqa: E402
from tests.engine.musetalk.test_musetalk import _portrait, _speech  # noqa: E402


@pytest.mark.slow
def test_full_size_layout_loads_and_renders(tmp_path: Path) -> None:
    root = write_layout(tmp_path / "musetalk", full_size=True)
    try:
        assert (root / "musetalkV15" / "unet.pth").stat().st_size > 3.3e9
        be = MuseTalkBackend(EngineSettings(lipsync_model=str(root), device="cpu"))
    finally:
        shutil.rmtree(root)  # 3.4 GB: the weights live on in memory, not on a CI disk
    assert be.nets.unet.conv_in.weight.shape == (320, 8, 3, 3)
    assert sum(p.numel() for p in be.nets.unet.parameters()) == 849_947_844
    p = _portrait()
    frames = list(be.frames(p, _speech(0.2), n_frames=1, options=RenderOptions()))
    assert len(frames) == 1 and frames[0].shape == p.image.shape
    assert not np.array_equal(frames[0], p.image)
