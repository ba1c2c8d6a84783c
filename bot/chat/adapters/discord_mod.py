"""Discord's ``/mod`` command group: options -> ``Command(who, "mod", "sub args")``.

Translation only. Who may moderate is decided in bot.safety on every command and button,
from the facts on ``Who`` (the Manage Server or Administrator permission Discord resolved
for the member here, their role ids) and the operator's settings (``DISCORD_OPERATOR_IDS``,
``DISCORD_MOD_ROLE`` by id). ``default_permissions`` only hides the group from others in
Discord's menu; server admins can change that, so it is never trusted. Every answer is
ephemeral (only the moderator sees it).
"""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands

from bot.chat.adapters.discord_shared import Responder, who_of
from bot.contract import texts
from bot.contract.events import Command
from bot.contract.jobs import LABEL_POSITIONS

__all__ = ["build_mod_group", "ModGroup"]

Limit = Literal["day", "concurrent", "hour", "reset"]  # the queue cap is the operator's
Mode = Literal["attest", "phrase", "review"]


def _choice(value: str) -> app_commands.Choice[str]:
    return app_commands.Choice(name=value, value=value)


def build_mod_group(client: Responder) -> app_commands.Group:
    return ModGroup(client)


def _everywhere(flag: bool | None) -> str:
    return " everywhere" if flag else ""


class ModGroup(app_commands.Group):
    """``/mod``: one subcommand per moderator action; each becomes one core Command."""

    def __init__(self, client: Responder) -> None:
        super().__init__(
            name="mod",
            description=texts.DISCORD_MOD["mod"],
            guild_only=True,
            default_permissions=discord.Permissions(manage_guild=True),
        )
        self.client = client

    async def _run(self, interaction: discord.Interaction, args: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        event = Command(who_of(interaction), "mod", " ".join(args.split()))
        await self.client.respond(interaction, [event], ephemeral=True)

    @app_commands.command(name="limits", description=texts.DISCORD_MOD["limits"])
    @app_commands.describe(**texts.DISCORD_MOD_OPTIONS["limits"])
    async def limits(
        self, interaction: discord.Interaction, limit: Limit | None = None, value: int | None = None
    ) -> None:
        if limit is None or limit == "reset":
            await self._run(interaction, f"limits {limit or ''}")
        else:
            await self._run(interaction, f"limits set {limit} {'' if value is None else value}")

    @app_commands.command(name="consent", description=texts.DISCORD_MOD["consent"])
    async def consent(self, interaction: discord.Interaction, mode: Mode | None = None) -> None:
        await self._run(interaction, f"consent {mode or ''}")

    @app_commands.command(name="ban", description=texts.DISCORD_MOD["ban"])
    @app_commands.describe(everywhere=texts.DISCORD_MOD_EVERYWHERE)
    async def ban(
        self,
        interaction: discord.Interaction,
        user: discord.User,
        reason: str | None = None,
        everywhere: bool | None = None,
    ) -> None:
        await self._run(interaction, f"ban {user.id}{_everywhere(everywhere)} {reason or ''}")

    @app_commands.command(name="unban", description=texts.DISCORD_MOD["unban"])
    @app_commands.describe(everywhere=texts.DISCORD_MOD_EVERYWHERE)
    async def unban(
        self, interaction: discord.Interaction, user: discord.User, everywhere: bool | None = None
    ) -> None:
        await self._run(interaction, f"unban {user.id}{_everywhere(everywhere)}")

    @app_commands.command(name="purge", description=texts.DISCORD_MOD["purge"])
    @app_commands.describe(everywhere=texts.DISCORD_MOD_EVERYWHERE)
    async def purge(
        self, interaction: discord.Interaction, user: discord.User, everywhere: bool | None = None
    ) -> None:
        await self._run(interaction, f"purge {user.id}{_everywhere(everywhere)}")

    @app_commands.command(name="queue", description=texts.DISCORD_MOD["queue"])
    @app_commands.describe(everywhere=texts.DISCORD_MOD_EVERYWHERE)
    async def queue(self, interaction: discord.Interaction, everywhere: bool | None = None) -> None:
        await self._run(interaction, f"queue{_everywhere(everywhere)}")

    @app_commands.command(name="reviews", description=texts.DISCORD_MOD["reviews"])
    @app_commands.describe(everywhere=texts.DISCORD_MOD_EVERYWHERE)
    async def reviews(
        self, interaction: discord.Interaction, everywhere: bool | None = None
    ) -> None:
        await self._run(interaction, f"reviews{_everywhere(everywhere)}")

    @app_commands.command(name="audit", description=texts.DISCORD_MOD["audit"])
    @app_commands.describe(**texts.DISCORD_MOD_OPTIONS["audit"])
    async def audit(
        self,
        interaction: discord.Interaction,
        count: app_commands.Range[int, 1, 50] | None = None,
        find: app_commands.Range[str, 1, 64] | None = None,
        everywhere: bool | None = None,
    ) -> None:
        # a search, or the latest few: the core reads "find TERM" as /mod audit does in chat
        what = f"find {' '.join(find.split())}" if find else f"{count or ''}"
        await self._run(interaction, f"audit {what}{_everywhere(everywhere)}")

    @app_commands.command(name="log", description=texts.DISCORD_MOD["log"])
    @app_commands.describe(everywhere=texts.DISCORD_MOD_EVERYWHERE)
    async def log(
        self,
        interaction: discord.Interaction,
        count: app_commands.Range[int, 1, 50] | None = None,
        everywhere: bool | None = None,
    ) -> None:
        await self._run(interaction, f"log {count or ''}{_everywhere(everywhere)}")

    @app_commands.command(name="takedown", description=texts.DISCORD_MOD["takedown"])
    @app_commands.describe(**texts.DISCORD_MOD_OPTIONS["takedown"])
    async def takedown(
        self, interaction: discord.Interaction, job: str, reason: str | None = None
    ) -> None:
        await self._run(interaction, f"takedown {job} {reason or ''}")

    @app_commands.command(name="channels", description=texts.DISCORD_MOD["channels"])
    async def channels(
        self,
        interaction: discord.Interaction,
        action: Literal["add", "remove", "clear"] | None = None,
        channel: discord.TextChannel | None = None,
    ) -> None:
        target = (str(channel.id) if channel else "here") if action in ("add", "remove") else ""
        await self._run(interaction, f"channels {action or ''} {target}")

    @app_commands.command(name="reviews-channel", description=texts.DISCORD_MOD["reviews-channel"])
    async def reviews_channel(
        self,
        interaction: discord.Interaction,
        action: Literal["set", "off"] | None = None,
        channel: discord.TextChannel | None = None,
    ) -> None:
        """``set`` (a channel, or this one) or ``off``; nothing: show where requests go."""
        target = {"set": str(channel.id) if channel else "here", "off": "off"}.get(action or "", "")
        await self._run(interaction, f"reviews-channel {target}")

    @app_commands.command(name="verify", description=texts.DISCORD_MOD["verify"])
    @app_commands.describe(**texts.DISCORD_MOD_OPTIONS["verify"])
    async def verify(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment | None = None,
        everywhere: bool | None = None,
    ) -> None:
        """With a file: check it now; without: the moderator's next file (a DM) is checked."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        who = who_of(interaction)
        media = self.client.attachment(who, file) if file is not None else None
        event = Command(who, "mod", f"verify{_everywhere(everywhere)}", file=media)
        await self.client.respond(interaction, [event], ephemeral=True)

    @app_commands.command(name="label", description=texts.DISCORD_MOD["label"])
    @app_commands.choices(position=[_choice(p) for p in (*LABEL_POSITIONS, "on", "off")])
    async def label(
        self, interaction: discord.Interaction, position: app_commands.Choice[str] | None = None
    ) -> None:
        await self._run(interaction, f"label {position.value if position else ''}")

    @app_commands.command(name="block", description=texts.DISCORD_MOD["block"])
    async def block(
        self,
        interaction: discord.Interaction,
        action: Literal["add", "remove", "list"] = "list",
        phrase: str | None = None,
    ) -> None:
        await self._run(interaction, f"block {action} {phrase or ''}")
