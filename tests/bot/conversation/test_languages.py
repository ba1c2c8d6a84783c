"""A video's language in the conversation: chosen with ``/talk CODE`` or ``/lang CODE`` (or
detected from the script), kept by the draft across a restart, counted at that language's
speaking rate by the limits and the fair queue, and handed to the job the worker renders."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Button, Command, Reply, Text, Who
from bot.contract.jobs import RenderJob
from bot.conversation.flow import (
    Draft,
    LangIn,
    ScriptIn,
    Start,
    language_choice,
    measure_script,
    speech_seconds,
    step,
)
from bot.conversation.flow import Rules as FlowRules
from bot.conversation.service import Limits, Service
from bot.jobs.fair import cost
from spoken_text.languages import LANGUAGES, SUPPORTED
from tests.auxil.redis_server import redis_server
from tests.auxil.system import ready_draft

WHO = Who("telegram", "42", "42", name="Ann")
RULES = FlowRules()
#: letters only: every language's normalisation leaves it as it is, so only the speaking
#: rate tells the estimates apart
PLAIN = "salut les amis " * 20


def _texts(actions: Sequence[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Reply)]


@pytest.mark.parametrize(
    ("typed", "kept"),
    [("fr", "fr"), (" FR ", "fr"), ("pt-BR", "pt"), ("de_AT", "de"), ("auto", ""), ("", "")],
)
def test_a_choice_is_a_supported_code_or_auto(typed: str, kept: str) -> None:
    assert language_choice(typed) == kept


@pytest.mark.parametrize("typed", ["xx", "french", "ru", "zh-CN", "\x00"])
def test_an_unsupported_choice_is_none(typed: str) -> None:
    assert language_choice(typed) is None


def test_the_estimate_uses_each_languages_speaking_rate() -> None:
    """The same words take less time in a language that says more characters a second."""
    english = speech_seconds(PLAIN, "en")
    for code in SUPPORTED:
        rate = LANGUAGES[code].chars_per_second
        assert speech_seconds(PLAIN, code) == pytest.approx(english * 15.0 / rate)
    assert speech_seconds(PLAIN, "fr") < english


def test_the_limit_counts_a_script_at_its_languages_rate() -> None:
    """300 characters: 20 s in English, over an 18 s limit; 14 s in French, within it."""
    script = " ".join(PLAIN.split())
    english = measure_script(script, 1000, 18.0, "en")
    french = measure_script(script, 1000, 18.0, "fr")
    assert english.reason and "18 s" in english.reason
    assert not french.reason and french.seconds == pytest.approx(len(script) / 20.9)


def test_the_fair_queue_costs_a_job_at_its_languages_rate() -> None:
    """ten rounds of English speech are fewer in Italian (17.6 characters a second)"""
    script = "ciao a tutti " * 12  # 156 characters: 10.4 s in English, 8.9 s in Italian
    assert (cost(script, "en"), cost(script, "it")) == (2, 1)
    assert cost(script, "xx") == cost(script)  # a code this version does not know: detected


def test_talk_with_a_language_starts_a_draft_spoken_in_it() -> None:
    draft, said = step(None, Start("d1", "fr"), RULES)
    assert draft == Draft(id="d1", language="fr")
    assert isinstance(said[0], Reply) and said[0].text.endswith(
        texts.LANG_SET.format(name="French")
    )
    draft, said = step(draft, ScriptIn(" ".join(PLAIN.split())), RULES)
    assert draft is not None and draft.language == "fr"
    assert isinstance(said[0], Reply)
    assert said[0].text == texts.GOT_SCRIPT.format(
        chars=299, seconds=299 / 20.9, language=texts.SCRIPT_LANGUAGE.format(name="French")
    )
    draft, said = step(draft, LangIn(""), RULES)  # back to detection
    assert draft is not None and draft.language == "" and draft.script
    assert isinstance(said[0], Reply) and said[0].text == texts.LANG_AUTO
    assert step(None, LangIn("de"), RULES) == (None, [Reply(texts.LANG_NO_DRAFT)])


async def _service(tmp: Path, url: str) -> tuple[Service, Store, Queue]:
    store = await Store.open(tmp / "db.sqlite3")
    queue = await Queue.connect(url, intake_timeout=0.3)
    return Service(store, queue, tmp / "media", Limits()), store, queue


async def _uploads(store: Store, tmp: Path, *digests: str) -> None:
    """The bot's own copies of these uploads, as the service keeps them."""
    for digest in digests:
        path = tmp / "media" / f"{digest}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"media " + digest.encode())
        await store.media.put(digest, "audio", path.stat().st_size, "", path)


def test_an_unknown_code_is_refused_in_one_line_naming_the_supported_ones(
    tmp_path: Path,
) -> None:
    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url)
        try:
            refused = _texts(await svc.handle(Command(WHO, "talk", "klingon")))
            assert refused == [texts.LANG_UNKNOWN.format(codes="en, fr, de, es, it, pt, nl")]
            assert "\n" not in refused[0]
            assert await store.drafts.get("telegram", "42", "42") is None  # nothing started
            await svc.handle(Command(WHO, "talk", "es"))
            assert _texts(await svc.handle(Command(WHO, "lang", "xx"))) == refused
            draft = await store.drafts.get("telegram", "42", "42")
            assert draft is not None and draft.language == "es"  # the choice stands
            # /start's words may be a link's payload: ignored, never refused
            said = _texts(await svc.handle(Command(WHO, "start", "ref-abc")))
            assert said[0] == texts.START
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_the_chosen_language_survives_a_restart_and_travels_with_the_job(
    tmp_path: Path,
) -> None:
    """/talk de, then /lang pt: the draft keeps pt in the store (a new service on the same
    file reads it), /lang says so, and Render's job carries it to the worker."""

    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url)
        said = _texts(await svc.handle(Command(WHO, "talk", "de")))
        assert texts.LANG_SET.format(name="German") in said[0]
        said = _texts(await svc.handle(Command(WHO, "lang", "PT")))
        assert said[0] == texts.LANG_SET.format(name="Portuguese")
        await queue.close()
        await store.close()

        svc, store, queue = await _service(tmp_path, url)  # the bot restarted
        try:
            draft = await store.drafts.get("telegram", "42", "42")
            assert draft is not None and draft.language == "pt"
            codes = ", ".join(SUPPORTED)
            shown = _texts(await svc.handle(Command(WHO, "lang")))
            assert shown == [texts.LANG_NOW.format(name="Portuguese", codes=codes)]
            await _uploads(store, tmp_path, "v" * 64, "p" * 64)
            ready = ready_draft(draft.id, script="Olá a todos.")
            await store.drafts.put("telegram", "42", "42", _with_language(ready, "pt"))
            queued = _texts(await svc.handle(Button(WHO, "render")))
            assert queued[0].startswith(texts.QUEUED.split("{")[0])
            row = await store.database.one("SELECT payload FROM jobs")
            assert row is not None
            job = RenderJob.from_json(row[0])
            assert (job.script, job.language) == ("Olá a todos.", "pt")
            assert json.loads(row[0])["language"] == "pt"
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_a_job_without_a_language_reads_as_detected() -> None:
    """A job queued by an older bot has no language: the worker detects it."""
    old = json.dumps({"job_id": "j", "platform": "telegram", "user_id": "u", "chat_id": "c",
                      "script": "Hi", "voice_hash": "v", "photo_hash": "p"})  # fmt: skip
    assert RenderJob.from_json(old).language == ""


def _with_language(draft: Draft, code: str) -> Draft:
    return replace(draft, language=code)


def test_text_during_the_lang_command_is_not_taken_for_a_script(tmp_path: Path) -> None:
    """/lang in the middle of a draft asks the open question again and keeps the script."""

    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url)
        try:
            await svc.handle(Command(WHO, "talk"))
            await svc.handle(Text(WHO, "Hallo zusammen."))
            said = _texts(await svc.handle(Command(WHO, "lang", "de")))
            assert said[0] == texts.LANG_SET.format(name="German")
            assert said[1] == texts.NEED.format(missing="a voice note, a photo")
            draft = await store.drafts.get("telegram", "42", "42")
            assert draft is not None and (draft.script, draft.language) == ("Hallo zusammen.", "de")
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))


def test_each_video_of_a_batch_carries_the_drafts_language(tmp_path: Path) -> None:
    async def go(url: str) -> None:
        svc, store, queue = await _service(tmp_path, url)
        try:
            await _uploads(store, tmp_path, "v" * 64, "p" * 64)
            scripts = ("Hola a todos.", "Adiós a todos.")
            batch = replace(ready_draft("b1"), scripts=scripts, titles=("", ""), language="es")
            await store.drafts.put("telegram", "42", "42", batch)
            said = _texts(await svc.handle(Button(WHO, "render")))
            assert said[0].startswith(texts.BATCH_QUEUED.split("{")[0])
            cur = await store.database.conn.execute("SELECT payload FROM jobs")
            jobs = [RenderJob.from_json(r[0]) for r in await cur.fetchall()]
            assert sorted((j.script, j.language) for j in jobs) == [
                ("Adiós a todos.", "es"),
                ("Hola a todos.", "es"),
            ]
        finally:
            await queue.close()
            await store.close()

    with redis_server(tmp_path) as url:
        asyncio.run(go(url))
