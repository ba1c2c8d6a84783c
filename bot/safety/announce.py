"""Review requests reach the moderators of their scope where they work.

When a render is held for review, a line with Approve and Deny goes (through the
:class:`~bot.contract.ports.Gateway`, sent by a worker) to the moderators' channel the
server set (``/mod reviews-channel``), and, for a request made in direct messages (whose
only moderators are the bot's operators), to each operator's private chat with the bot
(Telegram's, whose id is the operator's; on Discord their DMs, which the worker opens).
Anyone may see the buttons there; pressing one is judged like any moderator button
(:meth:`bot.safety.desk.Desk.button`: authority over the job's scope, and never the
requester approving their own). The line names the job, the requester and the phrase to
listen for; the script, voice note and photo stay in ``/mod reviews`` (answered to the
moderator alone).
"""

from __future__ import annotations

import logging

from bot.contract import texts
from bot.contract.events import ButtonSpec
from bot.contract.jobs import RenderJob
from bot.contract.ports import Gateway
from bot.contract.wire import discord as discord_wire
from bot.safety import moderation
from bot.safety.authority import Staff

__all__ = ["review_desks", "review_notice", "announce_review"]

log = logging.getLogger(__name__)


def review_desks(
    platform: str, scope: str, reviews_channel: str, staff: Staff, requester: str
) -> list[str]:
    """The chats a review request made in ``scope`` goes to: the scope's reviews channel,
    and for the direct messages each operator's private chat with the bot, never the
    requester's own."""
    chats = [reviews_channel] if reviews_channel else []
    if scope == "":
        operators = sorted(staff.operators_of(platform) - {requester})
        chats += [c for c in (_private_chat(platform, op) for op in operators) if c]
    return list(dict.fromkeys(chats))


def _private_chat(platform: str, user_id: str) -> str:
    """A person's private chat with the bot: on Telegram its id is theirs; on Discord their
    DMs, named by their id (the worker opens the channel); "" elsewhere."""
    if platform == "telegram":
        return user_id
    return discord_wire.dm_chat(user_id) if platform == "discord" else ""


def review_notice(
    job: RenderJob, scope: str, phrase: str | None
) -> tuple[str, tuple[ButtonSpec, ...]]:
    """The line and its Approve / Deny buttons."""
    short = job.job_id[:8]
    text = texts.MOD_REVIEW_WAITING.format(
        job=short,
        user=job.user_id,
        scope=moderation.scope_name(scope),
        phrase=texts.MOD_REVIEW_PHRASE.format(phrase=phrase) if phrase else "",
    )
    buttons = (
        ButtonSpec(texts.MOD_APPROVE_BUTTON.format(job=short), "mod_approve", job.job_id),
        ButtonSpec(texts.MOD_DENY_BUTTON.format(job=short), "mod_deny", job.job_id),
    )
    return text, buttons


async def announce_review(
    gateway: Gateway, job: RenderJob, scope: str, phrase: str | None, chats: list[str]
) -> int:
    """Send the request to each of ``chats``; how many were handed to the workers. Best
    effort: the review waits in ``/mod reviews`` whatever happens here."""
    text, buttons = review_notice(job, scope, phrase)
    sent = 0
    for chat in chats:
        try:
            await gateway.notify_staff(job.platform, chat, text, buttons)
            sent += 1
        except Exception:  # Redis busy or away: /mod reviews still lists it
            log.warning("review request not announced", extra={"job_id": job.job_id})
    return sent
