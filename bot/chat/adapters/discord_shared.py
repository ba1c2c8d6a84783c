"""What the Discord client (``discord.py``'s module here) and its ``/mod`` group both need:
who sent an interaction, as platform facts, and the client's way of answering it. A third
module, so neither of the two imports the other."""

from __future__ import annotations

from typing import Protocol

import discord

from bot.contract.events import Event, Media, Who

__all__ = ["who_of", "may_post", "Responder"]


def who_of(interaction: discord.Interaction) -> Who:
    """The sender and where, with the facts bot.safety judges authority by: whether Discord
    resolved Manage Server (or Administrator) for them in this server, their role ids, and
    whether they may themselves post files in this channel (View Channel, Send Messages, or
    Send Messages in Threads in a thread, and Attach Files, as Discord resolved them for the
    channel in the interaction). Nothing here decides who moderates or who may render."""
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
        not in_server or may_post(interaction),
    )


def may_post(interaction: discord.Interaction) -> bool:
    """Whether Discord says the member may view this channel, send messages in it and attach
    files there (the member's own resolved permissions; Administrator includes them all),
    and is not timed out."""
    member = interaction.user
    if isinstance(member, discord.Member) and member.is_timed_out():
        return False
    perms = interaction.permissions
    if perms.administrator:
        return True
    thread = isinstance(interaction.channel, discord.Thread)
    send = perms.send_messages_in_threads if thread else perms.send_messages
    return perms.view_channel and send and perms.attach_files


class Responder(Protocol):
    """Runs events through the core and answers the interaction with the replies; turns an
    attachment into an event's file (downloaded later, capped)."""

    async def respond(
        self, interaction: discord.Interaction, events: list[Event], *, ephemeral: bool = False
    ) -> None: ...

    def attachment(
        self, who: Who, att: discord.Attachment, *, forwarded: bool = False
    ) -> Media: ...
