"""Telegram buttons on the wire: inline keyboards whose ``callback_data`` is
``<action>|<value>`` (cut at 64 characters: Telegram allows 64 bytes), one button to a row."""

from __future__ import annotations

from typing import Any

from bot.contract.events import ButtonSpec

__all__ = ["encode", "decode", "keyboard"]

CALLBACK_MAX = 64


def encode(action: str, value: str = "") -> str:
    return f"{action}|{value}"[:CALLBACK_MAX]


def decode(data: str) -> tuple[str, str]:
    """(action, value) from a button's callback data."""
    action, _, value = data.partition("|")
    return action, value


def keyboard(buttons: tuple[ButtonSpec, ...]) -> list[list[dict[str, Any]]]:
    """``inline_keyboard`` rows: one button each (an empty list removes the keyboard)."""
    return [[{"text": b.label, "callback_data": encode(b.action, b.value)}] for b in buttons]
