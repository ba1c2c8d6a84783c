"""The /talk state table, driven with neutral inputs only."""

from __future__ import annotations

from typing import Any

import pytest

from bot.contract import texts
from bot.contract.events import Reply
from bot.conversation.flow import (
    STATES,
    TABLE,
    Draft,
    Enqueue,
    PhotoIn,
    Press,
    Refuse,
    Rules,
    ScriptIn,
    Start,
    Stop,
    TextIn,
    VoiceIn,
    step,
)

OPTIONAL, REQUIRED = Rules(needs_transcript=False), Rules(needs_transcript=True)


def said(effects: list) -> str:
    return " | ".join(e.text for e in effects if isinstance(e, Reply))


def run(inputs: list[Any], rules: Rules = OPTIONAL) -> tuple[Draft | None, list[Any]]:
    draft: Draft | None = None
    effects: list[Any] = []
    for i in inputs:
        draft, effects = step(draft, i, rules)
    return draft, effects


def test_happy_path_in_any_order() -> None:
    d, fx = run([Start("d1"), PhotoIn("p"), ScriptIn("Hello world"), VoiceIn("v", 5.0)])
    assert d is not None and d.state == "transcript" and "Skip" in [b.label for b in fx[-1].buttons]
    d, fx = step(d, Press("skip_transcript"), OPTIONAL)
    assert isinstance(fx[-1], Reply) and fx[-1].buttons[0].action == "consent"
    assert d is not None and d.state == "consent"
    d, fx = step(d, Press("consent"), OPTIONAL)
    assert isinstance(fx[-1], Reply)
    assert (
        d is not None
        and d.state == "confirm"
        and [b.action for b in fx[-1].buttons] == ["render", "cancel"]
    )
    d, fx = step(d, Press("render"), OPTIONAL)
    assert d is None and isinstance(fx[0], Enqueue) and fx[0].draft.script == "Hello world"


def test_transcript_required_cannot_be_skipped() -> None:
    d, _ = run([Start("d"), VoiceIn("v", 5.0)], REQUIRED)
    d, fx = step(d, Press("skip_transcript"), REQUIRED)
    assert d is not None and d.state == "transcript" and said(fx) == texts.ASK_TRANSCRIPT
    d, fx = step(d, TextIn("hi this is me"), REQUIRED)
    assert d is not None and d.voice_text == "hi this is me" and d.script is None


def test_text_while_collecting_is_the_script() -> None:
    d, fx = run([Start("d"), TextIn("Say this")])
    assert d is not None and d.script == "Say this" and "Still needed" in said(fx)


def test_new_input_after_consent_asks_again() -> None:
    d, _ = run(
        [Start("d"), ScriptIn("a"), PhotoIn("p"), VoiceIn("v", 4, transcript="t"), Press("consent")]
    )
    assert d is not None and d.state == "confirm"
    d, fx = step(d, PhotoIn("p2"), OPTIONAL)
    assert d is not None and d.state == "consent" and not d.consent and d.photo_hash == "p2"


def test_render_only_from_confirm() -> None:
    d, fx = run([Start("d"), ScriptIn("a"), Press("render")])
    assert d is not None and not any(isinstance(e, Enqueue) for e in fx)


def test_refusal_keeps_the_draft_usable() -> None:
    d, _ = run([Start("d"), ScriptIn("a")])
    d2, fx = step(d, Refuse("bad photo"), OPTIONAL)
    assert d2 == d and said(fx) == "bad photo"


def test_cancel_and_idle() -> None:
    d, fx = run([Start("d"), Stop()])
    assert d is None and said(fx) == texts.CANCELLED
    assert said(step(None, Stop(), OPTIONAL)[1]) == texts.NOTHING_TO_CANCEL
    assert said(step(None, TextIn("hi"), OPTIONAL)[1]) == texts.IDLE_TEXT
    assert said(step(None, Press("render"), OPTIONAL)[1]) == texts.NO_DRAFT_BUTTON


def test_media_without_talk_starts_a_draft() -> None:
    d, fx = step(None, PhotoIn("p"), OPTIONAL)
    assert d is not None and d.photo_hash == "p" and d.state == "collect"


@pytest.mark.parametrize("state", STATES)
def test_every_state_handles_every_input(state: str) -> None:
    draft = (
        None
        if state == "none"
        else Draft(
            id="d",
            state=state,
            script="s",
            voice_hash="v",
            photo_hash="p",
            voice_text="t",
            transcript_asked=True,
        )
    )
    for kind in (
        Start("x"),
        Stop(),
        TextIn("t"),
        ScriptIn("s"),
        VoiceIn("v", 3),
        PhotoIn("p"),
        Press("consent"),
        Press("render"),
        Press("cancel"),
        Press("bogus"),
        Refuse("r"),
    ):
        assert (state, type(kind)) in TABLE
        new, effects = step(draft, kind, OPTIONAL)
        assert effects, (state, kind)
        assert new is None or new.state in STATES
