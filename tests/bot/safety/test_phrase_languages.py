"""The spoken consent phrase in the script's language: words of that language, kept with the
phrase, the voice note recognised in it, and a transcript matched without regard to accents,
case or how the number was written (digits, or that language's words)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Button, Command, Reply, Text, Who
from bot.conversation.service import Limits, Service
from bot.safety.phrase_words import WORDS, spelled_numbers
from bot.safety.policy import (
    PHRASE_LANGUAGES,
    RateLimits,
    Safety,
    ServerPolicy,
    make_phrase,
    phrase_language,
    phrase_matches,
    phrase_score,
    phrase_words,
)
from bot.settings import BotSettings
from bot.worker import WorkerContext, transcribe
from spoken_text.languages import SUPPORTED
from tests.auxil.redis_server import redis_server
from tests.auxil.system import intake_worker, ready_draft, redis_url_of

USER = Who("discord", "42", "chan1", "guild1", "Ann")
QUEUED = texts.QUEUED.split("{")[0]


def test_every_supported_language_has_a_word_list_of_sixty_plain_words() -> None:
    assert set(PHRASE_LANGUAGES) == set(SUPPORTED)
    for code, words in WORDS.items():
        plain = [phrase_words(w, code) for w in words]
        assert len(words) >= 60, code
        assert all(len(p) == 1 for p in plain), code  # one word each, no hyphen to split
        assert len({p[0] for p in plain}) == len(words), code  # none the same unaccented
        assert not any(p[0].isdigit() for p in plain), code  # none a number word
        assert all(w == w.lower() and w.isalpha() for w in words), code


@pytest.mark.parametrize("code", SUPPORTED)
def test_a_phrase_is_three_words_of_its_language_and_a_number(code: str) -> None:
    phrases = {make_phrase(language=code) for _ in range(100)}
    assert len(phrases) == 100
    for phrase in list(phrases)[:10]:
        *words, number = phrase.split()
        assert len(set(words)) == 3 and set(words) <= set(WORDS[code])
        assert 21 <= int(number) <= 99
    seeded = make_phrase(random.Random(3), "de")  # type: ignore[arg-type]
    assert seeded == make_phrase(random.Random(3), "de")  # type: ignore[arg-type]


def test_a_language_without_words_gets_an_english_phrase() -> None:
    assert phrase_language("ru") == "en" and phrase_language("fr") == "fr"
    assert set(make_phrase(language="ru").split()[:3]) <= set(WORDS["en"])


@pytest.mark.parametrize(
    ("code", "phrase", "heard"),
    [
        ("fr", "citron forêt bougie 47", "Euh… Citron, FORET, bougie, quarante-sept."),
        ("fr", "lapin échelle fusée 97", "lapin echelle fusée quatre-vingt-dix-sept"),
        ("fr", "lapin échelle fusée 71", "Lapin, échelle, fusée : soixante et onze."),
        ("fr", "lapin échelle fusée 91", "lapin échelle fusée nonante et un"),  # Belgium's
        ("de", "apfel brücke löffel 47", "Apfel, Brucke, LÖFFEL siebenundvierzig."),
        ("es", "limón jirafa cohete 47", "Limon, jirafa, cohete, cuarenta y siete."),
        ("es", "limón jirafa cohete 23", "limón jirafa cohete veintitrés"),
        ("it", "mela volpe treno 28", "Mela, volpe, treno: ventotto."),
        ("pt", "maçã leão janela 47", "Maca, leao, janela, quarenta e sete."),
        ("nl", "appel tijger fiets 22", "Appel, tijger, fiets, tweeëntwintig."),
        ("en", "copper meadow lantern 47", "Copper, meadow, lantern forty-seven."),
        ("fr", "citron forêt bougie 47", "citron forêt bougie 47"),  # digits, as ASR writes
    ],
)
def test_a_transcript_in_the_phrases_language_matches(code: str, phrase: str, heard: str) -> None:
    assert phrase_matches(phrase, heard, language=code)


def test_accents_and_case_make_no_difference() -> None:
    """Exactly, not by the spelling tolerance: a recogniser may write words either way."""
    assert phrase_words("Échelle, FUSÉE; maçã LÖFFEL pinguïn", "fr") == [
        "echelle",
        "fusee",
        "maca",
        "loffel",
        "pinguin",
    ]
    assert phrase_score("échelle fusée médaille 47", "ECHELLE FUSEE MEDAILLE 47", "fr") == 1.0


@pytest.mark.parametrize(
    ("code", "phrase", "heard"),
    [
        ("fr", "citron forêt bougie 47", "citron forêt bougie quarante-six"),  # the number
        ("fr", "citron forêt bougie 80", "citron forêt bougie quatre-vingt-un"),
        ("de", "apfel brücke löffel 47", "Apfel Brücke Löffel vierundsiebzig"),
        ("es", "limón jirafa cohete 47", "cohete jirafa limón cuarenta y siete"),  # the order
        ("fr", "citron forêt bougie 47", "hello this is my voice"),
    ],
)
def test_a_wrong_phrase_does_not_match(code: str, phrase: str, heard: str) -> None:
    assert not phrase_matches(phrase, heard, language=code)


@pytest.mark.parametrize("code", SUPPORTED)
def test_every_number_a_phrase_may_hold_reads_back_as_its_digits(code: str) -> None:
    for n, spellings in spelled_numbers(code).items():
        for spelling in spellings:
            assert phrase_words(spelling, code) == [str(n)], (code, spelling)


class _Recognizer:
    """Stands in for a worker's speech recognizer: says what ``said`` makes of the language
    it is asked to listen in, and records that language."""

    def __init__(self) -> None:
        self.languages: list[str | None] = []
        self.said: Any = lambda language: ""

    def transcribe(self, audio: Any, language: str | None = None) -> str:
        self.languages.append(language)
        return str(self.said(language))


async def _uploads(store: Store, tmp: Path, *digests: str) -> None:
    for digest in digests:
        path = tmp / "media" / f"{digest}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"media " + digest.encode())
        await store.media.put(digest, "audio", path.stat().st_size, "", path)


@asynccontextmanager
async def _phrase_mode(
    tmp: Path, *, asr: bool = False
) -> AsyncIterator[tuple[Service, Store, Queue]]:
    with redis_server(tmp) as url:
        store = await Store.open(tmp / "db.sqlite3")
        queue = await Queue.connect(url, intake_timeout=2.0)
        limits = RateLimits(-1, -1, -1, -1, -1, -1)
        safety = Safety(defaults=ServerPolicy(consent_mode="phrase", limits=limits), asr=asr)
        try:
            yield Service(store, queue, tmp / "media", Limits(), safety=safety), store, queue
        finally:
            await queue.close()
            await store.close()


def _texts(actions: Sequence[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Reply)]


async def _entry(store: Store, draft_id: str) -> tuple[str, str]:
    entry = await store.safety.consent.phrase_entry("discord", "42", "chan1", draft_id)
    assert entry is not None
    return entry


def test_the_phrase_follows_the_language_until_the_voice_note_comes(tmp_path: Path) -> None:
    """/talk fr: a French phrase. /talk alone: English; /lang it before any voice note makes
    it again in Italian (said once); after the voice note it stays as it was recorded."""

    async def go() -> None:
        async with _phrase_mode(tmp_path) as (svc, store, _):
            said = _texts(await svc.handle(Command(USER, "talk", "fr")))
            draft = await store.drafts.get("discord", "42", "chan1")
            assert draft is not None
            phrase, language = await _entry(store, draft.id)
            assert language == "fr" and set(phrase.split()[:3]) <= set(WORDS["fr"])
            assert said[-1] == texts.PHRASE_INTRO.format(phrase=phrase)

            await svc.handle(Command(USER, "talk"))
            draft = await store.drafts.get("discord", "42", "chan1")
            assert draft is not None
            english, language = await _entry(store, draft.id)
            assert language == "en"
            said = _texts(await svc.handle(Command(USER, "lang", "it")))
            italian, language = await _entry(store, draft.id)
            assert language == "it" and set(italian.split()[:3]) <= set(WORDS["it"])
            assert said[-1] == texts.PHRASE_LANGUAGE.format(name="Italian", phrase=italian)
            said = _texts(await svc.handle(Text(USER, "Ciao a tutti.")))
            assert not any("phrase" in s for s in said)  # the same language: nothing new
            assert await _entry(store, draft.id) == (italian, "it")

            await store.drafts.put(
                "discord", "42", "chan1", replace(draft, voice_hash="v" * 64, voice_seconds=5)
            )
            said = _texts(await svc.handle(Command(USER, "lang", "de")))
            assert not any("phrase" in s for s in said)
            assert await _entry(store, draft.id) == (italian, "it")  # as it was recorded

    asyncio.run(go())


def test_a_phrase_first_asked_at_render_is_in_the_chosen_language(tmp_path: Path) -> None:
    async def go() -> None:
        async with _phrase_mode(tmp_path) as (svc, store, _):
            draft = replace(ready_draft("d-nl"), language="nl")
            await store.drafts.put("discord", "42", "chan1", draft)
            said = _texts(await svc.handle(Button(USER, "render")))
            phrase, language = await _entry(store, "d-nl")
            assert language == "nl" and set(phrase.split()[:3]) <= set(WORDS["nl"])
            assert said == [texts.PHRASE_NEEDED.format(phrase=phrase)]

    asyncio.run(go())


def test_the_voice_note_is_recognised_in_the_phrases_language(
    tmp_path: Path, speech_wav: Path
) -> None:
    """Render in phrase mode: the worker's recognizer is asked for French, and what it hears
    ("Citron, FORET..." with the number in words) matches the French phrase: queued. An
    English phrase is asked for as before languages came (the recognizer's own setting)."""
    recognizer = _Recognizer()

    async def go() -> None:
        async with _phrase_mode(tmp_path, asr=True) as (svc, store, queue):
            house = WorkerContext(BotSettings(), tmp_path, tmp_path, asr=recognizer)
            async with intake_worker(redis_url_of(queue), [transcribe], house):
                await queue.put_media("s" * 64, speech_wav.read_bytes())
                await _uploads(store, tmp_path, "s" * 64, "p" * 64)
                await svc.handle(Command(USER, "talk", "fr"))
                draft = await store.drafts.get("discord", "42", "chan1")
                assert draft is not None
                phrase, _ = await _entry(store, draft.id)
                words = phrase.split()
                spoken = " ".join(words[:3]).upper().replace("É", "E").replace("Ê", "E")
                number = spelled_numbers("fr")[int(words[3])][0]
                recognizer.said = lambda language: (
                    f"Euh... {spoken}, {number}." if language == "fr" else "nothing"
                )
                ready = replace(ready_draft(draft.id, "s" * 64), language="fr")
                await store.drafts.put("discord", "42", "chan1", ready)
                queued = _texts(await svc.handle(Button(USER, "render")))
                assert queued[0].startswith(QUEUED), queued
                assert recognizer.languages == ["fr"]

                # an English phrase, another voice note (the first carries its consent now)
                await queue.put_media("t" * 64, speech_wav.read_bytes())
                await _uploads(store, tmp_path, "t" * 64)
                await svc.handle(Command(USER, "talk"))
                draft = await store.drafts.get("discord", "42", "chan1")
                assert draft is not None
                await store.drafts.put(
                    "discord", "42", "chan1", ready_draft(draft.id, "t" * 64, "Hello again.")
                )
                refused = _texts(await svc.handle(Button(USER, "render")))
                phrase, _ = await _entry(store, draft.id)
                assert refused == [texts.PHRASE_NOT_HEARD.format(phrase=phrase)]
                assert recognizer.languages == ["fr", None]

    asyncio.run(go())
