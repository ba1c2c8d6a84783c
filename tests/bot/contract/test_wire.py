"""Each platform's button wire format: every button kind survives encode -> decode, and the
adapter reads back exactly what the worker's delivery posts (the cases where the two copies
once drifted: the red style of the job's Cancel, more than five buttons, "Type transcript")."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import discord
import pytest

from bot.chat.adapters.discord import ActionButton, MouthpieceClient
from bot.chat.adapters.telegram import _keyboard
from bot.contract import texts
from bot.contract.events import ButtonSpec, Reply
from bot.contract.wire import discord as dwire
from bot.contract.wire import telegram as twire
from bot.worker.delivery import telegram as telegram_delivery

JOB = "0123456789abcdef0123"
#: every button the bot makes, with a realistic value
KINDS = (
    ButtonSpec("They agreed", "consent"),
    ButtonSpec("Render", "render"),
    ButtonSpec("Cancel", "cancel"),
    ButtonSpec("Skip", "skip_transcript"),
    ButtonSpec("Voice: anna-2", "use_voice", "anna-2"),
    ButtonSpec("Use my last photo", "last_photo"),
    ButtonSpec("Cancel", "cancel_job", JOB),
    ButtonSpec("Approve", "mod_approve", JOB),
    ButtonSpec("Deny", "mod_deny", JOB),
    ButtonSpec("Cancel 01234567", "mod_cancel", JOB),
    ButtonSpec("Type transcript", dwire.TRANSCRIPT),
)


@pytest.mark.parametrize("spec", KINDS, ids=lambda s: s.action)
def test_every_button_kind_round_trips(spec: ButtonSpec) -> None:
    press = dwire.Press("4242", spec.action, spec.value)
    assert dwire.decode(dwire.encode(press)) == press
    assert twire.decode(twire.encode(spec.action, spec.value)) == (spec.action, spec.value)


def test_foreign_ids_are_not_ours() -> None:
    for custom_id in ("", "mp::cancel:", "xx:1:cancel:", "mp:1:Cancel:", "mp:1:cancel:a b"):
        assert dwire.decode(custom_id) is None


async def _adapter_reads(item: dict[str, Any]) -> ActionButton:
    """What the adapter makes of a posted button when it is pressed (discord.py's path)."""
    match = ActionButton.__discord_ui_compiled_template__.fullmatch(item["custom_id"])
    assert match is not None, item["custom_id"]
    button: discord.ui.Button[Any] = discord.ui.Button(
        label=item["label"], custom_id=item["custom_id"]
    )
    return await ActionButton.from_custom_id(None, button, match)  # type: ignore[arg-type]


def test_discord_adapter_reads_what_delivery_posts() -> None:
    rows = dwire.components("4242", KINDS)
    assert [len(r["components"]) for r in rows] == [5, 5, 2]  # the transcript button added
    posted = [item for row in rows for item in row["components"]]

    async def read_all() -> list[ActionButton]:
        return [await _adapter_reads(item) for item in posted]

    read = asyncio.run(read_all())
    assert [(b.user_id, b.action, b.value) for b in read] == [
        (4242, s.action, s.value)
        for s in (*KINDS, ButtonSpec(texts.TYPE_TRANSCRIPT_BUTTON, dwire.TRANSCRIPT))
    ]
    # the adapter's own buttons look like the delivered ones: same style, same id
    for item, b in zip(posted, read, strict=True):
        assert b.item.style.value == item["style"]
        assert b.item.custom_id == item["custom_id"]
    assert {i["custom_id"].split(":")[2] for i in posted if i["style"] == dwire.DANGER} == {
        "cancel",
        "cancel_job",
    }


def test_discord_adapter_view_matches_delivery_components() -> None:
    """Same buttons, same order, same caps (25) in the adapter's view and the REST body."""

    async def view_items() -> list[tuple[str, int, str]]:
        client = MouthpieceClient(lambda e: asyncio.sleep(0, []))  # type: ignore[arg-type,return-value]
        many = tuple(ButtonSpec(f"v{i}", "use_voice", f"v{i}") for i in range(30))
        view = client._view(4242, (*KINDS[:4], *many))
        posted = dwire.components("4242", (*KINDS[:4], *many))
        flat = [i for row in posted for i in row["components"]]
        assert len(view.children) == len(flat) == dwire.MAX_BUTTONS
        out = []
        for child, item in zip(view.children, flat, strict=True):
            assert isinstance(child, ActionButton)
            assert (child.item.custom_id, child.item.style.value) == (
                item["custom_id"],
                item["style"],
            )
            out.append((child.action, child.item.style.value, child.value))
        await client.close()
        return out

    items = asyncio.run(view_items())
    assert items[2] == ("cancel", dwire.DANGER, "")
    assert items[3][0] == "skip_transcript" and items[-1][0] == "use_voice"


def test_telegram_adapter_and_delivery_build_the_same_keyboard() -> None:
    markup = _keyboard(Reply("x", KINDS))
    assert markup is not None
    adapter_rows = markup.to_dict()["inline_keyboard"]
    delivery_rows = json.loads(telegram_delivery._markup(KINDS))["inline_keyboard"]
    assert adapter_rows == delivery_rows
    for row, spec in zip(delivery_rows, KINDS, strict=True):
        assert twire.decode(row[0]["callback_data"]) == (spec.action, spec.value)
