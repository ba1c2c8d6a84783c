"""Lip-sync backends: ``warp`` (embedded CPU), ``musetalk`` (one latent pass a frame) and
``diff2lip`` (diffusion); ``engine.backends.choose_lipsync`` picks one for ``auto``."""

from engine.lipsync.base import LipSyncBackend

__all__ = ["LipSyncBackend"]
