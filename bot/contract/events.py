"""Platform-neutral inputs (events) and outputs (actions) of the conversation core.

Adapters turn Telegram updates and Discord interactions into these, hand them to
:func:`bot.conversation.service.Service.handle`, and render the returned actions on their platform.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = [
    "Who",
    "Command",
    "Text",
    "Media",
    "Button",
    "Event",
    "ButtonSpec",
    "Reply",
    "Attachment",
    "Action",
    "Notify",
    "MEDIA_KINDS",
    "media_kind",
    "WEB_CHAT",
]

#: the chat id of the web studio: a job asked from a browser is delivered there (the video
#: stays on the shared data volume for the person's browser to fetch), never posted in a
#: chat; its status is the studio's page, not a chat message
WEB_CHAT = "web"

#: what a file may be; a draft takes audio, an image and text, a video only ``/mod verify``
MEDIA_KINDS = ("audio", "image", "text", "video")
_AUDIO_EXT = (".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".wav", ".flac", ".webm")
_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp")
_VIDEO_EXT = (".mp4", ".m4v", ".mov", ".mkv")
_TEXT_MIME = ("text/plain", "text/csv", "text/comma-separated-values")


def media_kind(filename: str, mime: str) -> str:
    """What a file is as declared by its sender (type, else name): one of MEDIA_KINDS, or
    "other". Only a claim: the upload check decodes the file before it is used."""
    mime, name = mime.lower(), filename.lower()
    if mime.startswith("image/") or name.endswith(_IMAGE_EXT):
        return "image"
    if mime.startswith("audio/") or name.endswith(_AUDIO_EXT):
        return "audio"
    if mime.startswith(_TEXT_MIME) or name.endswith((".txt", ".csv")):
        return "text"  # a script, or a batch of them (.txt with --- lines, or .csv)
    if mime.startswith("video/") or name.endswith(_VIDEO_EXT):
        return "video"
    return "other"


@dataclass(frozen=True)
class Who:
    """Who sent an event, and where: one draft per (platform, user, chat)."""

    platform: str  # "telegram" | "discord"
    user_id: str
    chat_id: str
    guild_id: str | None = None
    name: str = ""
    message_id: str | None = None
    #: platform facts for authority, reported by the adapter and judged in bot.safety (never
    #: here): the platform says this person manages this server or group (Discord Manage
    #: Server or Administrator, a Telegram group's administrator), and their role ids there
    server_admin: bool = False
    roles: tuple[str, ...] = ()
    #: the platform says this person may themselves post messages with files where this came
    #: from (Discord: View Channel, Send Messages and Attach Files resolved for the channel);
    #: True where the platform has no such fact (direct messages, Telegram's private chats).
    #: bot.safety decides what it allows.
    can_post: bool = True


@dataclass(frozen=True)
class Command:
    who: Who
    name: str  # "talk", "cancel", "status", "help", "voice", "voices", ...
    args: str = ""
    #: a file sent with the command (a Telegram caption, a Discord attachment option): read
    #: only by a command that takes one (``/mod verify``); any other ignores it, unread
    file: Media | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Text:
    who: Who
    text: str


@dataclass(frozen=True)
class Media:
    """A file the user sent. ``fetch`` downloads it, called only after the size check."""

    who: Who
    kind: str  # MEDIA_KINDS: "audio" (voice, audio file), "image", "text" (.txt, .csv), "video"
    size: int | None
    fetch: Callable[[], Awaitable[bytes]] = field(compare=False)
    filename: str = ""
    mime: str = ""
    duration: float | None = None
    #: the platform says this file was forwarded or re-shared from another message (Telegram's
    #: forward origin, a Discord forwarded message): a fact; bot.safety decides what it allows
    forwarded: bool = False


@dataclass(frozen=True)
class Button:
    who: Who
    action: str  # "consent", "render", "cancel", "skip_transcript", "use_voice", "last_photo"
    value: str = ""


Event = Command | Text | Media | Button


@dataclass(frozen=True)
class ButtonSpec:
    label: str
    action: str
    value: str = ""


@dataclass(frozen=True)
class Attachment:
    """A small file sent with a reply (a review's previews: the photo downscaled, the voice
    note's first seconds), held in memory."""

    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Reply:
    """A message to the user, with optional buttons (restricted to that user).

    ``private``: it shows other people's data (a moderator's view of the queue, reviews,
    audit or log), so only the person who asked may see it: never posted where others read
    (Discord answers it ephemerally; Telegram sends it to the asker's private chat, not a
    group)."""

    text: str
    buttons: tuple[ButtonSpec, ...] = ()
    attachments: tuple[Attachment, ...] = ()  # sent with it (moderators' reviews)
    private: bool = False


@dataclass(frozen=True)
class Notify(Reply):
    """A message for another chat (a requester told of a moderator's decision). Adapters
    send it to ``chat_id`` instead of answering the current interaction."""

    platform: str = ""
    chat_id: str = ""


Action = Reply
