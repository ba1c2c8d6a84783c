"""Signed links to one upload for one job: the "fetch" hand-off (``MOUTHPIECE_MEDIA_URL``).

Workers on other machines fetch an upload over HTTP from the chat process that stored it,
instead of a copy of its bytes in Redis. Redis carries only the link (a few hundred bytes,
:meth:`bot.contract.jobs.Keys.media_link`), and the link carries its own permission:

``<base>/media/<digest>?purpose=<render|intake>&job=<ref>&exp=<unix>&sig=<hmac>``

``sig`` is HMAC-SHA256, under the chat process's media secret, of the digest, the purpose,
the job (or intake check) reference and the expiry, so a link opens one upload, for one
purpose and one job, until it expires; changing any part of it breaks the signature. Only
the chat process holds the secret (it signs and it checks): a worker needs none, and a link
that leaks from Redis or a log is worth one upload for a while.

Pure: no clock of its own beyond the ``now`` it is handed, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from bot.jobs.media import DIGEST

__all__ = ["PURPOSES", "REF", "LinkRefusal", "MediaLinks", "SignedLink"]

#: what a link may be used for: a render's inputs, or an intake check (check, transcript,
#: a moderator's preview)
PURPOSES = ("render", "intake")
REF = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a job id or an intake check's arq job id
_SIG = DIGEST  # an HMAC-SHA256 in hex: 64 hex digits too
_EXP = re.compile(r"[0-9]{1,12}")
_MIN_SECRET_BYTES = 16


class LinkRefusal(StrEnum):
    """Why the media server refused a link (the label of its refusal counter)."""

    MALFORMED = "malformed"  # not a SHA-256 digest, an unknown purpose, a missing part
    SIGNATURE = "signature"  # signed with another key, or any part changed since
    EXPIRED = "expired"


@dataclass(frozen=True)
class SignedLink:
    """The parts of one link as the server received them (strings: nothing trusted yet)."""

    digest: str
    purpose: str
    ref: str
    exp: str
    sig: str


class MediaLinks:
    """Signs and checks upload links under one secret; ``seconds``: a link's lifetime."""

    def __init__(self, secret: bytes, base_url: str, seconds: int) -> None:
        if len(secret) < _MIN_SECRET_BYTES:
            raise ValueError(f"the media secret must be at least {_MIN_SECRET_BYTES} bytes")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"media base URL {base_url!r} must start with http:// or https://")
        if seconds <= 0:
            raise ValueError(f"a media link's lifetime must be more than 0 s, not {seconds}")
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.seconds = seconds

    def url(self, digest: str, purpose: str, ref: str, now: float, seconds: int = 0) -> str:
        """A link to upload ``digest`` for ``purpose`` in job ``ref``, good for ``seconds``
        (default: :attr:`seconds`; never longer)."""
        if not DIGEST.fullmatch(digest) or purpose not in PURPOSES or not REF.fullmatch(ref):
            raise ValueError(f"cannot sign a link to {digest!r} for {purpose!r} in {ref!r}")
        lifetime = min(seconds, self.seconds) if seconds > 0 else self.seconds
        exp = str(int(now) + lifetime)
        sig = self._sign(digest, purpose, ref, exp)
        return f"{self.base_url}/media/{digest}?purpose={purpose}&job={ref}&exp={exp}&sig={sig}"

    def refusal(self, link: SignedLink, now: float) -> LinkRefusal | None:
        """None when ``link`` is one of ours and still good; else why it is refused. The
        signature is judged before the expiry: a changed ``exp`` reads as a forgery."""
        if not (
            DIGEST.fullmatch(link.digest)
            and link.purpose in PURPOSES
            and REF.fullmatch(link.ref)
            and _EXP.fullmatch(link.exp)
            and _SIG.fullmatch(link.sig)
        ):
            return LinkRefusal.MALFORMED
        expected = self._sign(link.digest, link.purpose, link.ref, link.exp)
        if not hmac.compare_digest(expected, link.sig):
            return LinkRefusal.SIGNATURE
        if int(link.exp) <= now:
            return LinkRefusal.EXPIRED
        return None

    def _sign(self, digest: str, purpose: str, ref: str, exp: str) -> str:
        # no part may hold a newline (each is checked against its pattern): one message, one
        # way to read it
        message = f"{digest}\n{purpose}\n{ref}\n{exp}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
