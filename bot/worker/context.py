"""What the worker's functions share: one typed context, built once, carried in arq's ctx."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from arq.connections import ArqRedis

from bot.contract.jobs import RenderJob
from bot.jobs.book import JobBook
from bot.observability import Metrics
from bot.safety.erasure import SweepState
from bot.settings import BotSettings
from bot.worker.board import StatusBoard
from engine import Engine
from engine.pipeline import VoiceCaches

__all__ = ["CTX_KEY", "INTAKE_SLOTS", "WorkerContext", "Deliver", "context"]

T = TypeVar("T")

#: the one key of arq's ctx that is ours: the :class:`WorkerContext`
CTX_KEY = "mouthpiece"
Deliver = Callable[["WorkerContext", RenderJob, Path | None, str], Awaitable[str | None]]
#: intake checks at once (the intake queue's ``max_jobs``): each waits on its own jail process
INTAKE_SLOTS = 4


@dataclass
class WorkerContext:
    """What the worker's functions share, built once by :func:`bot.worker.main.build_workers`
    and carried in arq's ctx under :data:`CTX_KEY` (arq's own keys, ``redis``, ``job_try``,
    ``score``, stay arq's). ``redis`` is arq's connection, bound on first use; ``messengers``
    and the background tasks appear at start-up."""

    settings: BotSettings
    out_dir: Path
    cache_dir: Path
    name: str = "worker"
    engine: Engine | None = None  # None: an intake-only context (tests)
    asr: Any = None  # the speech recognizer, when MOUTHPIECE_ASR_MODEL names one
    deliver: Deliver | None = None  # None: :func:`bot.worker.outbox.deliver`
    metrics: Metrics | None = None
    redis: ArqRedis | None = None
    messengers: dict[str, Any] = field(default_factory=dict)
    sweep_state: SweepState = field(default_factory=SweepState)
    shutting_down: asyncio.Event = field(default_factory=asyncio.Event)
    http: aiohttp.ClientSession | None = None
    status_board: StatusBoard | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # intake's own threads: a slow decode (up to the jail's time bound) never holds up the
    # default executor that renders, deliveries and sweeps use
    intake_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(INTAKE_SLOTS, thread_name_prefix="intake")
    )

    @property
    def rendering(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("this worker context has no engine")
        return self.engine

    @property
    def pool(self) -> ArqRedis:
        """arq's Redis connection (bound when arq first hands us its ctx)."""
        if self.redis is None:
            raise RuntimeError("this worker context has no Redis connection yet")
        return self.redis

    @cached_property
    def book(self) -> JobBook:
        """The job records, written only through the transition table."""
        return JobBook(self.pool)

    @property
    def voice_cache(self) -> VoiceCaches | None:
        return self.engine.voice_cache if self.engine is not None else None

    async def in_intake(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking intake work (a jailed decode) on intake's own threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.intake_pool, functools.partial(fn, *args))

    def count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.jobs.labels(outcome=outcome).inc()


def context(ctx: dict[str, Any]) -> WorkerContext:
    """Our context from arq's, bound to arq's Redis connection."""
    house: WorkerContext = ctx[CTX_KEY]
    if house.redis is None and "redis" in ctx:
        house.redis = ctx["redis"]
    return house
