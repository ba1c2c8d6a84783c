"""Who may send a job's video or failure notice: the delivery mark (:meth:`Keys.delivered`).

Before talking to the platform a worker *claims* the mark (one script, like ``SET NX``):
``sending:<deadline>`` while it sends; ``video`` (or ``notice``) once the platform accepted.
Two workers can never both send: while a claim's lease runs, everyone else waits.

A claim whose lease ran out means its worker died in the window between the platform's
answer and the final mark. What then depends on the platform (:class:`Resend`):

- Discord: send again; the message nonce (the job id) makes Discord keep one message, so a
  video is delivered **exactly once** (while Discord honours the nonce: a few minutes).
- Telegram has no idempotency key: send again **once** (``resent:<deadline>``); after a second
  lapse nothing more is sent. At most two copies, only when a worker dies in that window
  of a few seconds, exactly one otherwise.
"""

from __future__ import annotations

import time
from enum import StrEnum

from arq.connections import ArqRedis

from bot.contract.jobs import JOB_RECORDS_TTL, DeliveryMark, Keys

__all__ = ["Claim", "Resend", "claim", "settle", "release", "mark_of", "sending_for"]


class Claim(StrEnum):
    """The answer to a claim."""

    SEND = "send"  # yours: send now
    RESEND = "resend"  # yours, after an earlier sender died mid-send: send again
    BUSY = "busy"  # another worker is sending right now
    VIDEO = "video"  # the video was delivered
    NOTICE = "notice"  # the user was told the job failed
    GAVE_UP = "gave-up"  # the one resend also lapsed: nothing more is sent


class Resend(StrEnum):
    """What a platform allows after a sender died mid-send."""

    ALWAYS = "always"  # an idempotency key (Discord's nonce) makes any resend safe
    ONCE = "once"  # no such key (Telegram): one resend at most


# KEYS: the mark. ARGV: now, lease seconds, resend policy, records ttl.
_CLAIM = """
local cur = redis.call('GET', KEYS[1])
local now = tonumber(ARGV[1])
local function take(name)
  redis.call('SET', KEYS[1], name .. ':' .. tostring(now + tonumber(ARGV[2])), 'EX', ARGV[4])
end
if not cur then take('sending') return 'send' end
if cur == 'video' or cur == '1' then return 'video' end
if cur == 'notice' then return 'notice' end
local name, deadline = string.match(cur, '^(%a+):([%d%.]+)$')
if not name then take('sending') return 'send' end
if tonumber(deadline) > now then return 'busy' end
if name == 'sending' or ARGV[3] == 'always' then take('resent') return 'resend' end
return 'gave-up'
"""
# KEYS: the mark. ARGV: the claim's prefix ("sending:" or "resent:"). Deletes our own claim.
_RELEASE = """
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, string.len(ARGV[1])) == ARGV[1] then
  redis.call('DEL', KEYS[1]) return 1
end
return 0
"""


async def claim(redis: ArqRedis, job_id: str, lease: float, resend: Resend) -> Claim:
    """Claim the right to send this job's video or notice for ``lease`` seconds."""
    answer = await redis.eval(  # type: ignore[misc]
        _CLAIM,
        1,
        Keys.delivered(job_id),
        f"{time.time():.3f}",
        f"{lease:.3f}",
        resend.value,
        str(JOB_RECORDS_TTL),
    )
    return Claim(answer.decode() if isinstance(answer, bytes) else answer)


async def settle(redis: ArqRedis, job_id: str, mark: DeliveryMark) -> None:
    """The platform accepted: the mark becomes final (``video`` or ``notice``)."""
    await redis.set(Keys.delivered(job_id), mark.value, ex=JOB_RECORDS_TTL)


async def release(redis: ArqRedis, job_id: str) -> None:
    """The platform refused (nothing was sent): let a later try claim afresh."""
    for prefix in ("sending:", "resent:"):
        await redis.eval(_RELEASE, 1, Keys.delivered(job_id), prefix)  # type: ignore[misc]


async def mark_of(redis: ArqRedis, job_id: str) -> DeliveryMark | None:
    mark, _ = DeliveryMark.parse(await redis.get(Keys.delivered(job_id)))
    return mark


async def sending_for(redis: ArqRedis, job_id: str) -> float:
    """Seconds left on a live claim (a worker is sending this job's video or notice now);
    0 when there is none, or its lease ran out."""
    mark, deadline = DeliveryMark.parse(await redis.get(Keys.delivered(job_id)))
    if mark not in (DeliveryMark.SENDING, DeliveryMark.RESENT):
        return 0.0
    return max(0.0, deadline - time.time())
