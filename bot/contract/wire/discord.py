"""Discord buttons on the wire: the custom id ``mp:<user id>:<action>:<value>``, the button
style, and how many buttons fit (five to a row, 25 to a message).

The user id in the custom id is what makes a button answer only the person it was made for
(the adapter checks it) and what lets it work after a restart: nothing is remembered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.contract import texts
from bot.contract.events import ButtonSpec

__all__ = [
    "TEMPLATE",
    "Press",
    "encode",
    "decode",
    "style",
    "shown",
    "components",
    "PRIMARY",
    "DANGER",
    "TRANSCRIPT",
    "ANYONE",
    "may_press",
    "dm_chat",
    "dm_recipient",
]

#: the custom id as a pattern (discord.py's ``DynamicItem`` template; matched in full)
TEMPLATE = r"mp:(?P<user>\d+):(?P<action>[a-z_]+):(?P<value>[\w-]*)"
_CUSTOM_ID = re.compile(TEMPLATE)
CUSTOM_ID_MAX = 100  # Discord's limit on a custom id
PER_ROW = 5  # buttons in one action row
MAX_BUTTONS = 25  # five rows
PRIMARY, DANGER = 1, 4  # Discord's button styles (blurple, red)
#: a button the adapter adds beside "Skip": it opens the transcript form (a modal)
TRANSCRIPT = "transcript"
#: the user id of a moderators' button anyone may press (a review request posted in a
#: moderators' channel): the bot judges each press by the presser's authority
ANYONE = "0"
#: a chat named by a person's user id instead of a channel id: their direct messages with
#: the bot (a review request for an operator), whose channel the delivery opens first
DM_PREFIX = "dm:"


@dataclass(frozen=True)
class Press:
    """What a button's custom id says: whose it is, and what pressing it does."""

    user_id: str
    action: str
    value: str = ""


def encode(press: Press) -> str:
    return f"mp:{press.user_id}:{press.action}:{press.value}"[:CUSTOM_ID_MAX]


def decode(custom_id: str) -> Press | None:
    """The press a custom id encodes; None for an id that is not one of ours."""
    match = _CUSTOM_ID.fullmatch(custom_id)
    if match is None:
        return None
    return Press(match["user"], match["action"], match["value"])


def may_press(press: Press, presser: str) -> bool:
    """Whether the adapter hands this press to the bot: the button's own user, or anyone
    for a moderators' button made for :data:`ANYONE` (the bot then checks authority)."""
    return presser == press.user_id or (press.user_id == ANYONE and press.action.startswith("mod_"))


def dm_chat(user_id: str) -> str:
    """The chat that is ``user_id``'s direct messages with the bot."""
    return DM_PREFIX + user_id


def dm_recipient(chat_id: str) -> str | None:
    """The user whose direct messages ``chat_id`` names (:func:`dm_chat`); None for a
    channel id."""
    return chat_id.removeprefix(DM_PREFIX) if chat_id.startswith(DM_PREFIX) else None


def style(action: str) -> int:
    """Red for the buttons that drop something (a draft, a queued video), blurple otherwise."""
    return DANGER if action.startswith("cancel") else PRIMARY


def shown(buttons: tuple[ButtonSpec, ...]) -> tuple[ButtonSpec, ...]:
    """The buttons as they appear: with "Type transcript" beside "Skip", at most 25."""
    out = list(buttons)
    if any(b.action == "skip_transcript" for b in buttons):
        out.append(ButtonSpec(texts.TYPE_TRANSCRIPT_BUTTON, TRANSCRIPT))
    return tuple(out[:MAX_BUTTONS])


def components(user_id: str, buttons: tuple[ButtonSpec, ...]) -> list[dict[str, Any]]:
    """The REST API's ``components``: action rows of up to five buttons (none: no rows)."""
    items = [
        {
            "type": 2,
            "style": style(b.action),
            "label": b.label,
            "custom_id": encode(Press(user_id, b.action, b.value)),
        }
        for b in shown(buttons)
    ]
    return [
        {"type": 1, "components": items[i : i + PER_ROW]} for i in range(0, len(items), PER_ROW)
    ]
