"""The worker's side of a job's language: what its render requests ask the engine for, and
the voice note heard in a consent phrase's language by recognizers with and without a
per-call language."""

from __future__ import annotations

from typing import Any

import pytest

from bot.contract.jobs import RenderJob
from bot.worker.intake import _recognise
from bot.worker.rendering import _spoken_in


def _job(script: str, language: str = "") -> RenderJob:
    return RenderJob("j", "telegram", "u", "c", script, "v", "p", language=language)


@pytest.mark.parametrize(
    ("script", "language", "video", "preview"),
    [
        ("Hello there, everyone.", "fr", "fr", "fr"),  # chosen: both
        ("Hello there, everyone.", "", None, "en"),  # detected: by the engine from the
        # whole script; the preview (its opening alone) in what the whole is detected as
        ("Привет всем, это короткое видео.", "", None, None),  # no language of ours: the
        # engine's own detection
    ],
)
def test_a_render_asks_for_the_jobs_language(
    script: str, language: str, video: str | None, preview: str | None
) -> None:
    job = _job(script, language)
    assert (_spoken_in(job, False), _spoken_in(job, True)) == (video, preview)


class _Old:
    """A recognizer whose ``transcribe`` takes no language (its own setting decides)."""

    def __init__(self) -> None:
        self.calls = 0

    def transcribe(self, audio: Any) -> str:
        self.calls += 1
        return "heard"


class _New:
    def __init__(self) -> None:
        self.languages: list[str | None] = []

    def transcribe(self, audio: Any, language: str | None = None) -> str:
        self.languages.append(language)
        return "entendu"


def test_the_phrases_language_reaches_a_recognizer_that_takes_one() -> None:
    new, old = _New(), _Old()
    assert _recognise(new, None, "fr") == "entendu"
    assert _recognise(new, None, "") == "entendu"
    assert _recognise(new, None, "junk; rm -rf") == "entendu"  # never passed on
    assert new.languages == ["fr", None, None]
    assert _recognise(old, None, "fr") == "heard" and old.calls == 1
