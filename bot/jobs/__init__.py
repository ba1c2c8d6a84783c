"""The job lifecycle, shared by the chat process and the workers: the job book (the one
writer of live records, the transition table applied in Redis), the render queue (the atomic
enqueue, cancel, place in line), the lifecycle (submit, approve, cancel, the workers' reports
into the store, the reconciler), delivery claims, the fair queue, the arq JSON codec and the
uploads' hand-off. Imports ``bot.contract`` only."""

from __future__ import annotations

from bot.jobs.book import JobBook
from bot.jobs.lifecycle import Lifecycle, Reconciled, Submitted
from bot.jobs.queue import RenderQueue

__all__ = ["JobBook", "Lifecycle", "Reconciled", "Submitted", "RenderQueue"]
