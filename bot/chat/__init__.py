"""The chat process (``python -m bot``): ``app`` wires it, ``adapters`` translate Telegram
and Discord, ``lanes`` keep each person's events in order, ``store`` is SQLite, ``queue`` the
Redis client. Submodules are imported where used (the adapters pull in the platforms'
libraries)."""

from __future__ import annotations

__all__: list[str] = []
