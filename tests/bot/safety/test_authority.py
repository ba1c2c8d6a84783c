"""Who may act on what (bot.safety.authority): pure, from platform facts and the operator's
settings."""

from __future__ import annotations

from bot.contract.events import Who
from bot.safety.authority import EVERYWHERE, Level, Staff, authority_of

STAFF = Staff(
    operators={"discord": frozenset({"1"}), "telegram": frozenset({"2"})},
    mod_roles={"discord": frozenset({"777"})},
)


def test_two_levels_of_authority() -> None:
    admin_of_a = authority_of(Who("discord", "9", "c", "A", server_admin=True), STAFF)
    assert admin_of_a.level is Level.SERVER
    assert admin_of_a.covers("discord", "A")
    assert not admin_of_a.covers("discord", "B")  # another server
    assert not admin_of_a.covers("discord", "")  # the direct messages
    assert not admin_of_a.covers("discord", EVERYWHERE)
    assert not admin_of_a.covers("telegram", "A")  # another platform's "A"

    by_role = authority_of(Who("discord", "9", "c", "A", roles=("5", "777")), STAFF)
    assert by_role.level is Level.SERVER and by_role.covers("discord", "A")
    # the role id grants in a server only; elsewhere nothing
    assert authority_of(Who("discord", "9", "c", None, roles=("777",)), STAFF).level is (
        Level.MEMBER
    )
    assert authority_of(Who("discord", "9", "c", "A", roles=("778",)), STAFF).level is (
        Level.MEMBER
    )
    # "server admin" outside a server (a DM) is nothing
    assert authority_of(Who("telegram", "9", "9", None, server_admin=True), STAFF).level is (
        Level.MEMBER
    )

    operator = authority_of(Who("discord", "1", "c", "A"), STAFF)
    assert operator.operator and operator.moderator
    assert all(operator.covers("discord", s) for s in ("A", "B", "", EVERYWHERE))
    assert not operator.covers("telegram", "")  # operators are per platform
    assert authority_of(Who("telegram", "1", "1"), STAFF).level is Level.MEMBER
    assert authority_of(Who("telegram", "2", "2"), STAFF).operator
