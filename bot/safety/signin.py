"""Sign-in to the web studio without passwords: ``/web`` in chat answers a private link that
holds a signed, single-use ticket for the person who asked.

A ticket is ``base64url(platform:user_id:scope:expires:nonce) + "." +
base64url(HMAC-SHA256)`` under the server's secret (``scope``: the server whose moderator
asked, or empty); it is good for :data:`LINK_SECONDS` and once (the store records
used nonces until they expire). Redeeming one opens a server-side session of
:data:`SESSION_SECONDS`; the browser holds only the session's random id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from bot.contract.ports import WebLogins, WebSession

__all__ = [
    "LINK_SECONDS",
    "MOD_SESSION_SECONDS",
    "SESSION_SECONDS",
    "Ticket",
    "WebSignIn",
    "WebAccess",
]

LINK_SECONDS = 600  # a sign-in link works for 10 minutes
SESSION_SECONDS = 12 * 3600  # a signed-in browser stays signed in for 12 hours
#: a moderator's session (one with a scope) lasts an hour: their authority is the platform's
#: word at /web time, and a moderator removed since should not keep the dashboard for long
MOD_SESSION_SECONDS = 3600
_MAX_TOKEN_CHARS = 512  # anything longer is not ours: refused before any decoding
_PAYLOAD = re.compile(
    r"^(telegram|discord):(\d{1,20}):(-?\d{0,20}):(\d{1,12}):([A-Za-z0-9_-]{16,64})$"
)


@dataclass(frozen=True)
class Ticket:
    """What a valid sign-in link says: who, until when, and its one-time nonce."""

    platform: str
    user_id: str
    expires: float
    nonce: str
    scope: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class WebSignIn:
    """Makes and checks sign-in tickets under one secret (pure: no store, no clock of its
    own beyond the ``now`` it is handed)."""

    def __init__(self, secret: bytes, base_url: str) -> None:
        if len(secret) < 16:
            raise ValueError("the web sign-in secret must be at least 16 bytes")
        self._secret = secret
        self.base_url = base_url.rstrip("/")

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def token(self, platform: str, user_id: str, now: float, scope: str = "") -> str:
        expires = int(now) + LINK_SECONDS
        nonce = secrets.token_urlsafe(18)
        payload = f"{platform}:{user_id}:{scope}:{expires}:{nonce}".encode()
        if not _PAYLOAD.match(payload.decode()):
            raise ValueError(f"cannot sign in {platform!r} user {user_id!r} on the web")
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def link(self, platform: str, user_id: str, now: float, scope: str = "") -> str:
        return f"{self.base_url}/login/{self.token(platform, user_id, now, scope)}"

    def check(self, token: str, now: float) -> Ticket | None:
        """The ticket a token holds when its signature is ours and it has not expired; None
        otherwise (whatever is wrong with it: the browser is told one thing)."""
        if len(token) > _MAX_TOKEN_CHARS or token.count(".") != 1:
            return None
        body, _, mac = token.partition(".")
        try:
            payload, signature = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        match = _PAYLOAD.match(payload.decode("ascii", "replace"))
        if match is None:
            return None
        platform, user_id, scope, expires, nonce = match.groups()
        if int(expires) <= now or int(expires) > now + LINK_SECONDS + 60:
            return None
        return Ticket(platform, user_id, float(expires), nonce, scope)


class WebAccess:
    """The web studio's doors: a link for a person, a session for a valid unused link, the
    session a browser's cookie names, signing out (one browser, or all of a person's)."""

    def __init__(self, signer: WebSignIn, logins: WebLogins) -> None:
        self.signer = signer
        self.logins = logins

    def link(self, platform: str, user_id: str, scope: str = "") -> str:
        """A sign-in link for the person; ``scope``: the server they moderate, judged by
        bot.safety.authority from the platform's word when they asked (their session can then
        open that server's dashboard, for :data:`MOD_SESSION_SECONDS`)."""
        return self.signer.link(platform, user_id, time.time(), scope)

    def valid(self, token: str) -> bool:
        """Whether ``token`` is a well-signed, unexpired link (not whether it was used: the
        confirm page shows without spending it)."""
        return self.signer.check(token, time.time()) is not None

    async def sign_in(self, token: str) -> WebSession | None:
        now = time.time()
        ticket = self.signer.check(token, now)
        if ticket is None or not await self.logins.use_nonce(ticket.nonce, ticket.expires, now):
            return None
        seconds = MOD_SESSION_SECONDS if ticket.scope else SESSION_SECONDS
        return await self.logins.open_session(
            ticket.platform, ticket.user_id, now, seconds, ticket.scope
        )

    async def session(self, session_id: str) -> WebSession | None:
        if not session_id or len(session_id) > 128:
            return None
        return await self.logins.session(session_id, time.time())

    async def sign_out(self, session_id: str) -> None:
        await self.logins.close_session(session_id)

    async def sign_out_everywhere(self, platform: str, user_id: str) -> None:
        await self.logins.close_all(platform, user_id)
