"""Send the finished MP4 (or a failure notice) to a Telegram chat through the Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from pathlib import Path

import aiohttp

__all__ = ["TelegramDelivery", "DeliveryError"]

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """The platform refused or kept failing; ``retryable`` says whether a later try may work."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class TelegramDelivery:
    """Bot API calls the worker makes: sendVideo, sendMessage, sendChatAction."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, token: str, *, tries: int = 4
    ) -> None:
        self._session = session
        self._root = f"{base_url.rstrip('/')}/bot{token}"
        self._tries = tries

    async def send_video(self, chat_id: str, path: Path, caption: str = "") -> None:
        video = path.read_bytes()

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("chat_id", chat_id)
            data.add_field("supports_streaming", "true")
            if caption:
                data.add_field("caption", caption)
            data.add_field("video", io.BytesIO(video), filename=path.name, content_type="video/mp4")
            return data

        await self._call("sendVideo", form)

    async def send_text(self, chat_id: str, text: str) -> None:
        await self._call("sendMessage", lambda: {"chat_id": chat_id, "text": text})

    async def chat_action(self, chat_id: str, action: str = "upload_video") -> None:
        with contextlib.suppress(DeliveryError):  # cosmetic
            await self._call("sendChatAction", lambda: {"chat_id": chat_id, "action": action})

    async def _call(self, method: str, body: object) -> dict:
        delay = 1.0
        for attempt in range(1, self._tries + 1):
            payload = body() if callable(body) else body
            kwargs = (
                {"data": payload} if isinstance(payload, aiohttp.FormData) else {"json": payload}
            )
            try:
                async with self._session.post(f"{self._root}/{method}", **kwargs) as resp:
                    answer = await resp.json(content_type=None)
                    if resp.status == 200 and answer.get("ok"):
                        return answer.get("result", {})
                    retry_after = (answer.get("parameters") or {}).get("retry_after")
                    if resp.status == 429 or resp.status >= 500:
                        delay = float(retry_after or delay)
                        log.warning(
                            "telegram %s answered %s; retrying in %.1fs", method, resp.status, delay
                        )
                    else:
                        raise DeliveryError(
                            f"telegram {method}: {resp.status} {answer.get('description')}",
                            retryable=False,
                        )
            except (TimeoutError, aiohttp.ClientError) as e:
                log.warning("telegram %s failed (%s); retrying", method, type(e).__name__)
            if attempt < self._tries:
                await asyncio.sleep(min(delay, 30))
                delay *= 2
        raise DeliveryError(f"telegram {method}: gave up after {self._tries} tries", retryable=True)
