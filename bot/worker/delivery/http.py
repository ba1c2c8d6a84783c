"""One retry loop for the platforms' HTTP APIs: 429 and 5xx wait and try again, the rest fail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["DeliveryError", "Verdict", "Judge", "post_with_retries"]

log = logging.getLogger(__name__)
_MAX_WAIT = 30.0


class DeliveryError(Exception):
    """The platform refused or kept failing; ``retryable`` says whether a later try may work,
    ``unsure`` that the platform may have taken it all the same (an answer lost on the way)."""

    def __init__(self, message: str, *, retryable: bool, unsure: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.unsure = unsure


@dataclass(frozen=True)
class Verdict:
    """How a platform answered: ``ok`` with its result, or worth a ``retry`` (after ``after`` s)."""

    ok: bool
    result: Any = None
    retry: bool = False  # 429 / 5xx: worth another try
    after: float | None = None  # the platform's own retry-after, if it gave one
    detail: str = ""


Body = Callable[[], aiohttp.FormData | dict[str, Any]]
Judge = Callable[[int, Any], Verdict]


async def post_with_retries(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Body,
    judge: Judge,
    *,
    what: str,
    headers: dict[str, str] | None = None,
    tries: int = 4,
    idempotent: bool = True,
) -> Any:
    """Send ``body()`` (rebuilt per try: a form can be sent once) until ``judge`` says ok.

    A timeout or a dropped connection is retried like a 5xx when the request is
    ``idempotent`` (an edit; a Discord message with its nonce): the platform may not have
    seen it, and sending it twice is harmless. Otherwise (a Telegram video: no idempotency
    key) it is not resent here: :class:`DeliveryError` with ``unsure`` set, and the
    delivery claim decides whether it may go once more (:mod:`bot.jobs.delivery`).
    """
    backoff = 1.0
    for attempt in range(1, tries + 1):
        payload = body()
        kwargs = {"data": payload} if isinstance(payload, aiohttp.FormData) else {"json": payload}
        try:
            async with session.request(method, url, headers=headers, **kwargs) as resp:
                try:
                    answer = await resp.json(content_type=None)
                except ValueError:  # an HTML error page from a proxy, a truncated body
                    answer = None
                verdict = judge(resp.status, answer)
        except (TimeoutError, aiohttp.ClientError) as e:
            if not idempotent:
                raise DeliveryError(
                    f"{what}: no answer ({type(e).__name__})", retryable=True, unsure=True
                ) from e
            log.warning("%s failed (%s); retrying", what, type(e).__name__)
            verdict = Verdict(False, retry=True)
        if verdict.ok:
            return verdict.result
        if not verdict.retry:
            raise DeliveryError(f"{what}: {verdict.detail}", retryable=False)
        if attempt < tries:
            delay = min(verdict.after if verdict.after is not None else backoff, _MAX_WAIT)
            log.warning("%s: retry %d in %.1fs", what, attempt, delay)
            await asyncio.sleep(max(0.05, delay))
            backoff *= 2
    raise DeliveryError(f"{what}: gave up after {tries} tries", retryable=True)
