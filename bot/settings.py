"""BotSettings: every setting of the bot and the worker, read from the environment (and .env)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

__all__ = ["BotSettings", "load_dotenv"]


def load_dotenv(path: Path = Path(".env")) -> dict[str, str]:
    """Parse KEY=VALUE lines (comments, blank lines and optional quotes allowed)."""
    if not path.is_file():
        return {}
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip().removeprefix("export ").strip()] = value
    return out


@dataclass(frozen=True)
class BotSettings:
    """Settings of both processes. Field ``x`` is read from the variable named in ``_ENV``."""

    telegram_bot_token: str = ""
    discord_bot_token: str = ""
    telegram_api_base_url: str = "https://api.telegram.org"
    discord_api_base_url: str = "https://discord.com/api/v10"
    redis_url: str = "redis://127.0.0.1:6379/0"
    data_dir: Path = Path("data")
    tts: str = "espeak"  # which speech backend the workers run (decides if a transcript is needed)
    max_script_chars: int = 1000
    max_script_seconds: float = 120.0  # estimated seconds of speech
    min_voice_seconds: float = 3.0
    max_voice_seconds: float = 30.0
    max_file_bytes: int = 20_000_000  # Telegram bots may download at most 20 MB
    media_ttl_seconds: int = 86_400
    intake_timeout_seconds: float = 20.0
    render_max_jobs: int = 1
    telegram_upload_bytes: int = 50_000_000
    discord_upload_bytes: int = 10 * 1024 * 1024
    label: str = "AI-generated"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "mouthpiece.sqlite3"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def needs_transcript(self) -> bool:
        return self.tts == "neutts"

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
    ) -> BotSettings:
        merged = dict(load_dotenv(dotenv)) if dotenv else {}
        merged.update(os.environ if env is None else env)
        values: dict[str, object] = {}
        defaults = cls()
        for f in fields(cls):
            name = _ENV.get(f.name, f"MOUTHPIECE_{f.name.upper()}")
            raw = merged.get(name)
            if raw is None or raw == "":
                continue
            kind = type(getattr(defaults, f.name))
            try:
                values[f.name] = (
                    Path(raw) if kind is not str and issubclass(kind, Path) else kind(raw)
                )
            except ValueError as e:
                raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from e
        return cls(**values)  # type: ignore[arg-type]


_ENV = {
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "discord_bot_token": "DISCORD_BOT_TOKEN",
    "telegram_api_base_url": "TELEGRAM_API_BASE_URL",
    "discord_api_base_url": "DISCORD_API_BASE_URL",
    "redis_url": "REDIS_URL",
    "data_dir": "MOUTHPIECE_DATA_DIR",
}
