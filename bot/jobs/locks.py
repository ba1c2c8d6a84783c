"""Locks that hold across processes, in Redis: several chat processes (one per front-end,
Discord shards split over boxes) and several workers share one Redis, so whatever must happen
once at a time, everywhere, takes a Redis lock.

- :func:`renewed_lock`: hold a key while a block runs (``SET NX PX`` with a random owner,
  renewed every third of its lifetime, released by its owner only). A holder that dies lets
  it lapse within its lifetime. The status board's per-job lock, and the leases below.
- :class:`SharedLanes`: one person's events one at a time *across processes*: the
  in-process lane (:class:`bot.lanes.Lanes`, FIFO) first, then the person's Redis lock,
  waited for. A person on Telegram and in the web studio at once, or in a Discord server on
  shard 1 and in a DM on shard 0 (two processes), still has their events run one by one, so a
  limit counted then recorded by one event is never counted by another meanwhile.
- :func:`leased_every`: a periodic pass (retention, reconcile, queuing held batches) run by
  one process at a time: every chat process runs the loop, the one holding the pass's lease
  runs the pass, the others skip it.

Guarantee, said plainly: *best effort while Redis is away*. When Redis cannot be reached (its
own outage), a person's events still run one at a time within each process and the person's
Redis lock is skipped (logged): the queue is down then anyway, and a chat that answers beats
one that waits for Redis. A lock outlives its holder by at most its lifetime; a holder stuck
longer than that (an event blocked past ``seconds`` with its renewals failing) may overlap
the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager

from arq.connections import ArqRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.lanes import Lanes

__all__ = ["renewed_lock", "SharedLanes", "leased_every", "LEASE_PREFIX", "PERSON_PREFIX"]

log = logging.getLogger(__name__)

#: Redis key prefixes: a periodic pass's lease, a person's lane
LEASE_PREFIX = "mouthpiece:lease:"
PERSON_PREFIX = "mouthpiece:lane:"

# KEYS: the lock. ARGV: owner token, ttl in ms. Only the owner extends or releases it.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: the lease. ARGV: owner token, ttl in ms. Taken when free, kept by its holder.
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


async def _release(redis: ArqRedis, key: str, owner: str) -> None:
    await redis.eval(_RELEASE, 1, key, owner)  # type: ignore[misc]


@asynccontextmanager
async def _renewing(
    redis: ArqRedis, key: str, owner: str, seconds: float, *, release: bool = True
) -> AsyncIterator[None]:
    """Renew ``key`` (held by ``owner``) every third of ``seconds`` while the block runs,
    then release it (unless ``release`` is False)."""
    ms = max(1, int(seconds * 1000))

    async def renew() -> None:
        while True:
            await asyncio.sleep(seconds / 3)
            try:
                if not await redis.eval(_RENEW, 1, key, owner, str(ms)):  # type: ignore[misc]
                    log.warning("lock lost", extra={"key": key})
                    return
            except _UNREACHABLE:
                log.warning("lock not renewed: redis unreachable", extra={"key": key})

    renewing = asyncio.create_task(renew())
    try:
        yield
    finally:
        renewing.cancel()
        # waited for without raising its CancelledError: suppressing that exception here
        # would also swallow a cancellation of this task arriving meanwhile (it then went
        # on running, "cancelling" forever)
        await asyncio.wait({renewing})
        if release:
            with contextlib.suppress(*_UNREACHABLE):  # it lapses by itself then
                await asyncio.shield(_release(redis, key, owner))


@asynccontextmanager
async def renewed_lock(redis: ArqRedis, key: str, seconds: float) -> AsyncIterator[bool]:
    """Hold ``key`` while the block runs: yields True when acquired (renewed every third of
    ``seconds`` until the block ends, released after), False when someone else holds it.
    A holder that dies lets the lock lapse within ``seconds``."""
    owner, ms = uuid.uuid4().hex, max(1, int(seconds * 1000))
    if not await redis.set(key, owner, nx=True, px=ms):
        yield False
        return
    async with _renewing(redis, key, owner, seconds):
        yield True


class SharedLanes(Lanes):
    """:class:`~bot.lanes.Lanes` whose ``hold`` also holds the key's lock in Redis, so one
    key's blocks take turns across every process on that Redis (see the module docstring).

    ``seconds``: the Redis lock's lifetime (renewed while held); ``poll``: how often a waiter
    tries again. A waiter waits as long as it takes: a holder that died lets go within
    ``seconds``."""

    def __init__(self, redis: ArqRedis, *, seconds: float = 30.0, poll: float = 0.05) -> None:
        super().__init__()
        self.redis = redis
        self.seconds = seconds
        self.poll = poll

    @staticmethod
    def redis_key(key: Hashable) -> str:
        parts = key if isinstance(key, tuple) else (key,)
        return PERSON_PREFIX + ":".join(str(p) for p in parts)

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        async with super().hold(key):
            owner = await self._acquire(self.redis_key(key))
            if owner is None:  # Redis away: this process's lane alone (module docstring)
                yield
                return
            async with _renewing(self.redis, self.redis_key(key), owner, self.seconds):
                yield

    async def _acquire(self, name: str) -> str | None:
        """Take the Redis lock ``name``, waiting for its holder; its owner token, or None
        when Redis cannot be reached."""
        owner, ms = uuid.uuid4().hex, max(1, int(self.seconds * 1000))
        waited_since = time.monotonic()
        warned = False
        while True:
            try:
                if await self.redis.set(name, owner, nx=True, px=ms):
                    return owner
            except _UNREACHABLE:
                log.warning("person lock skipped: redis unreachable")
                return None
            if not warned and time.monotonic() - waited_since > self.seconds:
                log.warning("person lock still held elsewhere", extra={"key": name})
                warned = True
            await asyncio.sleep(self.poll)


async def leased_every(
    redis: ArqRedis,
    name: str,
    seconds: float,
    run_pass: Callable[[], Awaitable[object]],
    *,
    lease_seconds: float = 60.0,
) -> None:
    """Run ``run_pass`` now and every ``seconds`` until cancelled, in one process at a time:
    the process holding the pass's lease runs it; the others, running the same loop, skip.
    The holder keeps the lease from pass to pass (renewed while a pass runs); when it stops
    or dies, the lease lapses within ``seconds + lease_seconds`` and another process takes
    it. Errors (Redis away included) are logged and the loop goes on."""
    key, owner = LEASE_PREFIX + name, uuid.uuid4().hex
    keep_ms = str(max(1, int((seconds + lease_seconds) * 1000)))
    try:
        while True:
            try:
                if await redis.eval(_CLAIM, 1, key, owner, keep_ms):  # type: ignore[misc]
                    async with _renewing(redis, key, owner, lease_seconds, release=False):
                        await run_pass()
                    await redis.eval(_CLAIM, 1, key, owner, keep_ms)  # type: ignore[misc]
                else:
                    log.debug("pass run elsewhere", extra={"pass": name})
            except Exception:
                log.exception("periodic pass failed", extra={"pass": name})
            await asyncio.sleep(seconds)
    finally:  # a stopping process hands the lease on at once
        with contextlib.suppress(Exception):
            await asyncio.shield(_release(redis, key, owner))
