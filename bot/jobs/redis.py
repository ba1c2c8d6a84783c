"""The one way bot and workers talk to Redis through arq: connection settings that ride out
a Redis restart, and JSON (never pickle) for every job and result arq stores.

arq pickles by default, and whoever reads a pickle runs what it says: anyone able to write to
Redis would run code in the bot (each ``/forget`` reads every ``arq:job:*`` record) and in
the workers. With :data:`ARQ_CODEC` a planted pickle is only bytes that fail to parse.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ExecAbortError, OutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.contract.errors import Busy

__all__ = ["dumps", "loads", "ARQ_CODEC", "redis_settings", "connect", "busy_when_full"]


def _plain(value: object) -> object:
    """What JSON cannot hold as is: an exception (a failed job's result) becomes its name
    and message; anything else its ``repr``. Nothing is ever revived from these."""
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)[:500]}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return repr(value)


def dumps(data: dict[str, Any]) -> bytes:
    """arq's ``job_serializer``: a job or result record as JSON bytes."""
    return json.dumps(data, default=_plain, separators=(",", ":")).encode()


def loads(raw: bytes) -> dict[str, Any]:
    """arq's ``job_deserializer``: JSON only; anything else (a pickle) raises, and arq
    reports the record as unreadable instead of running it."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("an arq record is a JSON object")
    return data


#: keyword arguments for every arq pool and worker of ours
ARQ_CODEC: dict[str, Any] = {"job_serializer": dumps, "job_deserializer": loads}


def redis_settings(url: str, *, retries: int = 12) -> RedisSettings:
    """arq's connection settings, with commands retried through a Redis restart: 12 retries
    (the default) ride out about 45 s, 40 about three minutes."""
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    settings = RedisSettings.from_dsn(url)
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError, ConnectionError]
    settings.retry = Retry(ExponentialBackoff(cap=5.0, base=0.2), retries=retries)
    return settings


async def connect(url: str) -> ArqRedis:
    """An arq pool on ``url`` speaking JSON."""
    return await create_pool(redis_settings(url), **ARQ_CODEC)


_P = ParamSpec("_P")
_T = TypeVar("_T")


def busy_when_full(
    call: Callable[_P, Coroutine[Any, Any, _T]],
) -> Callable[_P, Coroutine[Any, Any, _T]]:
    """Redis at its ``maxmemory`` (``noeviction``: writes fail with OOM; a transaction with
    such a write is discarded whole) or out of reach after the client's retries: raise
    :class:`~bot.contract.errors.Busy`, which the service answers with "busy, try later"."""

    @functools.wraps(call)
    async def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return await call(*args, **kwargs)
        except (OutOfMemoryError, ExecAbortError) as e:
            raise Busy("redis is at maxmemory") from e
        except (RedisConnectionError, RedisTimeoutError) as e:
            raise Busy(f"redis unreachable: {type(e).__name__}") from e

    return guarded
