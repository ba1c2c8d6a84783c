"""Lip-sync backends: ``warp`` (embedded CPU default) and ``diff2lip`` (diffusion)."""

from engine.lipsync.base import LipSyncBackend

__all__ = ["LipSyncBackend"]
