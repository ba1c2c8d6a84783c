"""What the Discord client (``discord.py``'s module here) and its ``/mod`` group both need:
who sent an interaction, as platform facts, and the client's way of answering it. A third
module, so neither of the two imports the other."""

from __future__ import annotations

from typing import Protocol

import discord

from bot.contract.events import Event, Who

__all__ = ["who_of", "Responder"]


def who_of(interaction: discord.Interaction) -> Who:
    """The sender and where, with the facts bot.safety judges authority by: whether Discord
    resolved Manage Server (or Administrator) for them in this server, and their role ids.
    Nothing here decides who moderates."""
    in_server = interaction.guild_id is not None
    perms = interaction.permissions
    member = interaction.user
    roles = (
        tuple(str(r.id) for r in member.roles)
        if in_server and isinstance(member, discord.Member)
        else ()
    )
    return Who(
        "discord",
        str(interaction.user.id),
        str(interaction.channel_id),
        str(interaction.guild_id) if in_server else None,
        interaction.user.display_name,
        str(interaction.id),
        in_server and (perms.manage_guild or perms.administrator),
        roles,
    )


class Responder(Protocol):
    """Runs events through the core and answers the interaction with the replies."""

    async def respond(
        self, interaction: discord.Interaction, events: list[Event], *, ephemeral: bool = False
    ) -> None: ...
