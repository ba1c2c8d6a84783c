"""`python -m bot`: run the chat front-ends whose tokens are set (Telegram, Discord, the web
studio), or only those named (``--telegram``, ``--discord``, ``--web``: one process each)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from bot.chat.app import run_bot
from bot.observability import logging_from_settings
from bot.settings import BotSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("--telegram", action="store_true", help="run the Telegram front-end")
    parser.add_argument("--discord", action="store_true", help="run the Discord front-end")
    parser.add_argument(
        "--web", action="store_true", help="run the web studio (MOUTHPIECE_WEB_PORT)"
    )
    args = parser.parse_args(argv)
    try:
        settings = BotSettings.from_env()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    chosen = args.telegram or args.discord or args.web  # none named: every one configured
    telegram = (args.telegram or not chosen) and bool(settings.telegram_bot_token)
    discord = (args.discord or not chosen) and bool(settings.discord_bot_token)
    web = (args.web or not chosen) and bool(settings.web_port)
    if not (telegram or discord or web) and not chosen:
        print(
            "error: set TELEGRAM_BOT_TOKEN and/or DISCORD_BOT_TOKEN (see config/example.env)",
            file=sys.stderr,
        )
        return 2
    try:
        # JSON lines (or text), tokens redacted, httpx's token-bearing INFO lines quieted.
        logging_from_settings(settings)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        if not (telegram or discord or web):
            # one process of a split deployment whose front-end is not configured (compose's
            # bot-discord without DISCORD_BOT_TOKEN): it stays up, healthy and idle, so its
            # supervisor does not restart it in a loop
            logging.getLogger("bot").warning(
                "front-end not configured: idle", extra={"asked": _asked(args)}
            )
        return asyncio.run(run_bot(settings, telegram=telegram, discord=discord, web=web))
    return 0


def _asked(args: argparse.Namespace) -> list[str]:
    return [name for name in ("telegram", "discord", "web") if getattr(args, name)]


if __name__ == "__main__":
    raise SystemExit(main())
