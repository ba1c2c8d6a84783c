"""Moderation through the service, over real SQLite and a real redis-server: every /mod
command refused to non-moderators, policy edits, bans, channels, blocklist, consent modes
(review queue, spoken phrase with and without speech recognition), audit, queue cancel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.chat.app import safety_from
from bot.chat.queue import Queue
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.events import Button, Command, Notify, Reply, Text, Who
from bot.contract.jobs import JobState, Keys
from bot.conversation.service import Limits, Service
from bot.jobs.fair import SCOPE_WIDTH
from bot.safety import Staff
from bot.safety.policy import ListBounds, RateLimits, Safety, ServerPolicy
from bot.safety.retention import Retention, purge
from bot.settings import BotSettings
from bot.worker import WorkerContext, transcribe
from engine.asr import FasterWhisper
from job_marks import token_for
from tests.auxil.redis_server import redis_server
from tests.auxil.system import intake_worker, ready_draft, redis_url_of

GUILD = "g1"
USER = Who("discord", "42", "chan1", GUILD, "Ann")
MOD = Who("discord", "7", "modchan", GUILD, "Mo", server_admin=True)
NOBODY = Who("discord", "8", "chan1", GUILD, "Nob")  # a member without the permission
OTHER_MOD = Who("discord", "9", "x", "g2", "Other", server_admin=True)  # another server's

#: one invocation of every /mod subcommand (and each form that writes something)
EVERY_MOD_COMMAND = (
    "limits",
    "limits set day 5",
    "limits reset",
    "consent",
    "consent review",
    "ban 42",
    "unban 42",
    "purge 42",
    "queue",
    "reviews",
    "audit",
    "audit 3",
    "channels",
    "channels add here",
    "channels clear",
    "label",
    "label top-left",
    "block list",
    "block add nasty",
    "block remove nasty",
    "verify",
    "verify everywhere",
)
QUEUED = texts.QUEUED.split("{")[0]


def _texts(actions: list[Any]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Reply) and not isinstance(a, Notify)]


async def _uploads(store: Store, tmp: Path, *digests: str) -> None:
    """The bot's own copies of these uploads, as the service saves them."""
    for digest in digests:
        path = tmp / "media" / f"{digest}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"media " + digest.encode())
        await store.media.put(digest, "audio", path.stat().st_size, "", path)


@asynccontextmanager
async def service(
    tmp: Path,
    *,
    mode: str = "attest",
    asr: bool = False,
    label_required: bool = True,
    operators: dict[str, frozenset[str]] | None = None,
    list_bounds: ListBounds | None = None,
) -> AsyncIterator[tuple[Service, Store, Queue]]:
    tmp.mkdir(parents=True, exist_ok=True)
    with redis_server(tmp) as url:
        store = await Store.open(tmp / "db.sqlite3")
        queue = await Queue.connect(url, intake_timeout=2.0)
        safety = Safety(
            defaults=ServerPolicy(consent_mode=mode, limits=RateLimits(-1, -1, -1, -1, -1, -1)),
            label_required=label_required,
            asr=asr,
            out_dir=tmp / "out",
            staff=Staff(operators=operators or {}),
            list_bounds=list_bounds or ListBounds(),
        )
        try:
            yield Service(store, queue, tmp / "media", Limits(), safety=safety), store, queue
        finally:
            await queue.close()
            await store.close()


def test_every_moderator_command_and_button_is_refused_to_non_moderators(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            for args in EVERY_MOD_COMMAND:
                assert _texts(await svc.handle(Command(NOBODY, "mod", args))) == [texts.MOD_ONLY], (
                    args
                )
            for action in ("mod_cancel", "mod_approve", "mod_deny"):
                got = await svc.handle(Button(NOBODY, action, "abcdef0123"))
                assert _texts(got) == [texts.MOD_BUTTON_ONLY]
            # nothing changed
            assert await store.safety.policy.guild_policy("discord", GUILD) == {}
            assert not await store.safety.bans.is_banned("discord", GUILD, "42")

    asyncio.run(go())


def test_moderators_edit_the_server_policy(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            mod = lambda args: svc.handle(Command(MOD, "mod", args))  # noqa: E731
            assert _texts(await mod("limits set day 5"))[0].startswith("Limits here: 5 a day")
            assert "review" in _texts(await mod("consent review"))[0]
            assert _texts(await mod("label off")) == [texts.MOD_LABEL_REQUIRED]
            assert "top-left" in _texts(await mod("label top-left"))[0]
            assert _texts(await mod("explode")) == [texts.MOD_HELP]
            data = await store.safety.policy.guild_policy("discord", GUILD)
            assert data == {
                "limits": {"user_per_day": 5},
                "consent_mode": "review",
                "label_position": "top-left",
            }
            # another server is untouched
            assert await store.safety.policy.guild_policy("discord", "g2") == {}

    asyncio.run(go())


def test_label_may_be_removed_only_where_policy_allows(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path, label_required=False) as (svc, store, queue):
            assert "switched off" in _texts(await svc.handle(Command(MOD, "mod", "label off")))[0]
            await svc.handle(Command(MOD, "mod", "label top-right"))
            await _uploads(store, tmp_path, "v" * 64, "p" * 64)
            await store.drafts.put("discord", "42", "chan1", ready_draft("d1"))
            await svc.handle(Button(USER, "render"))
            (job,) = await store.safety.places.open_in_scope("discord", GUILD)
            row = await store.database.one("SELECT payload FROM jobs WHERE job_id=?", job.job_id)
            assert '"label": null' in row[0] and '"label_position": "top-right"' in row[0]

    asyncio.run(go())


def test_blocklist_channels_and_bans(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            await svc.handle(Command(MOD, "mod", "block add Evil Plan"))
            await svc.handle(Command(USER, "talk"))
            await svc.handle(Text(USER, "A fine script."))
            refused = await svc.handle(Text(USER, "Here is my evil, plan!"))
            assert _texts(refused) == [texts.SCRIPT_BLOCKED]
            assert "evil" not in texts.SCRIPT_BLOCKED.lower()  # nothing offensive echoed
            draft = await store.drafts.get("discord", "42", "chan1")
            assert draft is not None and draft.script == "A fine script."  # nothing lost
            # a draft that got its script before the block is refused at Render, and kept
            await store.drafts.put(
                "discord", "42", "chan1", ready_draft("d2", script="evil plan now")
            )
            assert _texts(await svc.handle(Button(USER, "render"))) == [texts.SCRIPT_BLOCKED]
            assert await store.drafts.get("discord", "42", "chan1") is not None

            await svc.handle(Command(MOD, "mod", "channels add 555"))
            assert _texts(await svc.handle(Command(USER, "talk"))) == [texts.CHANNEL_NOT_ALLOWED]
            inside = replace(USER, chat_id="555")
            assert _texts(await svc.handle(Command(inside, "talk")))[0] == texts.START
            await svc.handle(Command(MOD, "mod", "channels clear"))

            assert _texts(await svc.handle(Command(MOD, "mod", "ban <@42> spam"))) == [
                texts.MOD_BANNED.format(user="42")
            ]
            assert _texts(await svc.handle(Command(USER, "talk"))) == [texts.BANNED]
            assert _texts(await svc.handle(Button(USER, "render"))) == [texts.BANNED]
            assert _texts(await svc.handle(Command(USER, "help"))) == [texts.HELP]
            await svc.handle(Command(MOD, "mod", "unban 42"))
            assert _texts(await svc.handle(Command(USER, "talk")))[0] == texts.START

    asyncio.run(go())


def test_review_mode_holds_renders_until_a_moderator_decides(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path, mode="review") as (svc, store, queue):
            files = []
            for digest in ("v" * 64, "p" * 64):  # the uploads, as the service saved them
                files.append(tmp_path / f"{digest[:4]}.bin")
                files[-1].write_bytes(b"media")
                await store.media.put(digest, "audio", 5, "", files[-1])
            await store.drafts.put("discord", "42", "chan1", ready_draft("d1"))
            held = _texts(await svc.handle(Button(USER, "render")))[0]
            assert held.startswith(texts.AWAITING_REVIEW.split("(")[0])
            (job,) = await store.safety.places.open_in_scope("discord", GUILD)
            assert job.status == "review"
            assert await queue.record(job.job_id) is None  # not in the render queue

            listed = await svc.handle(Command(MOD, "mod", "reviews"))
            buttons = {(b.action, b.value) for b in listed[0].buttons}
            assert buttons == {("mod_approve", job.job_id), ("mod_deny", job.job_id)}
            assert "Hello there." in listed[0].text  # the moderator sees what to judge
            assert listed[0].private  # other people's data: only the moderator sees it
            # previews of the voice note and photo come from a worker (none runs here): the
            # moderator is told there are none, and no upload is attached in their place
            assert listed[0].attachments == ()
            assert texts.MOD_REVIEW_NO_PREVIEW.format(what="photo") in listed[0].text

            assert _texts(await svc.handle(Button(OTHER_MOD, "mod_approve", job.job_id))) == [
                texts.MOD_REVIEW_GONE.format(job=job.job_id[:8])  # not their server's job
            ]
            approved = await svc.handle(Button(MOD, "mod_approve", job.job_id))
            assert _texts(approved) == [texts.MOD_APPROVED.format(job=job.job_id[:8])]
            (note,) = [a for a in approved if isinstance(a, Notify)]
            assert (note.chat_id, note.text) == (
                "chan1",
                texts.REVIEW_APPROVED.format(job=job.job_id[:8]),
            )
            live = await queue.record(job.job_id)
            assert live is not None and live.state == "queued"
            again = await svc.handle(Button(MOD, "mod_deny", job.job_id))
            assert _texts(again) == [texts.MOD_REVIEW_GONE.format(job=job.job_id[:8])]

            await store.drafts.put("discord", "42", "chan1", ready_draft("d2"))
            await svc.handle(Button(USER, "render"))
            (pending,) = await store.safety.reviews.pending_reviews("discord", GUILD)
            denied = await svc.handle(Button(MOD, "mod_deny", pending.job.job_id))
            (note,) = [a for a in denied if isinstance(a, Notify)]
            assert note.text == texts.REVIEW_DENIED.format(job=pending.job.job_id[:8])
            assert await queue.record(pending.job.job_id) is None
            place = await store.safety.places.job_place(pending.job.job_id)
            assert place is not None and (place.scope, place.status) == (GUILD, "denied")

    asyncio.run(go())


def test_phrase_mode_without_asr_goes_to_review_and_a_saved_voice_keeps_its_consent(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        async with service(tmp_path, mode="phrase") as (svc, store, queue):
            start = _texts(await svc.handle(Command(USER, "talk")))
            draft = await store.drafts.get("discord", "42", "chan1")
            assert draft is not None
            phrase = await store.safety.consent.phrase_for("discord", "42", "chan1", draft.id)
            assert phrase and start[-1] == texts.PHRASE_INTRO.format(phrase=phrase)
            await _uploads(store, tmp_path, "a" * 64, "b" * 64, "p" * 64)
            await store.drafts.put("discord", "42", "chan1", ready_draft(draft.id, voice="a" * 64))
            assert _texts(await svc.handle(Button(USER, "render")))[0].startswith("A moderator")
            (pending,) = await store.safety.reviews.pending_reviews("discord", GUILD)
            assert pending.phrase == phrase
            listed = _texts(await svc.handle(Command(MOD, "mod", "reviews")))[0]
            assert phrase in listed
            # the user saves that voice; the moderator's approval passes to the saved voice
            await store.media.put("a" * 64, "audio", 10, "audio/ogg", tmp_path / "a.ogg")
            await store.voices.save("discord", "42", "Ann", "a" * 64, 5.0, None)
            await svc.handle(Button(MOD, "mod_approve", pending.job.job_id))
            got = await store.safety.consent.voice_consent("discord", "42", "a" * 64, GUILD)
            assert got is not None
            assert (got.method, got.valid_in, got.by) == ("approval", GUILD, "7")
            # ...which counts in this server only
            assert await store.safety.consent.voice_consent("discord", "42", "a" * 64, "g2") is None
            row = await store.database.one("SELECT consent_id FROM voice_profiles WHERE name='Ann'")
            assert row is not None and row[0] is not None
            saved = await store.safety.consent.saved_voice_consents("discord", "42", "Ann")
            assert list(saved) == [GUILD]
            # reusing the verified voice in a new draft needs no new review
            await store.drafts.put("discord", "42", "chan1", ready_draft("later", voice="a" * 64))
            assert _texts(await svc.handle(Button(USER, "render")))[0].startswith(QUEUED)
            # another, unverified voice does not ride on it
            await store.drafts.put("discord", "42", "chan1", ready_draft("other", voice="b" * 64))
            needed = _texts(await svc.handle(Button(USER, "render")))[0]
            phrase2 = await store.safety.consent.phrase_for("discord", "42", "chan1", "other")
            assert needed == texts.PHRASE_NEEDED.format(phrase=phrase2)
            assert await store.drafts.get("discord", "42", "chan1") is not None

    asyncio.run(go())


class _FakeWhisper:
    """Stands in for faster-whisper's WhisperModel (no model can be loaded here): hears
    ``said`` in any audio that is long enough; records what it was given."""

    def __init__(self) -> None:
        self.said = ""
        self.seen: list[int] = []

    def transcribe(self, samples: Any, **kw: Any) -> tuple[list[Any], None]:
        self.seen.append(len(samples))
        seg = type("Segment", (), {"text": " " + self.said + " "})
        return [seg], None


def test_phrase_mode_with_speech_recognition_checks_the_voice_note(
    tmp_path: Path, speech_wav: Path
) -> None:
    model = _FakeWhisper()

    async def go() -> None:
        async with service(tmp_path, mode="phrase", asr=True) as (svc, store, queue):
            recognizer = FasterWhisper(Path("unused"), model=model)
            async with _transcribing(queue, recognizer, tmp_path):
                await queue.put_media("s" * 64, speech_wav.read_bytes())
                await svc.handle(Command(USER, "talk"))
                draft = await store.drafts.get("discord", "42", "chan1")
                assert draft is not None
                phrase = await store.safety.consent.phrase_for("discord", "42", "chan1", draft.id)
                assert phrase is not None
                words = phrase.split()
                model.said = "Something else entirely."
                await _uploads(store, tmp_path, "p" * 64)
                await store.drafts.put("discord", "42", "chan1", ready_draft(draft.id, "s" * 64))
                refused = _texts(await svc.handle(Button(USER, "render")))
                assert refused == [texts.PHRASE_NOT_HEARD.format(phrase=phrase)]
                assert await store.drafts.get("discord", "42", "chan1") is not None
                model.said = f"Okay. {' '.join(words[:3]).title()}, {words[3]}."
                accepted = _texts(await svc.handle(Button(USER, "render")))
                assert accepted[0].startswith(QUEUED)
                assert model.seen and all(n > 16_000 for n in model.seen)  # real decoding
                (record,) = await store.safety.log.recent_renders("discord", GUILD)
                assert (record.mode, record.method, record.valid_in) == ("phrase", "phrase", "*")
                audit = _texts(await svc.handle(Command(MOD, "mod", "audit")))[0]
                assert "consent phrase heard (phrase mode)" in audit

    asyncio.run(go())


def test_phrase_check_with_a_real_speech_recognizer_in_the_worker(
    tmp_path: Path, speech_wav: Path, tiny_whisper: Path
) -> None:
    """MOUTHPIECE_ASR_MODEL pointing at a converted model folder: the worker loads it through
    load_recognizer (faster-whisper), the bot asks it at Render, and what it heard is checked
    against the phrase. The tiny random model hears nonsense, so the phrase is not heard."""
    from bot.settings import BotSettings
    from bot.worker import load_recognizer

    recognizer = load_recognizer(BotSettings(asr_model=str(tiny_whisper)))
    heard: list[str | None] = []

    async def go() -> None:
        async with (
            service(tmp_path, mode="phrase", asr=True) as (svc, store, queue),
            _transcribing(queue, recognizer, tmp_path),
        ):
            await queue.put_media("s" * 64, speech_wav.read_bytes())
            heard.append(await queue.transcribe("s" * 64))
            await svc.handle(Command(USER, "talk"))
            draft = await store.drafts.get("discord", "42", "chan1")
            assert draft is not None
            phrase = await store.safety.consent.phrase_for("discord", "42", "chan1", draft.id)
            await store.drafts.put("discord", "42", "chan1", ready_draft(draft.id, "s" * 64))
            refused = _texts(await svc.handle(Button(USER, "render")))
            assert refused == [texts.PHRASE_NOT_HEARD.format(phrase=phrase)]
            assert await store.drafts.get("discord", "42", "chan1") is not None

    asyncio.run(go())
    assert heard and isinstance(heard[0], str) and heard[0]  # the worker heard something


def _transcribing(queue: Queue, recognizer: Any, cache: Path) -> Any:
    """An intake worker on the queue's Redis that runs ``transcribe`` with ``recognizer``."""
    house = WorkerContext(BotSettings(), cache, cache, asr=recognizer)
    return intake_worker(redis_url_of(queue), [transcribe], house)


def test_audit_and_queue_view_with_cancel(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            await _uploads(store, tmp_path, "v" * 64, "p" * 64)
            await store.drafts.put(
                "discord", "42", "chan1", ready_draft("d1", script="Top secret words")
            )
            await svc.handle(Button(USER, "render"))
            audit = _texts(await svc.handle(Command(MOD, "mod", "audit")))[0]
            assert "user 42" in audit and "voice vvvvvvvv" in audit and "photo pppppppp" in audit
            assert "secret" not in audit  # hashes, not content
            view = (await svc.handle(Command(MOD, "mod", "queue")))[0]
            (button,) = view.buttons
            assert button.action == "mod_cancel" and "user 42" in view.text
            done = _texts(await svc.handle(Button(MOD, "mod_cancel", button.value)))
            assert done == [texts.MOD_CANCELLED.format(job=button.value[:8])]
            assert await store.safety.places.open_in_scope("discord", GUILD) == []
            assert _texts(await svc.handle(Command(MOD, "mod", "queue"))) == [texts.MOD_QUEUE_EMPTY]
            assert await queue.redis.exists(Keys.job(button.value))  # the queue knew it

    asyncio.run(go())


def test_audit_find_by_user_job_fingerprint_and_mark_within_the_moderators_scope(
    tmp_path: Path,
) -> None:
    """``/mod audit find TERM``: the renders of the moderator's server that a user id, the
    start of a job id or fingerprint, or a video's mark names, newest first, in the audit's
    lines; another server's render stays out of reach (even by its job id) but to operators."""
    operator = Who("discord", "11", "dm11", None, "Op")
    there = Who("discord", "43", "chan2", "g2", "Bo")  # a member of the other server
    first, second, theirs = "ab" * 32, "12" * 32, "ef" * 32  # the voices' fingerprints
    photo = "cd" * 32
    usage = texts.MOD_BAD.format(usage=texts.MOD_USAGE["audit"])

    async def go() -> None:
        ops = {"discord": frozenset({operator.user_id})}
        async with service(tmp_path, operators=ops) as (svc, store, _):
            await _uploads(store, tmp_path, first, second, theirs, photo)

            async def render(who: Who, draft: str, voice: str) -> str:
                before = await store.safety.places.open_in_scope("discord", None)
                ready = replace(ready_draft(draft, voice=voice), photo_hash=photo)
                await store.drafts.put("discord", who.user_id, who.chat_id, ready)
                await svc.handle(Button(who, "render"))
                after = await store.safety.places.open_in_scope("discord", None)
                (job,) = {j.job_id for j in after} - {j.job_id for j in before}
                return job

            async def find(who: Who, term: str) -> str:
                (reply,) = await svc.handle(Command(who, "mod", f"audit find {term}"))
                assert isinstance(reply, Reply)
                assert reply.private or reply.text == usage  # results: other people's data
                return reply.text

            old, new = await render(USER, "d1", first), await render(USER, "d2", second)
            elsewhere = await render(there, "d3", theirs)
            line = {j: f"job {j[:8]}" for j in (old, new, elsewhere)}

            # 1. By the requester's id: both of 42's, newest first, as the audit shows them.
            by_user = await find(MOD, "42")
            assert by_user == _texts(await svc.handle(Command(MOD, "mod", "audit")))[0]
            assert by_user.index(line[new]) < by_user.index(line[old])
            assert await find(MOD, "<@42>") == by_user
            # 2. By the start of a job id (any case): that job alone.
            found = await find(MOD, old[:6].upper())
            assert line[old] in found and "user 42" in found and line[new] not in found
            # 3. By the start of a voice or photo fingerprint.
            found = await find(MOD, "ABABAB")
            assert line[old] in found and line[new] not in found and "voice abababab" in found
            assert await find(MOD, second[:10]) == (await find(MOD, new[:8]))
            assert await find(MOD, photo[:6]) == by_user  # both used that photo
            # 4. By the mark `mouthpiece verify` reads from the video's speech.
            found = await find(MOD, f"0x{token_for(new):08x}")
            assert line[new] in found and line[old] not in found

            # 5. The other server's render is out of this moderator's reach, however named;
            #    its own moderator finds it, and not ours.
            no_match = texts.MOD_AUDIT_NO_MATCH
            for term in (elsewhere[:6], elsewhere, "43", theirs[:8], f"0x{token_for(elsewhere):x}"):
                assert await find(MOD, term) == no_match.format(term=term), term
            assert line[elsewhere] in await find(OTHER_MOD, elsewhere[:6])
            assert await find(OTHER_MOD, "42") == no_match.format(term="42")
            everywhere = _texts(await svc.handle(Command(MOD, "mod", "audit find 43 everywhere")))
            assert everywhere == [texts.MOD_OPERATOR_ONLY]
            # 6. Operators search everywhere when they say so; their DMs' audit otherwise.
            found = await find(operator, f"{elsewhere[:6]} everywhere")
            assert line[elsewhere] in found and "server g2" in found
            assert await find(operator, "43") == no_match.format(term="43")
            assert await find(operator, "999 everywhere") == (
                texts.MOD_AUDIT_NO_MATCH_EVERYWHERE.format(term="999")
            )

            # 7. A term that is none of these gets the usage line; one that matches nothing
            #    says so in one line.
            for term in ("", "ab", "zzzzzz", "ab%ab%", "ab_ab_", "a" * 65, "0xzz", "42 43"):
                assert await find(MOD, term) == usage, term
            assert await find(MOD, "999") == no_match.format(term="999")
            assert await find(MOD, "a" * 64) == no_match.format(term="a" * 64)

            # 8. At most 20, the newest first.
            for n in range(20):
                await render(USER, f"more{n}", first)
            capped = (await find(MOD, "42")).splitlines()
            assert len(capped) == 20 and all(line[old] not in c for c in capped)

    asyncio.run(go())


def test_review_needs_someone_who_can_approve_it(tmp_path: Path) -> None:
    dm = Who("discord", "42", "dm1", None, "Ann")  # Discord DMs have no moderators
    tg = Who("telegram", "42", "42", None, "Ann")  # Telegram DMs: its operators review
    admin = Who("telegram", "1", "1", None, "Admin")
    operators = {"telegram": frozenset({"1"})}

    async def go() -> None:
        async with service(tmp_path, mode="review", operators=operators) as (svc, store, _):
            await _uploads(store, tmp_path, "v" * 64, "p" * 64)
            await store.drafts.put("discord", "42", "dm1", ready_draft("d1"))
            assert _texts(await svc.handle(Button(dm, "render"))) == [texts.REVIEW_UNAVAILABLE]
            assert await store.drafts.get("discord", "42", "dm1") is not None
            await store.drafts.put("telegram", "42", "42", ready_draft("d2"))
            assert _texts(await svc.handle(Button(tg, "render")))[0].startswith("A moderator")
            listed = await svc.handle(Command(admin, "mod", "reviews"))
            assert [b.action for b in listed[0].buttons] == ["mod_approve", "mod_deny"]

    asyncio.run(go())


def test_a_review_approved_after_the_redis_copies_expired_is_rendered(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path, mode="review") as (svc, store, queue):
            await _uploads(store, tmp_path, "v" * 64, "p" * 64)
            await store.drafts.put("discord", "42", "chan1", ready_draft("d1"))
            await svc.handle(Button(USER, "render"))
            (job,) = await store.safety.places.open_in_scope("discord", GUILD)
            keys = [Keys.media("v" * 64), Keys.media("p" * 64)]
            await queue.redis.delete(*keys)  # a day later: the Redis copies expired
            approved = await svc.handle(Button(MOD, "mod_approve", job.job_id))
            assert _texts(approved) == [texts.MOD_APPROVED.format(job=job.job_id[:8])]
            assert await queue.redis.exists(*keys) == 2  # supplied again from the bot's files
            assert await queue.redis.get(keys[0]) == b"media " + b"v" * 64
            live = await queue.record(job.job_id)
            assert live is not None and live.state == "queued"

            # the bot lost its own copy too: the review cannot be made, and both are told
            await store.drafts.put("discord", "42", "chan1", ready_draft("d2"))
            await svc.handle(Button(USER, "render"))
            (pending,) = await store.safety.reviews.pending_reviews("discord", GUILD)
            await queue.redis.delete(*keys)
            (tmp_path / "media" / ("p" * 64 + ".bin")).unlink()
            short = pending.job.job_id[:8]
            got = await svc.handle(Button(MOD, "mod_approve", pending.job.job_id))
            assert _texts(got) == [texts.MOD_REVIEW_MEDIA_GONE.format(job=short)]
            (note,) = [a for a in got if isinstance(a, Notify)]
            assert note.text == texts.REVIEW_MEDIA_GONE.format(job=short)
            place = await store.safety.places.job_place(pending.job.job_id)
            assert place is not None and place.status == "denied"
            assert await queue.record(pending.job.job_id) is None
            # and a draft whose photo is gone is refused at Render, and kept
            await store.drafts.put("discord", "42", "chan1", ready_draft("d3"))
            refused = _texts(await svc.handle(Button(USER, "render")))
            assert refused == [texts.MEDIA_GONE.format(what="photo")]
            assert await store.drafts.get("discord", "42", "chan1") is not None

    asyncio.run(go())


def test_a_server_may_tighten_the_operators_limits_never_loosen_them(tmp_path: Path) -> None:
    async def go() -> None:
        with redis_server(tmp_path) as url:
            store = await Store.open(tmp_path / "db.sqlite3")
            queue = await Queue.connect(url)
            # shares of the queue unlike the defaults (20 and 10): the text must follow them
            caps = ServerPolicy(consent_mode="phrase", limits=RateLimits(5, 2, 30, 50, 7, 3))
            svc = Service(store, queue, tmp_path / "media", Limits(), safety=Safety(defaults=caps))
            mod = lambda args: svc.handle(Command(MOD, "mod", args))  # noqa: E731
            try:
                assert _texts(await mod("limits set day 6")) == [
                    texts.MOD_LIMIT_CAPPED.format(name="day", cap=5)
                ]
                assert _texts(await mod("limits set hour -1")) == [
                    texts.MOD_LIMIT_CAPPED.format(name="hour", cap=30)
                ]
                assert _texts(await mod("limits set queue 500")) == [texts.MOD_QUEUE_OPERATORS]
                assert _texts(await mod("consent attest")) == [
                    texts.MOD_CONSENT_FLOOR.format(mode="phrase")
                ]
                assert await store.safety.policy.guild_policy("discord", GUILD) == {}
                assert _texts(await mod("limits set day 2"))[0].startswith("Limits here: 2 a day")
                assert "review" in _texts(await mod("consent review"))[0]
                # an override stored before (or by an older version) is bounded anyway
                await store.safety.policy.edit_guild_policy(
                    "discord",
                    GUILD,
                    lambda d: {**d, "limits": {"user_per_day": 99, "queue_max": 999}},
                )
                shown = _texts(await mod("limits"))[0]
                assert shown.startswith("Limits here: 5 a day") and "50 in the whole queue" in shown
                # a moderator sees the shares: this server's, the DMs', and the per-round cap
                # the fair queue applies
                assert shown == texts.MOD_LIMITS.format(
                    day=5, concurrent=2, hour=30, queue=50, share=7, dm=3, width=SCOPE_WIDTH
                )
                assert "at most 7 for one server, 3 for direct messages" in shown
                assert f"at most {SCOPE_WIDTH} videos per round" in shown
            finally:
                await queue.close()
                await store.close()

    asyncio.run(go())


def test_takedown_and_the_moderators_log_of_one_server(tmp_path: Path) -> None:
    async def go() -> None:
        async with service(tmp_path) as (svc, store, queue):
            await _uploads(store, tmp_path, "v" * 64, "p" * 64)
            await store.drafts.put("discord", "42", "chan1", ready_draft("d1"))
            await svc.handle(Button(USER, "render"))
            (job,) = await store.safety.places.open_in_scope("discord", GUILD)
            await queue.redis.hset(Keys.job(job.job_id), "status", "done")
            await store.jobs.move(job.job_id, JobState.DONE)
            out = tmp_path / "out"
            out.mkdir()
            video = out / f"{job.job_id}.mp4"
            video.write_bytes(b"the video")
            short = job.job_id[:8]
            # another server's moderator knows the id (from a verify): not theirs
            other = await svc.handle(Command(OTHER_MOD, "mod", f"takedown {job.job_id}"))
            assert _texts(other) == [texts.MOD_JOB_NOT_HERE.format(job=short)]
            assert video.exists()
            got = await svc.handle(Command(MOD, "mod", f"takedown {short} copyright claim"))
            # nothing was posted in the chat for it (no worker ran): nothing to delete there
            assert _texts(got) == [
                texts.MOD_TAKEN_DOWN.format(job=short) + texts.MOD_UNPOSTED_NOTHING
            ]
            (note,) = [a for a in got if isinstance(a, Notify)]
            assert (note.chat_id, note.text) == ("chan1", texts.TAKEDOWN_NOTICE.format(job=short))
            assert not video.exists()
            audit = _texts(await svc.handle(Command(MOD, "mod", "audit")))[0]
            assert f"job {short} · taken down" in audit  # the audit entry stays
            log = _texts(await svc.handle(Command(MOD, "mod", "log")))[0]
            assert f"7 · takedown {job.job_id} copyright claim" in log
            assert _texts(await svc.handle(Command(OTHER_MOD, "mod", "log"))) == [
                texts.MOD_LOG_EMPTY
            ]
            assert _texts(await svc.handle(Command(NOBODY, "mod", "log"))) == [texts.MOD_ONLY]

    asyncio.run(go())


def test_an_undecided_review_expires_frees_the_slot_and_the_requester_hears(
    tmp_path: Path,
) -> None:
    told: list[tuple[str, str, str]] = []

    async def notify(platform: str, chat_id: str, text: str, job_id: str) -> None:
        told.append((platform, chat_id, text))

    async def go() -> None:
        async with service(tmp_path, mode="review") as (svc, store, queue):
            await _uploads(store, tmp_path, "v" * 64, "p" * 64)
            await store.safety.policy.edit_guild_policy(
                "discord", GUILD, lambda d: {"limits": {"user_concurrent": 1}}
            )
            await store.drafts.put("discord", "42", "chan1", ready_draft("d1"))
            await svc.handle(Button(USER, "render"))
            await store.drafts.put("discord", "42", "chan1", ready_draft("d2"))
            full = _texts(await svc.handle(Button(USER, "render")))[0]
            assert full.startswith(texts.LIMIT_CONCURRENT.format(allowed=1))
            (job,) = await store.safety.places.open_in_scope("discord", GUILD)
            rules = Retention(review_hours=48)
            report = await purge(store, None, rules, time.time() + 47 * 3600, notify)
            assert report.reviews == 0 and not told
            report = await purge(store, None, rules, time.time() + 49 * 3600, notify)
            assert report.reviews == 1
            assert told == [
                ("discord", "chan1", texts.REVIEW_EXPIRED.format(job=job.job_id[:8], hours=48))
            ]
            place = await store.safety.places.job_place(job.job_id)
            assert place is not None and place.status == "expired"
            await store.drafts.put(
                "discord", "42", "chan1", ready_draft("d2")
            )  # (retention ate it)
            held = _texts(await svc.handle(Button(USER, "render")))[0]
            assert held.startswith("A moderator checks consent")  # the slot is free again
            assert _texts(await svc.handle(Button(MOD, "mod_approve", job.job_id))) == [
                texts.MOD_REVIEW_GONE.format(job=job.job_id[:8])
            ]

    asyncio.run(go())


def test_a_servers_lists_are_bounded(tmp_path: Path) -> None:
    """Blocklist and channel list stop growing at their bounds, with one line each: the
    defaults (200 phrases of at most 100 characters, 50 channels), and the lower bounds an
    operator sets (MOUTHPIECE_MAX_BLOCKLIST, _MAX_BLOCKED_PHRASE_CHARS, _MAX_CHANNELS)."""
    assert safety_from(BotSettings()).list_bounds == ListBounds(200, 100, 50)
    env = {
        "MOUTHPIECE_MAX_BLOCKLIST": "3",
        "MOUTHPIECE_MAX_BLOCKED_PHRASE_CHARS": "12",
        "MOUTHPIECE_MAX_CHANNELS": "2",
    }
    lowered = safety_from(BotSettings.from_env(env, dotenv=None)).list_bounds
    assert lowered == ListBounds(blocklist=3, phrase_chars=12, channels=2)

    async def bounded(svc: Service, store: Store, bounds: ListBounds) -> None:
        for n in range(bounds.blocklist):
            await svc.handle(Command(MOD, "mod", f"block add phrase{n}"))
        full = _texts(await svc.handle(Command(MOD, "mod", "block add one more")))
        assert full == [texts.MOD_LIST_FULL.format(what="blocklist", n=bounds.blocklist)]
        assert _texts(await svc.handle(Command(MOD, "mod", "block remove phrase0")))
        long = "x" * (bounds.phrase_chars + 1)
        refused = _texts(await svc.handle(Command(MOD, "mod", f"block add {long}")))
        assert refused == [texts.MOD_PHRASE_TOO_LONG.format(n=bounds.phrase_chars)]
        assert _texts(await svc.handle(Command(MOD, "mod", f"block add {long[1:]}"))) == [
            texts.MOD_BLOCK_ADDED
        ]
        for n in range(bounds.channels):
            await svc.handle(Command(MOD, "mod", f"channels add <#{1000 + n}>"))
        full = _texts(await svc.handle(Command(MOD, "mod", "channels add <#99>")))
        assert full == [texts.MOD_LIST_FULL.format(what="channel list", n=bounds.channels)]
        policy = await store.safety.policy.guild_policy("discord", GUILD)
        assert len(policy["blocklist"]) == bounds.blocklist
        assert len(policy["channels"]) == bounds.channels

    async def go() -> None:
        async with service(tmp_path / "defaults") as (svc, store, _):
            await bounded(svc, store, ListBounds())
        async with service(tmp_path / "lowered", list_bounds=lowered) as (svc, store, _):
            await bounded(svc, store, lowered)

    asyncio.run(go())
