"""A line with buttons for a scope's moderators, sent for the bot (:func:`notify_staff`): a
review request in a server's moderators' channel, or in an operator's private chat. Its
buttons are for anyone there (:data:`bot.contract.wire.discord.ANYONE`); the bot judges
each press by the presser's authority."""

from __future__ import annotations

import logging
from typing import Any

from bot.contract.events import ButtonSpec
from bot.contract.wire.discord import ANYONE
from bot.worker.context import context
from bot.worker.delivery.http import DeliveryError

__all__ = ["notify_staff"]

log = logging.getLogger(__name__)


async def notify_staff(
    ctx: dict[str, Any], platform: str, chat_id: str, text: str, buttons: list[list[str]]
) -> None:
    """Post ``text`` with ``buttons`` (``[label, action, value]`` each) to a chat."""
    target = context(ctx).messengers.get(platform)
    if target is None:
        log.warning("no messenger for a staff notice", extra={"platform": platform})
        return
    specs = tuple(ButtonSpec(str(b[0]), str(b[1]), str(b[2])) for b in buttons if len(b) == 3)
    try:
        await target.send_status(chat_id, text, specs, user_id=ANYONE)
    except DeliveryError:
        log.warning("staff notice not delivered", extra={"platform": platform})
