"""Send the finished MP4, failure notices and live status messages through the Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path
from typing import Any

import aiohttp

from bot.contract.events import ButtonSpec
from bot.contract.wire import telegram as wire
from bot.worker.delivery.http import DeliveryError, Judge, Verdict, post_with_retries

__all__ = ["TelegramDelivery", "DeliveryError"]


def _judge(status: int, answer: Any) -> Verdict:
    answer = answer if isinstance(answer, dict) else {}
    if status == 200 and answer.get("ok"):
        return Verdict(True, answer.get("result", {}))
    description = str(answer.get("description", ""))
    if status == 400 and "message is not modified" in description:
        return Verdict(True, {})  # an edit to the same text: nothing to do
    if status == 429 or status >= 500:
        after = (answer.get("parameters") or {}).get("retry_after")
        return Verdict(False, retry=True, after=float(after) if after is not None else None)
    return Verdict(False, detail=f"{status} {description}")


def _judge_delete(status: int, answer: Any) -> Verdict:
    """deleteMessage: a message already gone counts as deleted."""
    description = str((answer if isinstance(answer, dict) else {}).get("description", ""))
    if status == 400 and "not found" in description:
        return Verdict(True, True)
    return _judge(status, answer)


def _markup(buttons: tuple[ButtonSpec, ...]) -> str:
    return json.dumps({"inline_keyboard": wire.keyboard(buttons)})


class TelegramDelivery:
    """Bot API calls the worker makes: sendVideo, sendMessage, editMessageText, sendChatAction,
    deleteMessage."""

    platform = "telegram"

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, token: str, *, tries: int = 4
    ) -> None:
        self._session = session
        self._root = f"{base_url.rstrip('/')}/bot{token}"
        self._tries = tries

    async def send_video(
        self, chat_id: str, path: Path, caption: str = "", *, key: str = ""
    ) -> dict[str, Any]:
        video = await asyncio.to_thread(path.read_bytes)  # up to 50 MB: not on the event loop

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("chat_id", chat_id)
            data.add_field("supports_streaming", "true")
            if caption:
                data.add_field("caption", caption)
            data.add_field("video", io.BytesIO(video), filename=path.name, content_type="video/mp4")
            return data

        message: dict[str, Any] = await self._call("sendVideo", form, idempotent=False)
        return message  # (no idempotency key) its message_id: a takedown deletes it

    async def send_text(self, chat_id: str, text: str) -> None:
        await self._call("sendMessage", lambda: {"chat_id": chat_id, "text": text})

    async def send_status(
        self, chat_id: str, text: str, buttons: tuple[ButtonSpec, ...], *, user_id: str = ""
    ) -> str:
        """Post a status message; returns its message id for later edits."""
        body: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if buttons:
            body["reply_markup"] = _markup(buttons)
        result = await self._call("sendMessage", lambda: body)
        return str(result.get("message_id", ""))

    async def edit_status(
        self,
        chat_id: str,
        message_id: str,
        text: str,
        buttons: tuple[ButtonSpec, ...],
        *,
        user_id: str = "",
    ) -> None:
        body: dict[str, Any] = {"chat_id": chat_id, "message_id": int(message_id), "text": text}
        body["reply_markup"] = _markup(buttons)  # an empty keyboard removes the Cancel button
        await self._call("editMessageText", lambda: body)

    async def delete_message(self, chat_id: str, message_id: str) -> str:
        """Delete a message the bot posted: "" when it is gone (deleted now, or already),
        else Telegram's reason (a bot may delete a message only within 48 hours of posting
        it). Raises :class:`DeliveryError` only when Telegram kept failing (retryable)."""
        body = {"chat_id": chat_id, "message_id": int(message_id)}
        try:
            await self._call("deleteMessage", lambda: body, judge=_judge_delete)
        except DeliveryError as e:
            if e.retryable:
                raise
            return str(e).partition(": ")[2] or str(e)
        return ""

    async def show_working(self, chat_id: str) -> bool:
        """Telegram's "sending video…" under the chat's name, for about five seconds."""
        await self.chat_action(chat_id, "upload_video")
        return True

    async def chat_action(self, chat_id: str, action: str = "upload_video") -> None:
        with contextlib.suppress(DeliveryError):  # cosmetic
            await self._call("sendChatAction", lambda: {"chat_id": chat_id, "action": action})

    async def _call(
        self, method: str, body: Any, *, idempotent: bool = True, judge: Judge = _judge
    ) -> Any:
        return await post_with_retries(
            self._session,
            "POST",
            f"{self._root}/{method}",
            body,
            judge,
            what=f"telegram {method}",
            tries=self._tries,
            idempotent=idempotent,
        )
