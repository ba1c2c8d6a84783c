"""The worker process (``python -m bot.worker``): hosts the engine, checks uploads, renders,
delivers. The one package where ``bot`` meets ``engine``.

- :mod:`~bot.worker.context`: the typed context the arq functions share.
- :mod:`~bot.worker.intake`: an upload as a local file; photo and voice checks; speech
  recognition for the consent phrase.
- :mod:`~bot.worker.rendering`: the render task (states through the job book, the
  heartbeat lease, the render timeout).
- :mod:`~bot.worker.outbox`: the video and failure notices, sent under the delivery claim.
- :mod:`~bot.worker.board`: every job's live status message.
- :mod:`~bot.worker.staff`: review requests (with Approve and Deny) for moderators.
- :mod:`~bot.worker.upkeep`: retention on the worker's disk, erasure sweeps.
- :mod:`~bot.worker.delivery`: the platforms' HTTP APIs.
- :mod:`~bot.worker.main`: builds the engine and the arq workers; runs them.

Erasure: every few seconds (and at start-up) the worker sweeps what it holds of uploads and
jobs the bot erased (:func:`bot.safety.erasure.sweep_forgotten`): its upload cache, its
videos and a killed render's leftovers, and the engine's codes made from a forgotten voice.
Its caches live under one known folder (``data/cache``), so a restarted worker finds what
an earlier run kept. A render whose job was erased meanwhile is not delivered. Render
results are not kept in Redis (they would hold the script); the bot reads each intake
answer once and deletes it.
"""

from __future__ import annotations

from bot.worker.context import CTX_KEY, WorkerContext
from bot.worker.intake import check_media, transcribe
from bot.worker.main import build_workers, close_worker, load_recognizer, main, run
from bot.worker.outbox import notify
from bot.worker.rendering import job_timeout, render
from bot.worker.staff import notify_staff
from bot.worker.upkeep import purge_worker_files, sweep

__all__ = [
    "CTX_KEY",
    "WorkerContext",
    "build_workers",
    "close_worker",
    "main",
    "run",
    "check_media",
    "transcribe",
    "render",
    "job_timeout",
    "notify",
    "notify_staff",
    "sweep",
    "purge_worker_files",
    "load_recognizer",
]
