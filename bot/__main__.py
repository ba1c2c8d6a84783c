"""`python -m bot`: run the chat front-ends whose tokens are set (Telegram, Discord or both)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from bot.chat.app import run_bot
from bot.observability import logging_from_settings
from bot.settings import BotSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("--telegram", action="store_true", help="run only the Telegram front-end")
    parser.add_argument("--discord", action="store_true", help="run only the Discord front-end")
    args = parser.parse_args(argv)
    try:
        settings = BotSettings.from_env()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    want_tg = args.telegram or not args.discord
    want_dc = args.discord or not args.telegram
    telegram = want_tg and bool(settings.telegram_bot_token)
    discord = want_dc and bool(settings.discord_bot_token)
    if not (telegram or discord):
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
        return asyncio.run(run_bot(settings, telegram=telegram, discord=discord))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
