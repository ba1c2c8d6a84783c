"""A stand-in for Discord's REST API and gateway on 127.0.0.1 that the real discord.py talks to.

REST: it answers login, ``/gateway/bot``, command sync, interaction callbacks, webhook
follow-ups, channel messages and opening a user's DM channel (``POST /users/@me/channels``:
one channel per recipient, the same one each time), serves attachment bytes, records every
request, can fail a route a few times (429/500), and can handle a request and then lose its
answer (the connection closes before it is sent).

Gateway (``/gateway``, websockets, one per shard): HELLO, then IDENTIFY -> READY (or
RESUME -> RESUMED), heartbeats answered with ACKs, and :meth:`DiscordStandIn.dispatch` sends
events such as ``INTERACTION_CREATE`` to the shard Discord would: a server's to shard
``(guild_id >> 22) % shard_count``, anything else (DMs) to shard 0. ``/gateway/bot``
recommends ``shards``. :meth:`DiscordStandIn.drop_shard` closes one shard's socket and keeps
it out (an outage of that shard). Messages go out compressed as the client asks
(``zlib-stream``, or ``zstd-stream`` when discord.py finds zstandard), like Discord's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

APP_ID = "5550001"
BOT_USER = {
    "id": "5550002",
    "username": "mouthpiece",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """discord.py wants Content-Type exactly "application/json" (no charset)."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def user(uid: str, name: str = "ada") -> dict[str, Any]:
    return {
        "id": uid,
        "username": name,
        "discriminator": "0",
        "global_name": name.title(),
        "avatar": None,
    }


@dataclass
class _Socket:
    """One gateway connection: its compression, and the shard it IDENTIFYed or RESUMEd as."""

    ws: web.WebSocketResponse
    pack: Callable[[bytes], bytes]
    shard: tuple[int, int] | None = None  # [shard id, shard count]


def shard_of(guild_id: int | str, shard_count: int) -> int:
    """The shard Discord sends a server's events to."""
    return (int(guild_id) >> 22) % shard_count


@dataclass
class Req:
    method: str
    path: str
    json: Any = None
    files: dict[str, bytes] = field(default_factory=dict)


class DiscordStandIn:
    def __init__(self) -> None:
        self.requests: list[Req] = []
        self.attachments: dict[str, bytes] = {}
        self.nonces: dict[str, Any] = {}
        self.fail: dict[str, list[int]] = {}  # path prefix -> statuses to answer first
        self.drop: dict[str, int] = {}  # "POST /path" -> requests to handle, then not answer
        self.created: list[dict[str, Any]] = []  # channel messages as created, in order
        self.deleted: list[tuple[str, str]] = []  # (channel id, message id) deleted
        self.undeletable: set[str] = set()  # message ids a DELETE is refused for (403)
        self.dms: dict[str, str] = {}  # recipient's user id -> the bot's DM channel with them
        self._ids = itertools.count(900_000_000_000_000_000)
        self.runner: web.AppRunner | None = None
        self.url = ""
        # gateway
        self.heartbeat_ms = 250
        self.shards = 1  # what /gateway/bot recommends
        self.max_concurrency = 1  # shards that may IDENTIFY at once, as /gateway/bot says
        self.gateway_ops: list[dict[str, Any]] = []  # what the client sent, in order
        self.heartbeats = 0
        self.compress = ""  # the transport compression the client asked for (last socket)
        self.sent: list[tuple[int, str]] = []  # (shard, event) of every dispatch, in order
        self.held: set[int] = set()  # shards kept out: their IDENTIFY/RESUME go unanswered
        self._sockets: list[_Socket] = []
        self._shards: dict[int, _Socket] = {}  # shard id -> its live session's socket
        self._seq = 0

    async def start(self) -> str:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/att/{name}", self._attachment)
        app.router.add_route("*", "/api/v10/{path:.*}", self._api)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    @property
    def api(self) -> str:
        return self.url + "/api/v10"

    @property
    def gateway_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/gateway"

    async def stop(self) -> None:
        for sock in list(self._sockets):
            await sock.ws.close()
        if self.runner:
            await self.runner.cleanup()

    # ---- gateway ---------------------------------------------------------------------------
    @property
    def identified(self) -> bool:
        return any(op["op"] == 2 for op in self.gateway_ops)

    def connected_shards(self) -> list[int]:
        """The shards with a live session (READY or RESUMED), lowest first."""
        return sorted(self._shards)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.compress = request.query.get("compress", "")
        sock = _Socket(ws, _packer(self.compress))
        self._sockets.append(sock)
        try:
            await self._send(sock, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                await self._received(sock, json.loads(msg.data))
        finally:
            self._sockets.remove(sock)
            if sock.shard is not None and self._shards.get(sock.shard[0]) is sock:
                del self._shards[sock.shard[0]]
        return ws

    async def _received(self, sock: _Socket, payload: dict[str, Any]) -> None:
        self.gateway_ops.append(payload)
        op = payload["op"]
        if op == 1:  # HEARTBEAT -> HEARTBEAT_ACK
            self.heartbeats += 1
            await self._send(sock, {"op": 11})
        elif op == 2:  # IDENTIFY -> READY
            shard_id, count = payload["d"].get("shard", [0, 1])
            await self._session(sock, (shard_id, count), "READY", self._ready(shard_id, count))
        elif op == 6:  # RESUME -> RESUMED, for a session READY gave
            _, _, shard = payload["d"]["session_id"].rpartition("-")
            count = next((s.shard[1] for s in self._sockets if s.shard), 1)
            await self._session(sock, (int(shard), count), "RESUMED", {})

    async def _session(
        self, sock: _Socket, shard: tuple[int, int], event: str, data: dict[str, Any]
    ) -> None:
        if shard[0] in self.held:
            return  # an outage of this shard: the session never starts
        sock.shard = shard
        self._shards[shard[0]] = sock
        await self._dispatch_on(sock, event, data)

    def _ready(self, shard_id: int, count: int) -> dict[str, Any]:
        return {
            "v": 10,
            "user": BOT_USER,
            "guilds": [],
            "private_channels": [],
            "session_id": f"stand-in-session-{shard_id}",  # a RESUME names its shard by it
            "resume_gateway_url": self.gateway_url,
            "application": {"id": APP_ID, "flags": 0},
            "shard": [shard_id, count],
        }

    async def _send(self, sock: _Socket, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        packed = sock.pack(data)
        if packed is data:
            await sock.ws.send_str(data.decode())
        else:
            await sock.ws.send_bytes(packed)

    async def _dispatch_on(self, sock: _Socket, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        assert sock.shard is not None
        self.sent.append((sock.shard[0], event))
        await self._send(sock, {"op": 0, "t": event, "s": self._seq, "d": data})

    def shard_for(self, data: dict[str, Any]) -> int:
        """The shard Discord sends an event with this payload to (a server's by its id)."""
        counts = {s.shard[1] for s in self._shards.values() if s.shard}
        assert counts, "no gateway connection"
        assert len(counts) == 1, f"the shards connected disagree on the shard count: {counts}"
        guild = data.get("guild_id")
        return 0 if guild is None else shard_of(guild, counts.pop())

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH (op 0) event, e.g. ``INTERACTION_CREATE``, to the bot's shard for
        it; fails if that shard is not connected (an event Discord could not deliver)."""
        shard = self.shard_for(data)
        sock = self._shards.get(shard)
        assert sock is not None, (
            f"{event} belongs to shard {shard}, which is not connected "
            f"(connected: {self.connected_shards()})"
        )
        await self._dispatch_on(sock, event, data)

    async def drop_shard(self, shard_id: int) -> None:
        """Close shard ``shard_id``'s socket and keep the shard out: its reconnection gets a
        HELLO and heartbeat ACKs, but its RESUME or IDENTIFY is never answered."""
        self.held.add(shard_id)
        sock = self._shards.pop(shard_id)
        await sock.ws.close()

    def snowflake(self) -> str:
        return str(next(self._ids))

    def message(self, channel_id: str, body: Any) -> dict[str, Any]:
        body = body or {}
        return {
            "id": self.snowflake(),
            "channel_id": channel_id,
            "author": BOT_USER,
            "content": body.get("content", ""),
            "timestamp": "2026-11-24T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": body.get("components", []),
        }

    async def _attachment(self, request: web.Request) -> web.Response:
        return web.Response(body=self.attachments[request.match_info["name"]])

    async def _api(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body: Any = None
        files: dict[str, bytes] = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                elif part.filename:
                    files[part.name] = bytes(await part.read())
        elif request.can_read_body:
            body = await request.json()
        self.requests.append(Req(request.method, path, body, files))
        for prefix, statuses in self.fail.items():
            if path.startswith(prefix) and statuses:
                code = statuses.pop(0)
                return _json(
                    {"message": "stand-in", "code": 0, "retry_after": 0.2, "global": False},
                    status=code,
                    headers={"X-RateLimit-Bucket": "b", "Retry-After": "0.2"},
                )
        if request.method == "DELETE" and path.startswith("/channels/") and "/messages/" in path:
            return self._delete(path)
        answer = self._answer(request.method, path, body)
        route = f"{request.method} {path}"
        if self.drop.get(route, 0) > 0:  # handled, but the answer is lost on the way
            self.drop[route] -= 1
            assert request.transport is not None
            request.transport.close()
            raise web.HTTPServiceUnavailable()
        return _json(answer)

    def _delete(self, path: str) -> web.Response:
        """DELETE a channel message: 204; 404 for one already gone; 403 for ``undeletable``
        (the bot lost access to the channel)."""
        parts = path.split("/")  # "", "channels", channel, "messages", message
        channel, message = parts[2], parts[4]
        if message in self.undeletable:
            return _json({"message": "Missing Access", "code": 50001}, status=403)
        if (channel, message) in self.deleted:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        self.deleted.append((channel, message))
        return web.Response(status=204)

    def _answer(self, method: str, path: str, body: Any) -> Any:
        if path == "/users/@me":
            return BOT_USER
        if method == "POST" and path == "/users/@me/channels":
            return self._dm_channel(str((body or {})["recipient_id"]))
        if path == "/gateway/bot":
            limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
            limit["max_concurrency"] = self.max_concurrency
            return {"url": self.gateway_url, "shards": self.shards, "session_start_limit": limit}
        if method == "PUT" and path == f"/applications/{APP_ID}/commands":
            return []  # bulk overwrite of the global commands (tree.sync)
        if path == "/oauth2/applications/@me":
            return {
                "id": APP_ID,
                "name": "Mouthpiece",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": user("1"),
                "verify_key": "k",
                "flags": 0,
            }
        if path.endswith("/callback"):
            return {
                "interaction": {
                    "id": path.split("/")[2],
                    "type": 2,
                    "response_message_loading": True,
                }
            }
        if path.startswith(f"/webhooks/{APP_ID}/"):
            return self.message("0", body)
        if path.startswith("/channels/") and path.endswith("/messages"):
            nonce = (body or {}).get("nonce")
            if nonce and (body or {}).get("enforce_nonce") and nonce in self.nonces:
                return self.nonces[nonce]  # Discord answers a repeated nonce with the first message
            message = self.message(path.split("/")[2], body)
            if nonce:
                self.nonces[nonce] = message
            self.created.append(message)
            return message
        if method == "PATCH" and path.startswith("/channels/"):
            return self.message(path.split("/")[2], body)
        return {}

    def _dm_channel(self, recipient: str) -> dict[str, Any]:
        """Create DM: the bot's DM channel with ``recipient``, opened on the first call and
        the same channel after (as Discord answers)."""
        channel = self.dms.setdefault(recipient, self.snowflake())
        return {
            "id": channel,
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [user(recipient)],
        }

    # ---- reading what happened ---------------------------------------------------------
    def callbacks(self) -> list[Req]:
        return [r for r in self.requests if r.path.endswith("/callback")]

    def followups(self) -> list[Req]:
        return [
            r
            for r in self.requests
            if r.path.startswith(f"/webhooks/{APP_ID}/") and r.method == "POST"
        ]

    def channel_posts(self, channel_id: str) -> list[Req]:
        return [
            r
            for r in self.requests
            if r.path == f"/channels/{channel_id}/messages" and r.method == "POST"
        ]

    def custom_ids(self) -> list[str]:
        out = []
        for r in self.followups():
            for row in (r.json or {}).get("components", []):
                out += [c.get("custom_id", "") for c in row.get("components", [])]
        return out

    def component_message(self, custom_id: str) -> dict[str, Any]:
        """The follow-up message that carries a button with ``custom_id`` (for a press)."""
        for r in reversed(self.followups()):
            rows = (r.json or {}).get("components", [])
            if any(
                c.get("custom_id") == custom_id for row in rows for c in row.get("components", [])
            ):
                return self.message("0", r.json)
        raise KeyError(custom_id)

    async def wait_for(self, predicate: Any, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out; requests: {[(r.method, r.path) for r in self.requests]}"
                )
            await asyncio.sleep(0.05)


def _packer(compress: str) -> Callable[[bytes], bytes]:
    """Per-connection transport compression, as Discord's gateway applies it."""
    if compress == "zlib-stream":
        stream = zlib.compressobj()
        return lambda data: stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH)
    if compress == "zstd-stream":
        import zstandard

        zstream = zstandard.ZstdCompressor().compressobj()
        return lambda data: (
            zstream.compress(data) + zstream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        )
    return lambda data: data  # no compression: text frames
