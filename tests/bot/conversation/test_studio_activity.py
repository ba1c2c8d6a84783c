"""The dashboard's figures (bot.conversation.studio.activity_of): pure counting, checked
against jobs whose hours are known."""

from __future__ import annotations

from bot.contract.ports import JobActivity
from bot.conversation.studio import activity_of

NOW = 1_800_000_000.0 + 1800  # half past an hour
HOUR = 3600.0
LAST = (NOW // HOUR) * HOUR  # the start of the last bucket (this hour)


def _job(scope: str, status: str, created: float, started: float | None, finished: float | None):
    return JobActivity(scope, status, created, started, finished)


def test_counts_land_in_the_hour_each_job_ended() -> None:
    rows = [
        _job("1", "done", LAST - 2 * HOUR + 60, LAST - 2 * HOUR + 120, LAST - 2 * HOUR + 180),
        _job("1", "done", LAST + 10, LAST + 20, LAST + 80),  # 60 s render, this hour
        _job("", "done", LAST + 10, LAST + 20, LAST + 40),  # 20 s render, this hour
        _job("2", "failed", LAST - HOUR + 5, LAST - HOUR + 6, LAST - HOUR + 7),
        _job("2", "invalid", LAST + 1, None, LAST + 2),
    ]
    a = activity_of(rows, NOW)
    assert len(a.hours) == 24 and a.hours[-1] == LAST
    assert a.done[-1] == 2 and a.done[-3] == 1 and sum(a.done) == 3
    assert a.failed[-2] == 1 and a.failed[-1] == 1 and sum(a.failed) == 2
    assert a.render_seconds[-1] == 60.0  # the median of 20 and 60 (the upper middle)
    assert a.render_seconds[-3] == 60.0 and a.render_seconds[-2] == 0.0
    assert a.shares == (("1", 2), ("2", 2), ("", 1))


def test_waiting_counts_jobs_in_line_at_each_hours_end() -> None:
    rows = [
        # asked just after -3h, started at -1.5h: in line at the end of the hour to -2h only
        _job("1", "done", LAST - 3 * HOUR + 100, LAST - HOUR - 1800, LAST - HOUR - 1700),
        _job("1", "queued", LAST - HOUR + 10, None, None),  # still waiting now
        _job("1", "review", LAST - 5 * HOUR, None, None),  # held for a moderator: not in line
    ]
    a = activity_of(rows, NOW)
    # hour ends: -2h (the first), -1h (none: it started at -1.5h), the last full hour and now
    assert a.waiting[-4:] == (1, 0, 1, 1)
    assert a.waiting[-5] == 0 and sum(a.waiting) == 3
