"""Post the finished MP4 (or a failure notice) to a Discord channel with the bot token."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import aiohttp

from bot.delivery.telegram import DeliveryError

__all__ = ["DiscordDelivery"]

log = logging.getLogger(__name__)


class DiscordDelivery:
    """REST calls the worker makes: create a channel message (with a file)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str, *, tries: int = 4) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bot {token}", "User-Agent": "DiscordBot (mouthpiece, 0.1)"}
        self._tries = tries

    async def send_video(self, channel_id: str, path: Path, content: str = "") -> dict:
        video = path.read_bytes()

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            payload = {"content": content, "attachments": [{"id": 0, "filename": path.name}]}
            data.add_field("payload_json", json.dumps(payload), content_type="application/json")
            data.add_field("files[0]", io.BytesIO(video), filename=path.name, content_type="video/mp4")
            return data

        return await self._post(f"/channels/{channel_id}/messages", form)

    async def send_text(self, channel_id: str, content: str) -> dict:
        return await self._post(f"/channels/{channel_id}/messages", lambda: {"content": content[:2000]})

    async def _post(self, path: str, body: object) -> dict:
        delay = 1.0
        for attempt in range(1, self._tries + 1):
            payload = body() if callable(body) else body
            kwargs = {"data": payload} if isinstance(payload, aiohttp.FormData) else {"json": payload}
            try:
                async with self._session.post(self._base + path, headers=self._headers, **kwargs) as resp:
                    answer = await resp.json(content_type=None)
                    if resp.status in (200, 201):
                        return answer
                    if resp.status == 429 or resp.status >= 500:
                        delay = float((answer or {}).get("retry_after") or delay)
                        log.warning("discord %s answered %s; retrying in %.1fs", path, resp.status, delay)
                    else:
                        raise DeliveryError(f"discord {path}: {resp.status} {answer}", retryable=False)
            except (TimeoutError, aiohttp.ClientError) as e:
                log.warning("discord %s failed (%s); retrying", path, type(e).__name__)
            if attempt < self._tries:
                await asyncio.sleep(min(delay, 30))
                delay *= 2
        raise DeliveryError(f"discord {path}: gave up after {self._tries} tries", retryable=True)
