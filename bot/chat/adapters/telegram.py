"""Telegram front-end (python-telegram-bot 22): updates -> neutral events -> replies.

Videos are made in private chats. ``/mod`` also works in groups, typed or as the caption of
a file (``/mod verify`` with the video to check). Translation and nothing else: for ``/mod``
and moderator buttons in a group the adapter asks Telegram whether the sender administers
that group (``getChatAdministrators``) and reports it as a fact on ``Who``; who may do what
(operators by ``TELEGRAM_ADMIN_IDS``, a group's administrators within that group) is decided
in bot.safety. A reply the core marks private (a moderator's view of the queue, reviews,
audit, log or a verified file: other people's data) asked for in a group goes to the asker's
private chat; the group reads one line saying where it went.

Updates are handled concurrently, one lane per person (:class:`PersonLanes`): a person's
messages are answered in the order they were sent, and one person's slow upload check never
delays anyone else's reply.

Updates arrive by long polling, or by webhook when TELEGRAM_WEBHOOK_URL is set
(:mod:`bot.chat.adapters.telegram_webhook`); :func:`start_telegram` starts either.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import (
    Audio,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageOriginUser,
    Update,
    VideoNote,
    Voice,
)
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.chat.adapters.telegram_webhook import Webhook, start_webhook
from bot.contract import texts
from bot.contract.events import (
    Action,
    Button,
    Command,
    Event,
    Media,
    Notify,
    Reply,
    Text,
    Who,
    media_kind,
)
from bot.contract.wire import telegram as wire
from bot.lanes import Lanes
from bot.observability import Metrics
from bot.settings import BotSettings

__all__ = ["ALLOWED_UPDATES", "build_application", "COMMANDS", "PersonLanes", "start_telegram"]

log = logging.getLogger(__name__)
COMMANDS = (
    "talk",
    "lang",
    "start",
    "cancel",
    "status",
    "help",
    "voice",
    "voices",
    "avatar",
    "avatars",
    "say",
    "forget",
    "web",
    "mod",
)
_GROUPS = ("group", "supergroup")
#: a file whose caption is ``/mod ...`` (``/mod verify``: check this file); in groups too
_MOD_CAPTION = r"^/mod(@\w+)?(\s|$)"
_VIDEOS = filters.VIDEO | filters.ANIMATION | filters.VIDEO_NOTE
Handle = Callable[[Event], Awaitable[list[Action]]]
Stop = Callable[[], Awaitable[None]]
#: the updates the handlers read, asked for in both modes (Telegram keeps the last list it was
#: given, so switching modes changes nothing); not edits: an edited ``/talk`` is no new one
ALLOWED_UPDATES = (Update.MESSAGE, Update.CALLBACK_QUERY)


class PersonLanes(BaseUpdateProcessor):
    """Concurrent update handling with per-person order.

    PTB starts a task per update; here each waits for the lanes of its sender (the user, or
    the chat when there is no user), so a person's updates run one at a time in arrival
    order while other people's run alongside. ``slots`` bounds the updates in flight; a
    person with ``per_person`` updates already running or waiting has further ones dropped
    (logged), so no one person can take every slot.
    """

    def __init__(self, *, slots: int = 512, per_person: int = 20) -> None:
        super().__init__(slots)
        self.lanes = Lanes()
        self.per_person = per_person

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _person(update)
        if key is None:
            await coroutine
            return
        if self.lanes.pending(key) >= self.per_person:
            log.warning("update dropped: too many pending for one person", extra={"user": key})
            if inspect.iscoroutine(coroutine):
                coroutine.close()
            return
        async with self.lanes.hold(key):
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up: lanes are made on first use."""

    async def shutdown(self) -> None:
        """Nothing to free: a lane disappears with its last update."""


def _person(update: object) -> str | None:
    if not isinstance(update, Update):
        return None
    who = update.effective_user or update.effective_chat
    return str(who.id) if who is not None else None


class _PollingRequest(HTTPXRequest):
    """The getUpdates connection, telling ``on_ok`` about every answered poll (liveness)."""

    def __init__(self, on_ok: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_ok = on_ok

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if code == 200:
            self._on_ok()
        return code, payload


def _who(update: Update, *, server_admin: bool = False) -> Who:
    user, chat, msg = update.effective_user, update.effective_chat, update.effective_message
    assert user is not None and chat is not None
    return Who(
        "telegram",
        str(user.id),
        str(chat.id),
        str(chat.id) if chat.type in _GROUPS else None,  # a group is its own policy scope
        user.full_name,
        str(msg.message_id) if msg else None,
        server_admin,
    )


async def _is_group_admin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Whether Telegram says the sender administers the group this came from (a fact for
    bot.safety, which decides what that allows)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type not in _GROUPS:
        return False
    admins = await context.bot.get_chat_administrators(chat.id)
    return any(m.user.id == user.id for m in admins)


def _keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    rows = [[InlineKeyboardButton(**b) for b in row] for row in wire.keyboard(reply.buttons)]
    return InlineKeyboardMarkup(rows)


def _media(update: Update, who: Who | None = None) -> Media | None:
    msg = update.effective_message
    if msg is None:
        return None
    who, fwd = who or _who(update), _forwarded(msg)
    v = msg.video or msg.animation or msg.video_note  # an animation carries a document too
    if v is not None:
        name = (None if isinstance(v, VideoNote) else v.file_name) or "video.mp4"
        mime = (None if isinstance(v, VideoNote) else v.mime_type) or "video/mp4"
        return Media(who, "video", v.file_size, _fetcher(v), name, mime, None, fwd)
    a = msg.voice or msg.audio
    if a is not None:
        name = (a.file_name if isinstance(a, Audio) else None) or "voice.ogg"
        mime = a.mime_type or ""
        return Media(who, "audio", a.file_size, _fetcher(a), name, mime, _seconds(a), fwd)
    if msg.photo:
        p = max(msg.photo, key=lambda s: s.width * s.height)
        return Media(who, "image", p.file_size, _fetcher(p), "photo.jpg", "image/jpeg", None, fwd)
    if msg.document:
        d = msg.document
        return Media(
            who,
            media_kind(d.file_name or "", d.mime_type or ""),
            d.file_size,
            _fetcher(d),
            d.file_name or "",
            d.mime_type or "",
            forwarded=fwd,
        )
    return None


#: how Bot API servers before 7.0 marked a forward (PTB keeps fields it no longer knows in
#: ``api_kwargs``): a self-hosted server may still send them
_OLD_FORWARD = (
    "forward_from",
    "forward_from_chat",
    "forward_from_message_id",
    "forward_sender_name",
    "forward_signature",
    "forward_date",
)


def _forwarded(msg: Message) -> bool:
    """Whether Telegram says this message's content was first sent by someone else: a forward
    (``forward_origin``, or the older ``forward_*`` fields) whose origin is not the sender
    themselves, an automatic forward from a channel, or a file sent through an inline bot.
    A fact for bot.safety. A copy sent with "hide sender name" arrives as the sender's own:
    Telegram does not say."""
    sender = msg.from_user.id if msg.from_user else None
    origin = msg.forward_origin
    if origin is not None:
        return not (isinstance(origin, MessageOriginUser) and origin.sender_user.id == sender)
    if any(k in msg.api_kwargs for k in _OLD_FORWARD):
        first = msg.api_kwargs.get("forward_from")
        return not (isinstance(first, dict) and first.get("id") == sender)
    return bool(msg.is_automatic_forward) or msg.via_bot is not None


def _seconds(attachment: Audio | Voice) -> float:
    """The declared length of a voice note or audio file in seconds.

    PTB 22.2+ gives whole seconds with a deprecation warning, or a ``timedelta`` when the
    process opted in with ``PTB_TIMEDELTA``; both are read, and the warning (about PTB's next
    major version, which returns the ``timedelta`` this already handles) is not raised. The
    environment is not touched: it belongs to whoever starts the process."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        duration: object = attachment.duration
    if isinstance(duration, dt.timedelta):
        return duration.total_seconds()
    return float(duration) if isinstance(duration, int | float) else 0.0


def _fetcher(attachment: object) -> Callable[[], Awaitable[bytes]]:
    async def fetch() -> bytes:
        file = await attachment.get_file()  # type: ignore[attr-defined]
        return bytes(await file.download_as_bytearray())

    return fetch


async def _send(
    msg: Message | None,
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    actions: list[Action],
    *,
    private_to: int | None = None,
) -> None:
    """Answer in ``chat_id``. ``private_to``: the asker's user id when ``chat_id`` is not
    their private chat (a group): replies marked private (a moderator's view: other people's
    data) go to their private chat instead, and the group reads one line saying so, or, when
    Telegram refuses (they never started a chat with the bot), one line asking them to."""
    if private_to is not None and any(_private(a) for a in actions):
        try:
            await _post(context, private_to, [a for a in actions if _private(a)])
            note = texts.MOD_SENT_PRIVATELY
        except Forbidden:
            note = texts.MOD_ASK_PRIVATELY
        except TelegramError:
            log.warning("a private answer failed", exc_info=True)
            note = texts.OOPS
        shown = [a for a in actions if not _private(a)]
        first = next(i for i, a in enumerate(actions) if _private(a))
        actions = [*shown[:first], Reply(note), *shown[first:]]
    await _post(context, chat_id, actions)


def _private(action: Action) -> bool:
    return action.private and not isinstance(action, Notify)


async def _post(context: ContextTypes.DEFAULT_TYPE, chat_id: int, actions: list[Action]) -> None:
    for action in actions:
        if isinstance(action, Notify):  # someone else's chat (a moderator's decision)
            await context.bot.send_message(int(action.chat_id), action.text)
            continue
        await context.bot.send_message(chat_id, action.text, reply_markup=_keyboard(action))
        for a in action.attachments:  # a review's previews, for moderators
            await context.bot.send_document(chat_id, a.data, filename=a.name)


def build_application(
    token: str,
    api_root: str,
    handle: Handle,
    *,
    concurrent: bool = True,
    per_person: int = 20,
    on_poll: Callable[[], None] | None = None,
) -> Application:
    """A PTB Application whose handlers feed ``handle`` (the core service).

    ``concurrent=False`` handles updates one at a time (the old behaviour; the load
    benchmark compares both). ``on_poll`` is called after every answered getUpdates."""
    root = api_root.rstrip("/")
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .concurrent_updates(PersonLanes(per_person=per_person) if concurrent else False)
    )
    if on_poll is not None:
        builder = builder.get_updates_request(_PollingRequest(on_poll, connection_pool_size=1))
    app = builder.build()

    async def run(update: Update, context: ContextTypes.DEFAULT_TYPE, event: Event | None) -> None:
        chat = update.effective_chat
        if chat is None or event is None:
            return
        try:
            actions = await handle(event)
        except Exception:
            log.exception("update handling failed")
            actions = [Reply(texts.OOPS)]
        user = update.effective_user
        private_to = user.id if user is not None and chat.type != "private" else None
        await _send(update.effective_message, context, chat.id, actions, private_to=private_to)

    async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = (update.effective_message.text or "") if update.effective_message else ""
        name = text.split()[0].lstrip("/").split("@")[0].lower() if text else ""
        admin = name == "mod" and await _is_group_admin(update, context)
        who = _who(update, server_admin=admin)
        await run(update, context, Command(who, name, " ".join(context.args or [])))

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        await run(update, context, Text(_who(update), msg.text or "") if msg else None)

    async def on_media(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await run(update, context, _media(update))

    async def on_captioned(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A file whose caption is a ``/mod`` command (``/mod verify``): the command, with
        the file (read only by a command that takes one)."""
        msg = update.effective_message
        words = (msg.caption or "").split() if msg else []
        who = _who(update, server_admin=await _is_group_admin(update, context))
        file = _media(update, who)
        await run(update, context, Command(who, "mod", " ".join(words[1:]), file=file))

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        await query.answer()
        action, value = wire.decode(query.data or "")
        admin = action.startswith("mod_") and await _is_group_admin(update, context)
        await run(update, context, Button(_who(update, server_admin=admin), action, value))

    private = filters.ChatType.PRIVATE
    files = filters.VOICE | filters.AUDIO | filters.PHOTO | filters.Document.ALL | _VIDEOS
    app.add_handler(CommandHandler("mod", on_command, filters=private | filters.ChatType.GROUPS))
    app.add_handler(CommandHandler(list(COMMANDS), on_command, filters=private))
    app.add_handler(MessageHandler(private & filters.COMMAND, on_command))
    app.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, on_text))
    app.add_handler(
        MessageHandler(
            (private | filters.ChatType.GROUPS) & files & filters.CaptionRegex(_MOD_CAPTION),
            on_captioned,
        )
    )
    app.add_handler(MessageHandler(private & files, on_media))
    app.add_handler(CallbackQueryHandler(on_button))
    return app


async def start_telegram(
    settings: BotSettings,
    handle: Handle,
    *,
    on_alive: Callable[[], None] | None = None,
    metrics: Metrics | None = None,
) -> Stop:
    """The Telegram front-end as ``python -m bot`` runs it: long polling, or a webhook when
    TELEGRAM_WEBHOOK_URL is set. ``on_alive`` is called whenever the Bot API proved to
    answer (a poll; in webhook mode, a getWebhookInfo); ``metrics`` counts refused webhook
    requests. Returns the coroutine function that stops it (a webhook stays set; a later
    start in polling mode deletes it)."""
    hooked = bool(settings.telegram_webhook_url)
    app = build_application(
        settings.telegram_bot_token,
        settings.telegram_api_base_url,
        handle,
        per_person=settings.pending_per_person,
        on_poll=None if hooked else on_alive,
    )
    await app.initialize()
    await app.start()
    try:
        receiving = await _receive(app, settings, on_alive, metrics)
    except BaseException:
        await app.stop()
        await app.shutdown()
        raise
    log.info("telegram front-end running", extra={"mode": "webhook" if hooked else "polling"})

    async def stop() -> None:
        await receiving()
        await app.stop()
        await app.shutdown()

    return stop


async def _receive(
    app: Application,
    settings: BotSettings,
    on_alive: Callable[[], None] | None,
    metrics: Metrics | None,
) -> Stop:
    """Start updates flowing into ``app``; returns what stops them."""
    if not settings.telegram_webhook_url:
        assert app.updater is not None
        # deletes a webhook first: Telegram refuses getUpdates while one is set
        await app.updater.start_polling(
            drop_pending_updates=False, allowed_updates=list(ALLOWED_UPDATES)
        )
        return app.updater.stop

    def refused(reason: str) -> None:
        if metrics is not None:
            metrics.webhook_refused.labels(reason=reason).inc()

    hook = Webhook(
        url=settings.telegram_webhook_url,
        secret=settings.telegram_webhook_secret_token,
        host=settings.telegram_webhook_host,
        port=settings.telegram_webhook_port,
        allowed_updates=ALLOWED_UPDATES,
        # at least three checks within the time a dead front-end is given
        check_seconds=min(60.0, settings.frontend_timeout_seconds / 3),
    )
    return await start_webhook(app, hook, on_alive=on_alive or _nothing, refused=refused)


def _nothing() -> None:
    """No one listens for liveness."""
