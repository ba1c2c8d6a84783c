"""Discord's ``/mod`` command group: options -> ``Command(who, "mod", "sub args")``.

Who may moderate is decided here, in code, on every interaction: the Manage Server (or
Administrator) permission Discord resolved for the member, or the configured role
(``DISCORD_MOD_ROLE``, a name or an id). ``default_permissions`` only hides the group from
others in Discord's menu; server admins can change that, so it is never trusted. The core
refuses non-moderators again. Every answer is ephemeral (only the moderator sees it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from bot.core.events import Command

if TYPE_CHECKING:
    from bot.adapters.discord import MouthpieceClient

__all__ = ["is_moderator", "build_mod_group", "ModGroup"]

Limit = Literal["day", "concurrent", "hour", "queue", "reset"]
Mode = Literal["attest", "phrase", "review"]
Position = Literal["bottom-right", "bottom-left", "top-right", "top-left", "on", "off"]


def is_moderator(interaction: discord.Interaction, role: str) -> bool:
    """Manage Server / Administrator in this server, or the configured moderator role."""
    if interaction.guild_id is None:
        return False
    perms = interaction.permissions
    if perms.manage_guild or perms.administrator:
        return True
    member = interaction.user
    if not role or not isinstance(member, discord.Member):
        return False
    return any(r.name == role or str(r.id) == role for r in member.roles)


def build_mod_group(client: MouthpieceClient) -> app_commands.Group:
    return ModGroup(client)


class ModGroup(app_commands.Group):
    """``/mod``: one subcommand per moderator action; each becomes one core Command."""

    def __init__(self, client: MouthpieceClient) -> None:
        super().__init__(
            name="mod",
            description="Moderator controls for Mouthpiece in this server",
            guild_only=True,
            default_permissions=discord.Permissions(manage_guild=True),
        )
        self.client = client

    async def _run(self, interaction: discord.Interaction, args: str) -> None:
        from bot.adapters.discord import _who

        await interaction.response.defer(ephemeral=True, thinking=True)
        event = Command(_who(interaction), "mod", " ".join(args.split()))
        await self.client.respond(interaction, [event], ephemeral=True)

    @app_commands.command(name="limits", description="Show or set the render limits here")
    @app_commands.describe(limit="Which limit, or reset to defaults", value="New value (-1: none)")
    async def limits(
        self, interaction: discord.Interaction, limit: Limit | None = None, value: int | None = None
    ) -> None:
        if limit is None or limit == "reset":
            await self._run(interaction, f"limits {limit or ''}")
        else:
            await self._run(interaction, f"limits set {limit} {'' if value is None else value}")

    @app_commands.command(name="consent", description="Show or set how consent is checked here")
    async def consent(self, interaction: discord.Interaction, mode: Mode | None = None) -> None:
        await self._run(interaction, f"consent {mode or ''}")

    @app_commands.command(name="ban", description="Stop a user from making videos here")
    async def ban(
        self, interaction: discord.Interaction, user: discord.User, reason: str | None = None
    ) -> None:
        await self._run(interaction, f"ban {user.id} {reason or ''}")

    @app_commands.command(name="unban", description="Let a blocked user make videos again")
    async def unban(self, interaction: discord.Interaction, user: discord.User) -> None:
        await self._run(interaction, f"unban {user.id}")

    @app_commands.command(name="purge", description="Delete a user's uploads, voices and videos")
    async def purge(self, interaction: discord.Interaction, user: discord.User) -> None:
        await self._run(interaction, f"purge {user.id}")

    @app_commands.command(name="queue", description="Videos waiting or rendering here")
    async def queue(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "queue")

    @app_commands.command(name="reviews", description="Videos waiting for a consent review")
    async def reviews(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "reviews")

    @app_commands.command(name="audit", description="Recent videos: who, when, fingerprints")
    async def audit(
        self, interaction: discord.Interaction, count: app_commands.Range[int, 1, 50] | None = None
    ) -> None:
        await self._run(interaction, f"audit {count or ''}")

    @app_commands.command(name="channels", description="Show or change where videos may be made")
    async def channels(
        self,
        interaction: discord.Interaction,
        action: Literal["add", "remove", "clear"] | None = None,
        channel: discord.TextChannel | None = None,
    ) -> None:
        target = (str(channel.id) if channel else "here") if action in ("add", "remove") else ""
        await self._run(interaction, f"channels {action or ''} {target}")

    @app_commands.command(name="label", description="Show or move the AI-generated label")
    async def label(
        self, interaction: discord.Interaction, position: Position | None = None
    ) -> None:
        await self._run(interaction, f"label {position or ''}")

    @app_commands.command(name="block", description="Blocked words or phrases for scripts here")
    async def block(
        self,
        interaction: discord.Interaction,
        action: Literal["add", "remove", "list"] = "list",
        phrase: str | None = None,
    ) -> None:
        await self._run(interaction, f"block {action} {phrase or ''}")
