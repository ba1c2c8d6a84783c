"""A stand-in for Telegram's Bot API on 127.0.0.1 that the real python-telegram-bot talks to.

It feeds updates the test queues (long polling, or, once ``setWebhook`` was called, POSTed to
the webhook with its secret header, retried until answered 2xx, as Telegram does), serves
uploaded files, and records every call the bot and the worker make (sendMessage, sendVideo
with its bytes, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import BodyPartReader, web

BOT = {"id": 4242, "is_bot": True, "first_name": "Mouthpiece", "username": "mouthpiece_test_bot"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """One POST of an update to the webhook, and how the bot answered it (0: no answer)."""

    update_id: int
    status: int
    secret: str | None  # the X-Telegram-Bot-Api-Secret-Token sent


@dataclass
class _Hook:
    url: str
    secret: str | None
    allowed_updates: list[str] | None
    max_connections: int


class TelegramStandIn:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}
        self._updates: list[dict[str, Any]] = []
        self._new = asyncio.Event()
        self._ids = itertools.count(1)
        self._msg_ids = itertools.count(100)
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.fail_next: dict[str, list[int]] = {}  # method -> statuses to answer before succeeding
        self.chat_admins: dict[int, list[int]] = {}  # group chat id -> its administrators' ids
        self.drop_next: dict[str, int] = {}  # method -> calls to handle but never answer
        self.retry_after: float = 1  # seconds a 429 from fail_next asks the caller to wait
        self.posted: list[tuple[str, str, int]] = []  # (method, chat id, message id) sent
        self.deleted: list[tuple[str, int]] = []  # (chat id, message id) deleteMessage removed
        #: message ids deleteMessage refuses as Telegram does a bot's message over 48 hours old
        self.undeletable: set[int] = set()
        #: chats that never started the bot: Telegram refuses to send there (403)
        self.unreachable: set[int] = set()
        self.polls = 0  # getUpdates calls (not in ``calls``: there are many)
        self.hook: _Hook | None = None  # the webhook setWebhook set
        self.deliveries: list[Delivery] = []
        self.retry_seconds = 0.1  # wait before delivering again after a non-2xx answer
        self._acked = 0  # the last update id the bot confirmed (getUpdates offset, a 2xx)
        self._delivering: asyncio.Task[None] | None = None
        self._last_error: tuple[int, str] | None = None  # (date, message) of a failed POST

    # ---- server ------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        await self._stop_delivering()
        if self.runner:
            await self.runner.cleanup()

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename:
                    files[part.name] = bytes(await part.read())
                else:
                    params[part.name] = (await part.read()).decode()
        elif request.can_read_body:
            params.update(await request.post())
        return params, files

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, files = await self._params(request)
        if method != "getUpdates":
            self.calls.append(Call(method, params, files))
        else:
            self.polls += 1
        if self.drop_next.get(method, 0) > 0:  # it arrived, but the answer is lost on the way
            self.drop_next[method] -= 1
            handler = getattr(self, f"_{method}", None)
            if handler:
                await handler(params)
            assert request.transport is not None
            request.transport.close()
            raise web.HTTPServiceUnavailable()
        refused = self._refusal(method, params)
        if refused is not None:
            code, description = refused
            body = {"ok": False, "error_code": code, "description": description}
            return web.json_response(body, status=code)
        statuses = self.fail_next.get(method)
        if statuses:
            code = statuses.pop(0)
            if code in (502, 504):  # what a reverse proxy in front of the Bot API answers
                return web.Response(
                    status=code, text="<html>Bad Gateway</html>", content_type="text/html"
                )
            body = {"ok": False, "error_code": code, "description": "stand-in failure"}
            if code == 429:
                body["parameters"] = {"retry_after": self.retry_after}
            return web.json_response(body, status=code)
        handler = getattr(self, f"_{method}", None)
        result = await handler(params) if handler else True
        if method.startswith("send") and isinstance(result, dict) and "message_id" in result:
            self.posted.append((method, str(params.get("chat_id")), int(result["message_id"])))
        return web.json_response({"ok": True, "result": result})

    def _refusal(self, method: str, params: dict[str, Any]) -> tuple[int, str] | None:
        """Telegram's own refusals: a private chat with someone who never started the bot;
        a message the bot may no longer delete (``undeletable``), or one already deleted."""
        chat = params.get("chat_id")
        if method == "getUpdates" and self.hook is not None:
            return 409, "Conflict: can't use getUpdates method while webhook is active"
        if method.startswith("send") and chat is not None and int(chat) in self.unreachable:
            return 403, "Forbidden: bot can't initiate conversation with a user"
        if method == "deleteMessage":
            message = int(params.get("message_id") or 0)
            if message in self.undeletable:
                return 400, "Bad Request: message can't be deleted for everyone"
            if (str(chat), message) in self.deleted:
                return 400, "Bad Request: message to delete not found"
        return None

    async def _deleteMessage(self, p: dict[str, Any]) -> bool:  # noqa: N802
        self.deleted.append((str(p["chat_id"]), int(p["message_id"])))
        return True

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["path"])
        return web.Response(body=data) if data is not None else web.Response(status=404)

    # ---- methods -----------------------------------------------------------------------
    async def _getMe(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return BOT

    async def _getUpdates(self, p: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: N802
        offset = int(p.get("offset") or 0)
        self._acked = max(self._acked, offset - 1)  # as on Telegram: an offset confirms
        timeout = float(p.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 2.0)
        while True:
            ready = [u for u in self._updates if u["update_id"] >= offset]
            if ready or time.monotonic() >= deadline:
                return ready
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), max(0.01, deadline - time.monotonic()))

    # ---- webhook ----------------------------------------------------------------------
    async def _setWebhook(self, p: dict[str, Any]) -> bool:  # noqa: N802
        allowed = p.get("allowed_updates")
        self.hook = _Hook(
            url=str(p["url"]),
            secret=p.get("secret_token"),
            allowed_updates=json.loads(allowed) if isinstance(allowed, str) else allowed,
            max_connections=int(p.get("max_connections") or 40),
        )
        if _flag(p.get("drop_pending_updates")):
            self._acked = max([self._acked, *(u["update_id"] for u in self._updates)])
        self._last_error = None
        if self._delivering is None or self._delivering.done():
            self._delivering = asyncio.create_task(self._deliver())
        self._new.set()
        return True

    async def _deleteWebhook(self, p: dict[str, Any]) -> bool:  # noqa: N802
        self.hook = None
        if _flag(p.get("drop_pending_updates")):
            self._acked = max([self._acked, *(u["update_id"] for u in self._updates)])
        self._new.set()  # the delivery loop sees no webhook and ends
        return True

    async def _getWebhookInfo(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        hook = self.hook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending()),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            if hook.allowed_updates is not None:
                info["allowed_updates"] = hook.allowed_updates
        if self._last_error is not None:
            info["last_error_date"], info["last_error_message"] = self._last_error
        return info

    def delete_webhook(self) -> None:
        """Remove the webhook behind the bot's back (as a copy of it polling elsewhere does)."""
        self.hook = None
        self._new.set()

    def _pending(self) -> list[dict[str, Any]]:
        return [u for u in self._updates if u["update_id"] > self._acked]

    async def _deliver(self) -> None:
        """POST pending updates one at a time, in order, while a webhook is set."""
        async with aiohttp.ClientSession() as session:
            while self.hook is not None:
                pending = self._pending()
                if not pending:
                    self._new.clear()
                    await self._new.wait()
                    continue
                if await self._post(session, self.hook, pending[0]):
                    self._acked = max(self._acked, pending[0]["update_id"])
                else:
                    await asyncio.sleep(self.retry_seconds)

    async def _post(
        self, session: aiohttp.ClientSession, hook: _Hook, update: dict[str, Any]
    ) -> bool:
        headers = {"X-Telegram-Bot-Api-Secret-Token": hook.secret} if hook.secret else {}
        try:
            async with session.post(hook.url, json=update, headers=headers) as resp:
                status = resp.status
        except aiohttp.ClientError as e:
            status, error = 0, f"Connection failed: {type(e).__name__}"
        else:
            error = f"Wrong response from the webhook: {status}"
        self.deliveries.append(Delivery(update["update_id"], status, hook.secret))
        if 200 <= status < 300:
            return True
        self._last_error = (int(time.time()), error)
        return False

    async def _stop_delivering(self) -> None:
        if self._delivering is not None:
            self._delivering.cancel()
            await asyncio.gather(self._delivering, return_exceptions=True)

    def _message(self, chat_id: Any, **extra: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._msg_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": BOT,
            **extra,
        }

    async def _sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._message(p["chat_id"], text=p.get("text", ""))

    async def _editMessageText(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._message(p["chat_id"], text=p.get("text", ""))

    async def _sendVideo(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        video = {"file_id": "v1", "file_unique_id": "v1", "width": 2, "height": 2, "duration": 1}
        return self._message(p["chat_id"], video=video)

    async def _sendDocument(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        doc = {"file_id": "d1", "file_unique_id": "d1"}
        return self._message(p["chat_id"], document=doc)

    async def _getFile(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        fid = p["file_id"]
        return {
            "file_id": fid,
            "file_unique_id": fid,
            "file_size": len(self.files.get(fid, b"")),
            "file_path": fid,
        }

    # ---- feeding updates ---------------------------------------------------------------
    def _push(self, **payload: Any) -> None:
        self._updates.append({"update_id": next(self._ids), **payload})
        self._new.set()

    @staticmethod
    def _chat(chat_id: int) -> dict[str, Any]:
        """Negative ids are groups (as on Telegram); others are private chats with Ada."""
        if int(chat_id) < 0:
            return {"id": int(chat_id), "type": "group", "title": "Group"}
        return {"id": int(chat_id), "type": "private", "first_name": "Ada"}

    def _user_message(
        self, chat_id: int, *, user_id: int | None = None, **extra: Any
    ) -> dict[str, Any]:
        user = {"id": user_id or chat_id, "is_bot": False, "first_name": "Ada"}
        return {
            "message_id": next(self._msg_ids),
            "date": int(time.time()),
            "from": user,
            "chat": self._chat(chat_id),
            **extra,
        }

    def send_text(self, chat_id: int, text: str, *, user_id: int | None = None) -> None:
        extra: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            extra["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
        self._push(message=self._user_message(chat_id, user_id=user_id, **extra))

    async def _getChatAdministrators(self, p: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: N802
        return [
            {
                "status": "creator",
                "is_anonymous": False,
                "user": {"id": uid, "is_bot": False, "first_name": "Admin"},
            }
            for uid in self.chat_admins.get(int(p["chat_id"]), [])
        ]

    def send_voice(
        self, chat_id: int, data: bytes, duration: int, *, size: int | None = None, **extra: Any
    ) -> None:
        """A voice note; ``extra``: more fields of the message (``forward_origin``, say)."""
        fid = f"voice{len(self.files)}"
        self.files[fid] = data
        voice = {
            "file_id": fid,
            "file_unique_id": fid,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": size if size is not None else len(data),
        }
        self._push(message=self._user_message(chat_id, voice=voice, **extra))

    def send_photo(
        self, chat_id: int, data: bytes, *, size: int | None = None, **extra: Any
    ) -> None:
        fid = f"photo{len(self.files)}"
        self.files[fid] = data
        sizes = [
            {
                "file_id": fid + "s",
                "file_unique_id": fid + "s",
                "width": 90,
                "height": 90,
                "file_size": 100,
            },
            {
                "file_id": fid,
                "file_unique_id": fid,
                "width": 512,
                "height": 512,
                "file_size": size if size is not None else len(data),
            },
        ]
        self._push(message=self._user_message(chat_id, photo=sizes, **extra))

    def send_document(
        self,
        chat_id: int,
        data: bytes,
        name: str,
        mime: str,
        *,
        user_id: int | None = None,
        **extra: Any,
    ) -> None:
        """A file sent as a document; ``extra``: more fields of the message (``caption``)."""
        fid = f"doc{len(self.files)}"
        self.files[fid] = data
        doc = {
            "file_id": fid,
            "file_unique_id": fid,
            "file_name": name,
            "mime_type": mime,
            "file_size": len(data),
        }
        self._push(message=self._user_message(chat_id, user_id=user_id, document=doc, **extra))

    def send_video(
        self,
        chat_id: int,
        data: bytes,
        *,
        size: int | None = None,
        user_id: int | None = None,
        **extra: Any,
    ) -> None:
        """A video message (as Telegram's apps send an MP4); ``extra``: ``caption``, ..."""
        fid = f"video{len(self.files)}"
        self.files[fid] = data
        video = {
            "file_id": fid,
            "file_unique_id": fid,
            "width": 512,
            "height": 512,
            "duration": 3,
            "mime_type": "video/mp4",
            "file_size": size if size is not None else len(data),
        }
        self._push(message=self._user_message(chat_id, user_id=user_id, video=video, **extra))

    def press(self, chat_id: int, data: str, *, user_id: int | None = None) -> None:
        user = {"id": user_id or chat_id, "is_bot": False, "first_name": "Ada"}
        query = {
            "id": str(next(self._ids)),
            "from": user,
            "chat_instance": "ci",
            "data": data,
            "message": self._message(chat_id, text="buttons"),
        }
        self._push(callback_query=query)

    # ---- reading what the bot did ------------------------------------------------------
    def texts(self, chat_id: int) -> list[str]:
        return [
            c.params.get("text", "")
            for c in self.calls
            if c.method == "sendMessage" and str(c.params.get("chat_id")) == str(chat_id)
        ]

    def buttons(self, chat_id: int) -> list[str]:
        out = []
        for c in self.calls:
            if c.method == "sendMessage" and str(c.params.get("chat_id")) == str(chat_id):
                markup = c.params.get("reply_markup")
                if isinstance(markup, str):
                    markup = json.loads(markup)
                for row in (markup or {}).get("inline_keyboard", []):
                    out += [b["callback_data"] for b in row]
        return out

    def edits(self, chat_id: int) -> list[str]:
        return [
            c.params.get("text", "")
            for c in self.calls
            if c.method == "editMessageText" and str(c.params.get("chat_id")) == str(chat_id)
        ]

    def documents(self, chat_id: int) -> list[bytes]:
        return [
            c.files["document"]
            for c in self.calls
            if c.method == "sendDocument" and str(c.params.get("chat_id")) == str(chat_id)
        ]

    def videos(self, chat_id: int) -> list[bytes]:
        return [
            c.files["video"]
            for c in self.calls
            if c.method == "sendVideo" and str(c.params.get("chat_id")) == str(chat_id)
        ]

    def webhook_calls(self) -> list[str]:
        """setWebhook / deleteWebhook / getWebhookInfo, in the order the bot called them."""
        return [c.method for c in self.calls if "Webhook" in c.method]

    async def wait_for(self, predicate: Any, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                seen = [(c.method, c.params.get("text")) for c in self.calls]
                raise AssertionError(f"timed out; calls so far: {seen}")
            await asyncio.sleep(0.05)


def _flag(value: object) -> bool:
    """A boolean parameter as PTB sends it (JSON text in a form) or as JSON."""
    return value is True or (isinstance(value, str) and value.lower() == "true")
