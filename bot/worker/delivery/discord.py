"""Post the finished MP4, failure notices and live status messages to a Discord channel.

The worker uses the bot token on the REST API (the interaction token dies after 15 minutes;
renders can take longer). Videos carry a nonce derived from the job id with
``enforce_nonce``, so a retry after a lost response cannot post a second copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import aiohttp

from bot.contract.events import ButtonSpec
from bot.contract.wire import discord as wire
from bot.worker.delivery.http import DeliveryError, Verdict, post_with_retries

__all__ = ["DiscordDelivery", "DeliveryError", "nonce_for"]


def nonce_for(key: str) -> str:
    """A nonce of at most 25 characters, the same for every try of one delivery."""
    return hashlib.sha256(key.encode()).hexdigest()[:25]


def _judge(status: int, answer: Any) -> Verdict:
    if status in (200, 201):
        return Verdict(True, answer or {})
    if status == 429 or status >= 500:
        after = (answer or {}).get("retry_after") if isinstance(answer, dict) else None
        return Verdict(False, retry=True, after=float(after) if after is not None else None)
    return Verdict(False, detail=f"{status} {answer}")


def _judge_delete(status: int, answer: Any) -> Verdict:
    """A message delete: 204 No Content; a message (or channel) already gone counts too."""
    if status in (200, 204, 404):
        return Verdict(True, {})
    return _judge(status, answer)


class DiscordDelivery:
    """REST calls the worker makes: create, edit and delete channel messages (with a file),
    open a person's direct messages."""

    platform = "discord"

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, token: str, *, tries: int = 4
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bot {token}",
            "User-Agent": "DiscordBot (mouthpiece, 0.1)",
        }
        self._tries = tries

    async def send_video(
        self, channel_id: str, path: Path, content: str = "", *, key: str = ""
    ) -> dict[str, Any]:
        video = await asyncio.to_thread(path.read_bytes)  # not on the event loop
        payload: dict[str, Any] = {
            "content": content,
            "attachments": [{"id": 0, "filename": path.name}],
        }
        if key:
            payload.update(nonce=nonce_for(key), enforce_nonce=True)

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("payload_json", json.dumps(payload), content_type="application/json")
            data.add_field(
                "files[0]", io.BytesIO(video), filename=path.name, content_type="video/mp4"
            )
            return data

        return await self._request("POST", f"/channels/{channel_id}/messages", form)

    async def send_text(self, channel_id: str, content: str) -> dict[str, Any]:
        return await self._request(
            "POST", f"/channels/{channel_id}/messages", lambda: {"content": content[:2000]}
        )

    async def send_status(
        self, channel_id: str, text: str, buttons: tuple[ButtonSpec, ...], *, user_id: str = ""
    ) -> str:
        """Post a message with buttons; ``channel_id`` may name a person's direct messages
        (:func:`bot.contract.wire.discord.dm_chat`: an operator's review request), whose
        channel is opened first."""
        recipient = wire.dm_recipient(channel_id)
        if recipient is not None:
            channel_id = await self.open_dm(recipient)
        body = {"content": text[:2000], "components": wire.components(user_id, buttons)}
        answer = await self._request("POST", f"/channels/{channel_id}/messages", lambda: body)
        return str(answer.get("id", ""))

    async def open_dm(self, user_id: str) -> str:
        """The id of the bot's direct-message channel with a user: Discord opens one, or
        answers the one already open."""
        answer = await self._request(
            "POST", "/users/@me/channels", lambda: {"recipient_id": user_id}
        )
        channel = str(answer.get("id", ""))
        if not channel:
            raise DeliveryError("discord opened no DM channel", retryable=False)
        return channel

    async def edit_status(
        self,
        channel_id: str,
        message_id: str,
        text: str,
        buttons: tuple[ButtonSpec, ...],
        *,
        user_id: str = "",
    ) -> None:
        body = {"content": text[:2000], "components": wire.components(user_id, buttons)}
        await self._request("PATCH", f"/channels/{channel_id}/messages/{message_id}", lambda: body)

    async def delete_message(self, channel_id: str, message_id: str) -> str:
        """Delete a message the bot posted: "" when it is gone (deleted now, or already, or
        with its channel), else Discord's reason (the bot lost access to the channel).
        Raises :class:`DeliveryError` only when Discord kept failing (retryable)."""
        try:
            await post_with_retries(
                self._session,
                "DELETE",
                f"{self._base}/channels/{channel_id}/messages/{message_id}",
                lambda: {},
                _judge_delete,
                what=f"discord DELETE message in {channel_id}",
                headers=self._headers,
                tries=self._tries,
            )
        except DeliveryError as e:
            if e.retryable:
                raise
            return str(e).partition(": ")[2] or str(e)
        return ""

    async def show_working(self, chat_id: str) -> bool:
        """No indicator is shown on Discord while a video is made."""
        return False

    async def _request(self, method: str, path: str, body: Any) -> dict[str, Any]:
        result = await post_with_retries(
            self._session,
            method,
            self._base + path,
            body,
            _judge,
            what=f"discord {method} {path}",
            headers=self._headers,
            tries=self._tries,
        )
        return result if isinstance(result, dict) else {}
