"""Pure safety rules: limit decisions and retry times, blocklist matching, consent phrases
and their fuzzy check, per-server overrides, and the /mod parser."""

from __future__ import annotations

import random

import pytest

from bot.contract import texts
from bot.safety import moderation
from bot.safety.moderation import AuditFind, ModCommand
from bot.safety.policy import (
    DAY,
    HOUR,
    RateLimits,
    ServerPolicy,
    Usage,
    blocked,
    decide_limits,
    make_phrase,
    normalise,
    phrase_matches,
    phrase_score,
    stricter_mode,
    tighter,
)

LIMITS = RateLimits(user_per_day=3, user_concurrent=2, server_per_hour=5, queue_max=10)


def test_each_limit_refuses_at_its_count_and_says_when() -> None:
    now = 1_000_000.0
    assert decide_limits(LIMITS, Usage(user_day=(now - 10, now - 5)), server=True) is None
    day = decide_limits(LIMITS, Usage(user_day=(now - 100, now - 50, now - 7000)), server=True)
    assert day is not None and day.limit == "day"
    assert day.retry_at == now - 7000 + DAY  # when the oldest counted job leaves the window
    assert day.retry_in(now) == DAY - 7000
    hour = decide_limits(LIMITS, Usage(server_hour=(now - 600,) * 4 + (now - 3000,)), server=True)
    assert hour is not None and hour.limit == "hour" and hour.retry_at == now - 3000 + HOUR
    # direct messages have no server: the server limit does not apply
    assert decide_limits(LIMITS, Usage(server_hour=(now,) * 9), server=False) is None
    busy = decide_limits(LIMITS, Usage(user_open=2), server=True)
    assert busy is not None and busy.limit == "concurrent" and busy.retry_at is None
    full = decide_limits(LIMITS, Usage(queue_open=10), server=True)
    assert full is not None and full.limit == "queue"


def test_lowered_limit_waits_for_enough_jobs_to_leave_and_zero_never_promises() -> None:
    now = 500_000.0
    times = (now - 4000, now - 3000, now - 2000, now - 1000)
    lowered = decide_limits(RateLimits(user_per_day=2), Usage(user_day=times), server=False)
    assert lowered is not None and lowered.retry_at == now - 2000 + DAY  # 3rd oldest must go
    off = decide_limits(RateLimits(user_per_day=0), Usage(), server=False)
    assert off is not None and off.retry_at is None
    unlimited = RateLimits(user_per_day=-1, user_concurrent=-1, server_per_hour=-1, queue_max=-1)
    assert decide_limits(unlimited, Usage((now,) * 99, 99, (now,) * 99, 99), server=True) is None


def test_retry_wording() -> None:
    assert texts.when(None) == texts.WHEN_UNKNOWN
    assert texts.when(20) == "in a minute"
    assert texts.when(25 * 60) == "in 25 min"
    assert texts.when(3 * 3600 + 5 * 60) == "in 3 h 5 min"


@pytest.mark.parametrize(
    ("script", "hit"),
    [
        ("Say the FORBIDDEN word", True),
        ("forbídden, with an accent", True),
        ("a bad  phrase here", True),
        ("a bad-phrase here", True),
        ("unforbidden is another word", False),
        ("bad alone is fine", False),
        ("nothing to see", False),
    ],
)
def test_blocklist_matches_whole_words_ignoring_case_accents_punctuation(
    script: str, hit: bool
) -> None:
    assert blocked(script, ("forbidden", "Bad Phrase")) is hit


def test_phrases_are_three_words_and_a_number_and_rarely_repeat() -> None:
    phrases = {make_phrase() for _ in range(200)}
    assert len(phrases) == 200
    for p in list(phrases)[:20]:
        words = p.split()
        assert len(words) == 4 and words[3].isdigit() and 21 <= int(words[3]) <= 99
        assert len(set(words[:3])) == 3
    seeded = random.Random(7)
    assert make_phrase(seeded) == make_phrase(random.Random(7))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("heard", "ok"),
    [
        ("copper meadow lantern forty seven", True),
        ("Copper, meadow, lantern 47.", True),
        ("Um, I agree: copper meadow lantern forty-seven, that's it", True),
        ("kopper meddow lantern 47", True),  # ASR spelling noise
        ("copper meadow lantern forty six", False),  # the number must be exact
        ("copper lantern 47", False),  # a word missing
        ("meadow copper lantern 47", False),  # wrong order loses two words
        ("hello this is my voice", False),
        ("", False),
    ],
)
def test_phrase_check_tolerates_asr_noise_but_not_a_wrong_phrase(heard: str, ok: bool) -> None:
    assert phrase_matches("copper meadow lantern 47", heard) is ok


def test_normalise_numbers_and_score_bounds() -> None:
    assert normalise("Twenty-one, SEVEN!") == ["21", "7"]
    assert phrase_score("apple river tiger 33", "apple river tiger 33") == 1.0
    assert phrase_score("apple river tiger 33", "") == 0.0


def test_server_overrides_merge_over_defaults_within_the_operators_caps() -> None:
    defaults = ServerPolicy(limits=LIMITS, label_position="top-left")
    merged = defaults.merge(
        {
            "limits": {"user_per_day": 2, "server_per_hour": -1, "bogus": 1},
            "consent_mode": "review",
            "blocklist": ["x"],
            "channels": ["5"],
            "unknown": True,
        }
    )
    # tighter counts win; "no limit" (-1) is looser than the operator's 5, so 5 stays
    assert merged.limits == RateLimits(2, 2, 5, 10)
    assert merged.consent_mode == "review" and merged.blocklist == ("x",)
    assert merged.channels == ("5",) and merged.label_position == "top-left"
    assert defaults.merge({}) == defaults
    # stored before the caps existed (or the operator tightened since): clamped, and the
    # queue cap is never a server's
    old = defaults.merge({"limits": {"user_per_day": 99, "queue_max": 1000}})
    assert old.limits == LIMITS
    strict = ServerPolicy(consent_mode="phrase", limits=RateLimits(-1, -1, -1, -1, -1, -1))
    assert strict.merge({"consent_mode": "attest"}).consent_mode == "phrase"
    assert strict.merge({"consent_mode": "review"}).consent_mode == "review"
    assert strict.merge({"limits": {"user_per_day": 7}}).limits.user_per_day == 7


def test_caps_tighten_never_loosen() -> None:
    assert [tighter(v, 5) for v in (3, 5, 9, -1, 0)] == [3, 5, 5, 5, 0]
    assert [tighter(v, -1) for v in (3, -1, 0)] == [3, -1, 0]
    assert stricter_mode("attest", "phrase") == "phrase"
    assert stricter_mode("review", "phrase") == "review"
    assert stricter_mode("bogus", "attest") == "attest"
    caps = ServerPolicy(consent_mode="phrase", limits=LIMITS)
    parse = lambda a: moderation.parse(a, label_required=True)  # noqa: E731
    over = parse("limits set day 4")
    assert isinstance(over, ModCommand)
    assert moderation.beyond_caps(over, caps) == texts.MOD_LIMIT_CAPPED.format(name="day", cap=3)
    unlimited = parse("limits set hour -1")
    assert isinstance(unlimited, ModCommand) and moderation.beyond_caps(unlimited, caps)
    for fine in ("limits set day 3", "limits set day 0", "consent review", "consent phrase"):
        cmd = parse(fine)
        assert isinstance(cmd, ModCommand) and moderation.beyond_caps(cmd, caps) is None, fine
    weaker = parse("consent attest")
    assert isinstance(weaker, ModCommand)
    assert moderation.beyond_caps(weaker, caps) == texts.MOD_CONSENT_FLOOR.format(mode="phrase")
    assert parse("limits set queue 500") == texts.MOD_QUEUE_OPERATORS


def test_mod_parser_reads_everywhere_takedown_and_log() -> None:
    parse = lambda a: moderation.parse(a, label_required=True)  # noqa: E731
    assert parse("ban 123 everywhere spam") == ModCommand("ban", "", ("123", "spam"), True)
    assert parse("ban 123 spam everywhere") == ModCommand(
        "ban", "", ("123", "spam everywhere"), False
    )  # the flag goes right after the user; later it is part of the reason
    assert parse("purge <@123> EVERYWHERE") == ModCommand("purge", "", ("123", ""), True)
    assert parse("unban 123") == ModCommand("unban", "", ("123", ""), False)
    assert parse("audit 5 everywhere") == ModCommand("audit", "5", (), True)
    assert parse("audit everywhere") == ModCommand("audit", "", (), True)
    assert parse("queue everywhere") == ModCommand("queue", "", (), True)
    assert str(parse("queue now")).startswith("I don't understand")
    assert parse("log 3") == ModCommand("log", "3", (), False)
    assert parse("takedown 3F9C0D1E2A4B spam") == ModCommand(
        "takedown", "", ("3f9c0d1e2a4b", "spam")
    )
    assert str(parse("takedown ../../etc")).startswith("I don't understand")
    assert str(parse("takedown 12")).startswith("I don't understand")
    # policy edits never take the flag: it is a word like any other there
    assert str(parse("consent review everywhere")).startswith("I don't understand")


def test_mod_parser_reads_audit_find_terms() -> None:
    parse = lambda a: moderation.parse(a, label_required=True)  # noqa: E731
    find = moderation.audit_find
    assert parse("audit find 3F9C0D everywhere") == ModCommand("audit", "find", ("3F9C0D",), True)
    assert parse("audit FIND 42") == ModCommand("audit", "find", ("42",), False)
    # a user id (any length) or mention; a job id's or fingerprint's start (6+ hex, any case);
    # a mark as `mouthpiece verify` prints it. Digits may be a user or a prefix: both asked.
    assert find("42") == AuditFind("42", user="42")
    assert find("<@42>") == AuditFind("42", user="42")
    assert find("3F9C0D") == AuditFind("3f9c0d", prefix="3f9c0d")
    assert find("123456") == AuditFind("123456", user="123456", prefix="123456")
    assert find("0x0000BEEF") == AuditFind("0x0000beef", mark=0xBEEF)
    assert find("a" * 64) == AuditFind("a" * 64, prefix="a" * 64)
    for bad in ("", "ab", "abcde", "zzzzzz", "abc%de", "abc_de", "a" * 65, "0x", "0x123456789"):
        assert find(bad) is None, bad
        assert parse(f"audit find {bad}") == texts.MOD_BAD.format(usage=texts.MOD_USAGE["audit"])
    assert find("\uff14\uff12") is None  # fullwidth digits: not an id anyone has
    for bad in ("audit find", "audit find 42 43", "audit 5 find 42", "audit find 42 5"):
        assert parse(bad) == texts.MOD_BAD.format(usage=texts.MOD_USAGE["audit"]), bad
    assert "/mod audit find" in texts.MOD_HELP and "find" in texts.MOD_USAGE["audit"]


def test_mod_parser_and_edits() -> None:
    parse = lambda a: moderation.parse(a, label_required=True)  # noqa: E731
    assert parse("limits set day 5") == ModCommand("limits", "set", ("day", "5"))
    assert parse("ban <@123> spamming") == ModCommand("ban", "", ("123", "spamming"))
    assert parse("") == texts.MOD_HELP and parse("explode") == texts.MOD_HELP
    assert str(parse("limits set day lots")).startswith("I don't understand")
    assert parse("label off") == texts.MOD_LABEL_REQUIRED
    assert moderation.parse("label off", label_required=False) == ModCommand("label", "off")
    assert str(parse("ban someone")).startswith("I don't understand")
    assert str(parse("audit 99")).startswith("I don't understand")
    data = moderation.apply(ModCommand("limits", "set", ("hour", "7")), {}, here="c1")
    assert data == {"limits": {"server_per_hour": 7}}
    data = moderation.apply(ModCommand("channels", "add", ("here",)), data, here="c1")
    data = moderation.apply(ModCommand("channels", "add", ("<#555>",)), data, here="c1")
    data = moderation.apply(ModCommand("channels", "add", ("555",)), data, here="c1")
    assert data["channels"] == ["c1", "555"]  # no duplicates
    assert parse("channels add general") != ModCommand("channels", "add", ("general",))
    data = moderation.apply(ModCommand("block", "add", ("Bad", "Thing")), data, here="c1")
    assert data["blocklist"] == ["bad thing"]
    data = moderation.apply(ModCommand("block", "remove", ("bad", "thing")), data, here="c1")
    assert data["blocklist"] == []
    assert moderation.apply(ModCommand("limits", "reset"), data, here="c1").get("limits") is None
