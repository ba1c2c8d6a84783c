"""The web studio: a third front-end in the chat process, over the same conversation core
(:class:`bot.conversation.studio.Studio`) and store as Telegram and Discord. It renders;
the core decides who is signed in and what they may see."""

from bot.chat.adapters.web.secret import web_secret
from bot.chat.adapters.web.server import ROUTES, Access, Route, build_web_app, start_web

__all__ = ["ROUTES", "Access", "Route", "build_web_app", "start_web", "web_secret"]
