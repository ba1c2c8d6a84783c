"""BotSettings: env + .env parsing, config/example.env documents every setting, CLI refusal."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from bot.settings import _ENV, BotSettings, load_dotenv

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example.env"


def _env_name(field: str) -> str:
    return _ENV.get(field, f"MOUTHPIECE_{field.upper()}")


def test_example_env_documents_every_setting() -> None:
    documented = load_dotenv(EXAMPLE)
    missing = [
        _env_name(f.name) for f in fields(BotSettings) if _env_name(f.name) not in documented
    ]
    assert not missing, f"config/example.env lacks {missing}"
    assert (
        BotSettings.from_env({}, dotenv=EXAMPLE) == BotSettings()
    )  # the example shows the defaults


def test_env_wins_over_dotenv_and_types_are_parsed(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        '# comment\nexport TELEGRAM_BOT_TOKEN="1:abc"\nMOUTHPIECE_MAX_SCRIPT_CHARS=50\n\n'
        "REDIS_URL=redis://dotenv/0\n"
    )
    s = BotSettings.from_env(
        {
            "REDIS_URL": "redis://env/1",
            "MOUTHPIECE_DATA_DIR": str(tmp_path),
            "MOUTHPIECE_MAX_VOICE_SECONDS": "12.5",
        },
        dotenv=dotenv,
    )
    assert s.telegram_bot_token == "1:abc"
    assert s.max_script_chars == 50 and s.max_voice_seconds == 12.5
    assert s.redis_url == "redis://env/1"
    assert s.db_path == tmp_path / "mouthpiece.sqlite3"


def test_bad_number_names_the_variable() -> None:
    with pytest.raises(ValueError, match="MOUTHPIECE_MAX_SCRIPT_CHARS"):
        BotSettings.from_env({"MOUTHPIECE_MAX_SCRIPT_CHARS": "lots"}, dotenv=None)


def test_cli_without_tokens_says_one_line_and_exits_2(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN")
    }
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "TELEGRAM_BOT_TOKEN" in lines[0], done.stderr


def test_safety_settings_are_checked_and_parsed() -> None:
    s = BotSettings.from_env(
        {
            "TELEGRAM_ADMIN_IDS": " 1, 22 ,",
            "MOUTHPIECE_LABEL_REQUIRED": "no",
            "MOUTHPIECE_CONSENT_MODE": "phrase",
            "MOUTHPIECE_LABEL": "",
        },
        dotenv=None,
    )
    assert s.admin_ids == {"1", "22"} and s.label_required is False
    assert s.consent_mode == "phrase"
    with pytest.raises(ValueError, match="MOUTHPIECE_CONSENT_MODE='maybe'"):
        BotSettings.from_env({"MOUTHPIECE_CONSENT_MODE": "maybe"}, dotenv=None)
    with pytest.raises(ValueError, match="MOUTHPIECE_LABEL_POSITION"):
        BotSettings.from_env({"MOUTHPIECE_LABEL_POSITION": "middle"}, dotenv=None)
    with pytest.raises(ValueError, match="MOUTHPIECE_LABEL_REQUIRED"):
        BotSettings.from_env({"MOUTHPIECE_LABEL_REQUIRED": "sometimes"}, dotenv=None)
    # a server's lists: the operator's bounds, at least one entry each
    lists = BotSettings.from_env(
        {"MOUTHPIECE_MAX_BLOCKLIST": "5", "MOUTHPIECE_MAX_CHANNELS": "1"}, dotenv=None
    )
    assert (lists.max_blocklist, lists.max_blocked_phrase_chars, lists.max_channels) == (5, 100, 1)
    for name in (
        "MOUTHPIECE_MAX_BLOCKLIST",
        "MOUTHPIECE_MAX_BLOCKED_PHRASE_CHARS",
        "MOUTHPIECE_MAX_CHANNELS",
    ):
        with pytest.raises(ValueError, match=f"{name}=0 must be 1 or more"):
            BotSettings.from_env({name: "0"}, dotenv=None)


def test_operators_and_the_moderator_role_are_ids_and_a_role_name_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s = BotSettings.from_env(
        {
            "DISCORD_OPERATOR_IDS": "10, 20",
            "DISCORD_MOD_ROLE": "777,888",
            "TELEGRAM_ADMIN_IDS": "5",
        },
        dotenv=None,
    )
    assert s.discord_operators == {"10", "20"} and s.discord_mod_roles == {"777", "888"}
    assert s.admin_ids == {"5"}
    for env in (
        {"DISCORD_OPERATOR_IDS": "ada"},
        {"TELEGRAM_ADMIN_IDS": "12,@admin"},
    ):
        with pytest.raises(ValueError, match="numeric user ids"):
            BotSettings.from_env(env, dotenv=None)
    # A role *name* would let anyone who can create roles moderate: refused at start-up.
    from bot.__main__ import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_MOD_ROLE", "Mods")
    for token in ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"):  # never start anything here
        monkeypatch.delenv(token, raising=False)
    assert main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: DISCORD_MOD_ROLE='Mods' is not a role id")
