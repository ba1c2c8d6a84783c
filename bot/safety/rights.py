"""The person's own rights, as pure decisions: media that were not theirs to begin with
(forwarded or re-shared), and channels where they may not post themselves.

The adapters report the facts (``Media.forwarded``, ``Who.can_post``); the rules are here,
once, for both platforms. :class:`bot.safety.guard.Guard` applies them.
"""

from __future__ import annotations

from bot.contract import texts
from bot.contract.events import Button, Command, Event, Media, Text, Who

__all__ = ["forwarded_refusal", "posting_refusal", "FORWARD_MODE"]

#: the one consent mode a forwarded voice note is accepted in: the speaker must say the
#: draft's phrase in it
FORWARD_MODE = "phrase"
#: what someone may still do in a channel where they may not post: nothing there is made
_NOT_MAKING = ("cancel", "cancel_job", "cancel_batch")


def forwarded_refusal(kind: str, consent_mode: str) -> str | None:
    """The one-line refusal of a forwarded or re-shared file of this kind under this consent
    mode, or None when it may be used.

    A photo: never. No consent check speaks for the face in a photo, and a forward is the
    one-tap way to take a stranger's from a group. A voice note: only in ``phrase`` mode, where
    it still has to pass the check: the phrase is made for this draft and shown only to the
    requester, so a recording that says it proves the speaker took part, wherever it was first
    posted. Under ``attest`` the requester's own word is all there is (and "They agreed" is
    one press); under ``review`` a moderator hears a voice but cannot know whose it is or
    whether they agreed. A script file is words, nobody's likeness: always.
    """
    if kind == "image":
        return texts.FORWARDED_PHOTO
    if kind == "audio" and consent_mode != FORWARD_MODE:
        return texts.FORWARDED_VOICE
    return None


def posting_refusal(who: Who, event: Event) -> str | None:
    """The one-line refusal of an event that makes or renders a video in a server channel
    where the platform says the person may not post files themselves (Discord: View Channel,
    Send Messages, Attach Files), or None. The video and its status message would appear in
    that channel: the bot posts nothing there on behalf of someone who could not post it.
    Direct messages are exempt (nothing is posted for anyone else to see); so are cancelling,
    /help, /status, /forget and the other commands that only answer the person."""
    if who.guild_id is None or who.can_post:
        return None
    making = (
        (isinstance(event, Command) and event.name in ("talk", "start"))
        or isinstance(event, Text | Media)
        or (isinstance(event, Button) and event.action not in _NOT_MAKING)
    )
    return texts.CANNOT_POST_HERE if making else None
