"""Who may act on what: the two levels of authority, decided here and nowhere else.

Anyone can create a Telegram group (and be its administrator) or a Discord server (and have
Manage Server there), so a server's own administrators are trusted with what happened in
*that* server only. The people who run the bot, the *operators* (``TELEGRAM_ADMIN_IDS``,
``DISCORD_OPERATOR_IDS``), act everywhere on their platform.

Adapters report platform facts on :class:`~bot.core.events.Who` (the platform says this
person manages this server; their role ids there); :func:`authority_of` turns the facts and
the operator's settings into an :class:`Authority`, and :meth:`Authority.covers` answers
"may this person act on something that happened in that scope".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from bot.contract.events import Who

__all__ = ["EVERYWHERE", "Level", "Staff", "Authority", "authority_of"]

#: the scope of an operator-wide ban: direct messages and every server
EVERYWHERE = "*"


class Level(enum.IntEnum):
    MEMBER = 0  # no authority: only their own drafts and jobs
    SERVER = 1  # a server's moderator: what happened in that server
    OPERATOR = 2  # runs the bot: everything on the platform


@dataclass(frozen=True)
class Staff:
    """The operator's settings about people: operator user ids and moderator role ids,
    per platform (``{"telegram": {"123"}}``)."""

    operators: dict[str, frozenset[str]] = field(default_factory=dict)
    mod_roles: dict[str, frozenset[str]] = field(default_factory=dict)

    def operators_of(self, platform: str) -> frozenset[str]:
        return self.operators.get(platform, frozenset())

    def mod_roles_of(self, platform: str) -> frozenset[str]:
        return self.mod_roles.get(platform, frozenset())


@dataclass(frozen=True)
class Authority:
    """What one person may act on, on one platform. ``scope`` is the server they stand in
    ("" in direct messages); a server moderator's authority ends at its edge."""

    level: Level
    platform: str
    scope: str

    @property
    def operator(self) -> bool:
        return self.level is Level.OPERATOR

    @property
    def moderator(self) -> bool:
        """A moderator of this server, or an operator."""
        return self.level >= Level.SERVER

    def covers(self, platform: str, scope: str) -> bool:
        """May act on what happened in ``scope`` ("" direct messages, a server id)."""
        if platform != self.platform:
            return False
        if self.operator:
            return True
        return self.level is Level.SERVER and scope == self.scope != ""


def authority_of(who: Who, staff: Staff) -> Authority:
    """Operators by user id; a server's moderators by the platform's word (Manage Server,
    group administrator) or by the configured role id, and only inside that server."""
    scope = who.guild_id or ""
    if who.user_id in staff.operators_of(who.platform):
        return Authority(Level.OPERATOR, who.platform, scope)
    in_server = who.guild_id is not None
    by_role = bool(set(who.roles) & staff.mod_roles_of(who.platform))
    if in_server and (who.server_admin or by_role):
        return Authority(Level.SERVER, who.platform, scope)
    return Authority(Level.MEMBER, who.platform, scope)
