"""BotSettings: every setting of the bot and the worker, read from the environment (and .env)."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.contract.jobs import LABEL, LABEL_POSITIONS

__all__ = ["BotSettings", "load_dotenv"]

DISCORD_API = "https://discord.com/api/v10"


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
    # "": long polling; else the public https URL Telegram posts updates to (webhook mode)
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = ""  # "": derived from the bot token (see the property)
    telegram_webhook_host: str = "127.0.0.1"  # where the chat process listens for the webhook
    telegram_webhook_port: int = 8443
    discord_api_base_url: str = DISCORD_API
    discord_gateway_url: str = ""  # "": Discord's, or /gateway/bot of a non-default API base
    discord_shard_count: int = 0  # shards in all; 0: the count /gateway/bot recommends
    discord_shard_ids: str = ""  # the shards this process runs ("0,1"); "": all of them
    redis_url: str = "redis://127.0.0.1:6379/0"
    # "": the store is SQLite in data_dir (one host); postgresql://...: PostgreSQL, shared by
    # several chat processes (their limits hold across them)
    database_url: str = ""
    data_dir: Path = Path("data")
    tts: str = "auto"  # which speech backend the workers run (neutts: a transcript is needed)
    lipsync: str = "auto"  # the workers' lip-sync backend: auto (the best usable) or a name
    max_script_chars: int = 1000
    max_script_seconds: float = 120.0  # estimated seconds of speech
    min_voice_seconds: float = 3.0
    max_voice_seconds: float = 30.0
    max_file_bytes: int = 20_000_000  # Telegram bots may download at most 20 MB
    media_ttl_seconds: int = 86_400
    # bot and workers share data_dir (one box, one volume): a worker reads the bot's file of an
    # upload in place; no copy in Redis, none in the worker's cache
    shared_media: bool = False
    # the fetch hand-off: workers GET each upload from the chat process's media server with a
    # signed, expiring link (Redis carries only the link); "": off (bytes through Redis)
    media_url: str = ""  # where workers reach this chat process's media server
    media_host: str = "0.0.0.0"  # where the chat process listens for it
    media_port: int = 8082
    media_secret: str = ""  # signs media links; "": a random one kept in the data folder
    media_url_seconds: int = 86_400  # a link's lifetime: how long a queued job may wait
    intake_timeout_seconds: float = 20.0
    render_max_jobs: int = 1
    # ---- render queue
    render_max_tries: int = 3  # runs of one job (crashes included) before the user is told
    heartbeat_seconds: float = 15.0  # a killed worker's job runs again within this bound
    render_timeout_floor: float = 300.0  # seconds; plus 3x the estimated render time
    render_timeout_max: float = 6 * 3600.0
    retry_backoff_seconds: float = 10.0  # doubled on every retry
    # a worker sending a video holds the job's delivery claim this long; a claim that ran out
    # means its worker died mid-send (Discord then resends by nonce, Telegram once at most)
    delivery_lease_seconds: float = 120.0
    # a long script's first seconds (about this many: a sentence) are rendered and sent first,
    # then the full video; 0: no previews (bot.worker.rendering)
    preview_seconds: float = 3.0
    reconcile_seconds: float = 60.0  # the bot checks that every live job is in the queue
    batch_resume_seconds: float = 5.0  # the bot queues held batches' scripts as room frees
    status_edit_seconds: float = 3.0  # at most one edit of a status message this often
    board_interval_seconds: float = 1.0
    # ---- public-server safety: every bound on what one person can make us hold
    status_backoff_seconds: float = 5.0  # first wait after a status message failed (doubles)
    status_backoff_max_seconds: float = 600.0
    status_max_failures: int = 5  # permanent errors in a row (blocked bot) before giving up
    limit_uploads_per_hour: int = 30  # files one person may send per hour (-1: no limit)
    limit_upload_bytes_per_day: int = 200_000_000  # bytes one person may send per day
    limit_upload_bytes_per_day_total: int = 5_000_000_000  # bytes everyone together, per day
    # uploads are refused while the data folder's disk has less free space than this
    min_free_bytes: int = 1_000_000_000
    max_saved_voices: int = 10  # saved voices per person (-1: no cap)
    max_batch_scripts: int = 10  # scripts in one batch file, one video each (1: no batches)
    max_avatars: int = 10  # avatars (a saved photo and voice) per person (-1: no cap)
    avatar_retention_days: float = 90.0  # an avatar unused this long is deleted
    parallel_downloads: int = 8  # uploads the bot downloads and stores at once (memory)
    pending_per_person: int = 20  # Telegram updates of one person running or waiting
    frontend_timeout_seconds: float = 180.0  # a front-end down this long: unhealthy, restart
    worker_name: str = ""  # default: host name and process id
    telegram_upload_bytes: int = 50_000_000
    discord_upload_bytes: int = 10 * 1024 * 1024
    label: str = LABEL
    # ---- safety: defaults; moderators override per server in SQLite
    label_position: str = LABEL_POSITIONS[0]
    label_required: bool = True  # moderators may move the label, never remove it
    consent_mode: str = "attest"  # attest | phrase | review
    asr_model: str = ""  # local faster-whisper model folder (worker); empty: no ASR
    limit_user_per_day: int = 20
    limit_user_concurrent: int = 2
    limit_server_per_hour: int = 30
    queue_max: int = 50
    queue_per_server: int = 20  # of queue_max, what one server may hold
    queue_dm: int = 10  # of queue_max, what a platform's direct messages may hold, all together
    max_blocklist: int = 200  # phrases on one server's blocklist
    max_blocked_phrase_chars: int = 100  # characters of one phrase on it
    max_channels: int = 50  # channels on one server's channel list
    media_retention_hours: float = 24.0
    output_retention_days: float = 7.0
    audit_retention_days: float = 365.0  # moderators' audit log entries
    review_hours: float = 48.0  # a review nobody decided expires; the requester is told
    purge_interval_seconds: float = 3600.0
    forget_poll_seconds: float = 5.0  # how soon a worker removes its copies of erased data
    # ---- authority: operators act everywhere, server moderators in their server
    telegram_admin_ids: str = ""  # Telegram operators: comma-separated user ids
    discord_operator_ids: str = ""  # Discord operators: comma-separated user ids
    discord_mod_role: str = ""  # role id(s) that moderate a server (besides Manage Server)
    # ---- operations: /healthz + /metrics ports (0 = off), logs
    metrics_host: str = "0.0.0.0"
    bot_metrics_port: int = 8080
    worker_metrics_port: int = 8081
    # ---- the web studio (in the chat process): off unless web_port is set
    web_url: str = ""  # its public address (https://... behind a TLS proxy); "": /web is off
    web_host: str = "127.0.0.1"  # where the chat process listens for it
    web_port: int = 0  # 0: no web server
    web_secret: str = ""  # signs sign-in links; "": a random one kept in the data folder
    log_format: str = "json"  # json | text
    log_level: str = "INFO"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "mouthpiece.sqlite3"

    @property
    def store_target(self) -> str | Path:
        """Where the store lives: DATABASE_URL, or the SQLite file in the data folder."""
        return self.database_url or self.db_path

    @property
    def web_secret_path(self) -> Path:
        """Where the web sign-in secret is kept when MOUTHPIECE_WEB_SECRET is not set."""
        return self.data_dir / "web_secret"

    @property
    def telegram_webhook_secret_token(self) -> str:
        """The secret Telegram sends with every webhook update: TELEGRAM_WEBHOOK_SECRET, or
        one derived from the bot token. Derived, it stays the same across restarts (updates
        Telegram retries after a restart are accepted), is stored nowhere, and changes when
        the token is revoked; whoever holds the token controls the bot anyway."""
        if self.telegram_webhook_secret:
            return self.telegram_webhook_secret
        key = self.telegram_bot_token.encode()
        return hmac.new(key, b"mouthpiece telegram webhook", hashlib.sha256).hexdigest()

    @property
    def media_secret_path(self) -> Path:
        """Where the media link secret is kept when MOUTHPIECE_MEDIA_SECRET is not set."""
        return self.data_dir / "media_secret"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def out_dir(self) -> Path:
        """Where workers write finished videos (until delivered, then for the retention)."""
        return self.data_dir / "out"

    def __post_init__(self) -> None:
        from bot.safety.policy import CONSENT_MODES

        if self.consent_mode not in CONSENT_MODES:
            raise ValueError(
                f"MOUTHPIECE_CONSENT_MODE={self.consent_mode!r} is not one of "
                f"{', '.join(CONSENT_MODES)}"
            )
        if self.label_required and not self.label.strip():
            raise ValueError(
                "MOUTHPIECE_LABEL is empty but MOUTHPIECE_LABEL_REQUIRED=true: set a label text "
                "or allow videos without one"
            )
        if self.discord_gateway_url and not self.discord_gateway_url.startswith(
            ("ws://", "wss://")
        ):
            raise ValueError(
                f"DISCORD_GATEWAY_URL={self.discord_gateway_url!r} must start with wss:// "
                "(or ws://)"
            )
        _check_shards(self.discord_shard_count, self.discord_shard_ids)
        if self.label_position not in LABEL_POSITIONS:
            raise ValueError(
                f"MOUTHPIECE_LABEL_POSITION={self.label_position!r} is not one of "
                f"{', '.join(LABEL_POSITIONS)}"
            )
        for name, value in (
            ("TELEGRAM_ADMIN_IDS", self.telegram_admin_ids),
            ("DISCORD_OPERATOR_IDS", self.discord_operator_ids),
        ):
            bad = [x for x in _ids(value) if not x.isdigit()]
            if bad:
                raise ValueError(f"{name} holds {bad[0]!r}: give numeric user ids, comma-separated")
        if self.web_url and not self.web_url.startswith(("https://", "http://")):
            raise ValueError(
                f"MOUTHPIECE_WEB_URL={self.web_url!r} must start with https:// (or http://)"
            )
        _check_webhook(self)
        if not self.preview_seconds >= 0:  # NaN too
            raise ValueError(
                f"MOUTHPIECE_PREVIEW_SECONDS={self.preview_seconds!r} must be 0 (no previews) "
                "or more"
            )
        if not self.batch_resume_seconds > 0:  # NaN too
            raise ValueError(
                f"MOUTHPIECE_BATCH_RESUME_SECONDS={self.batch_resume_seconds!r} must be more than 0"
            )
        _check_database_url(self.database_url)
        _check_list_bounds(self)
        self._check_media_hand_off()
        if self.web_secret and len(self.web_secret) < 32:
            raise ValueError("MOUTHPIECE_WEB_SECRET is too short: give at least 32 characters")
        bad = [x for x in _ids(self.discord_mod_role) if not x.isdigit()]
        if bad:
            raise ValueError(
                f"DISCORD_MOD_ROLE={bad[0]!r} is not a role id. A role name grants nothing "
                "(anyone who can create roles could make one with that name): give the "
                "role's id (Discord developer mode, right-click the role, Copy Role ID)"
            )

    def _check_media_hand_off(self) -> None:
        if self.media_url and not self.media_url.startswith(("http://", "https://")):
            raise ValueError(
                f"MOUTHPIECE_MEDIA_URL={self.media_url!r} must start with http:// (or https://)"
            )
        if self.media_url and self.shared_media:
            raise ValueError(
                "MOUTHPIECE_MEDIA_URL and MOUTHPIECE_SHARED_MEDIA are both set: choose one "
                "hand-off (set MOUTHPIECE_SHARED_MEDIA=false for workers on other machines)"
            )
        if self.media_secret and len(self.media_secret) < 32:
            raise ValueError("MOUTHPIECE_MEDIA_SECRET is too short: give at least 32 characters")
        if self.media_url_seconds <= 0:
            raise ValueError(
                f"MOUTHPIECE_MEDIA_URL_SECONDS={self.media_url_seconds!r} must be more than 0"
            )

    @property
    def admin_ids(self) -> frozenset[str]:
        """Telegram operators' user ids."""
        return frozenset(_ids(self.telegram_admin_ids))

    @property
    def discord_operators(self) -> frozenset[str]:
        return frozenset(_ids(self.discord_operator_ids))

    @property
    def discord_mod_roles(self) -> frozenset[str]:
        return frozenset(_ids(self.discord_mod_role))

    @property
    def discord_shards(self) -> tuple[int, ...]:
        """The shards this process runs; empty: all ``discord_shard_count`` of them."""
        return tuple(int(x) for x in _ids(self.discord_shard_ids))

    @property
    def discord_custom_api(self) -> bool:
        """DISCORD_API_BASE_URL points somewhere else than Discord (a proxy, a compatible
        server): its ``/gateway/bot`` then names the gateway too."""
        return self.discord_api_base_url.rstrip("/") != DISCORD_API

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
                values[f.name] = _parse(kind, raw)
            except ValueError as e:
                raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from e
        return cls(**values)  # type: ignore[arg-type]


#: what the Bot API allows in a webhook's secret_token, from 32 characters: a forged update
#: can claim to come from anyone, an operator included, so the secret must not be guessable
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{32,256}")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _check_database_url(url: str) -> None:
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ValueError(
            "DATABASE_URL must start with postgresql:// (or be empty: SQLite in "
            "MOUTHPIECE_DATA_DIR); the value is not shown, it may hold a password"
        )


def _check_webhook(s: BotSettings) -> None:
    if s.telegram_webhook_secret and not _WEBHOOK_SECRET.fullmatch(s.telegram_webhook_secret):
        raise ValueError(
            "TELEGRAM_WEBHOOK_SECRET must be 32 to 256 characters of A-Z a-z 0-9 _ - "
            "(or empty: one derived from the bot token)"
        )
    if not s.telegram_webhook_url:
        return
    url = urlsplit(s.telegram_webhook_url)
    local_http = url.scheme == "http" and url.hostname in _LOOPBACK
    if not url.hostname or not (url.scheme == "https" or local_http) or url.fragment:
        raise ValueError(
            f"TELEGRAM_WEBHOOK_URL={s.telegram_webhook_url!r} must be an https:// address "
            "(http:// only on 127.0.0.1 or localhost)"
        )
    if not 0 < s.telegram_webhook_port < 65536:
        raise ValueError(
            f"TELEGRAM_WEBHOOK_PORT={s.telegram_webhook_port!r} must be a TCP port (1-65535)"
        )


def _ids(value: str) -> list[str]:
    return [x.strip() for x in value.split(",") if x.strip()]


def _check_shards(count: int, ids: str) -> None:
    """DISCORD_SHARD_COUNT and DISCORD_SHARD_IDS: shards split over processes only work when
    every process agrees on the count and each shard is run once."""
    if count < 0:
        raise ValueError(
            f"DISCORD_SHARD_COUNT={count} must be 0 (as many as Discord recommends) or more"
        )
    names = _ids(ids)
    if not names:
        return
    bad = [x for x in names if not x.isdigit()]
    if bad:
        raise ValueError(f"DISCORD_SHARD_IDS holds {bad[0]!r}: give shard numbers, e.g. 0,1")
    if count == 0:
        raise ValueError(
            f"DISCORD_SHARD_IDS={ids!r} needs DISCORD_SHARD_COUNT: processes that split the "
            "shards must all be told how many there are in all"
        )
    numbers = [int(x) for x in names]
    over = [n for n in numbers if n >= count]
    if over:
        raise ValueError(
            f"DISCORD_SHARD_IDS holds {over[0]}, but DISCORD_SHARD_COUNT={count} numbers the "
            f"shards 0 to {count - 1}"
        )
    twice = [n for n in numbers if numbers.count(n) > 1]
    if twice:
        raise ValueError(f"DISCORD_SHARD_IDS names shard {twice[0]} twice")


def _check_list_bounds(s: BotSettings) -> None:
    """A server's lists hold at least one entry each (a blocklist phrase at least one
    character): a bound of 0 would leave a server's moderators without the list."""
    for name, value in (
        ("MOUTHPIECE_MAX_BLOCKLIST", s.max_blocklist),
        ("MOUTHPIECE_MAX_BLOCKED_PHRASE_CHARS", s.max_blocked_phrase_chars),
        ("MOUTHPIECE_MAX_CHANNELS", s.max_channels),
    ):
        if value < 1:
            raise ValueError(f"{name}={value} must be 1 or more")


def _parse(kind: type[Any], raw: str) -> object:
    if kind is bool:
        low = raw.strip().lower()
        if low not in _BOOLS:
            raise ValueError(raw)
        return _BOOLS[low]
    return Path(raw) if kind is not str and issubclass(kind, Path) else kind(raw)


_BOOLS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}

_ENV = {
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "discord_bot_token": "DISCORD_BOT_TOKEN",
    "telegram_api_base_url": "TELEGRAM_API_BASE_URL",
    "telegram_webhook_url": "TELEGRAM_WEBHOOK_URL",
    "telegram_webhook_secret": "TELEGRAM_WEBHOOK_SECRET",
    "telegram_webhook_host": "TELEGRAM_WEBHOOK_HOST",
    "telegram_webhook_port": "TELEGRAM_WEBHOOK_PORT",
    "discord_api_base_url": "DISCORD_API_BASE_URL",
    "discord_gateway_url": "DISCORD_GATEWAY_URL",
    "discord_shard_count": "DISCORD_SHARD_COUNT",
    "discord_shard_ids": "DISCORD_SHARD_IDS",
    "redis_url": "REDIS_URL",
    "database_url": "DATABASE_URL",
    "data_dir": "MOUTHPIECE_DATA_DIR",
    "telegram_admin_ids": "TELEGRAM_ADMIN_IDS",
    "discord_operator_ids": "DISCORD_OPERATOR_IDS",
    "discord_mod_role": "DISCORD_MOD_ROLE",
}
