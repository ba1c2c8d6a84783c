"""The studio's HTTP server (aiohttp), on the chat process's loop, sharing its store.

Every route is in :data:`ROUTES` with the access it needs; :func:`_guard` checks it in code
on every request (a test walks the table): a page with someone's data needs their session,
a form post also the session's CSRF token. Every response carries the security headers.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from aiohttp import web

from bot.chat.adapters.web.pages import CSS, confirm_page, home_page, message_page
from bot.contract import texts
from bot.contract.ports import WebSession
from bot.conversation.studio import Studio

__all__ = ["ROUTES", "Access", "Route", "build_web_app", "start_web"]

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_MAX_BODY = 16 * 1024  # the studio's forms carry a token, nothing more
_STUDIO: web.AppKey[Studio] = web.AppKey("studio", Studio)
_SECURE: web.AppKey[bool] = web.AppKey("secure", bool)

Handler = Callable[[web.Request, WebSession | None], Awaitable[web.StreamResponse]]


class Access(Enum):
    PUBLIC = "public"  # nobody's data: the sign-in link, the style sheet
    SESSION = "session"  # a signed-in person's own data
    SESSION_CSRF = "session+csrf"  # a change: the session and its form token


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    access: Access


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _cookie_name(request: web.Request) -> str:
    # __Host-: the browser keeps it only when Secure, Path=/ and no Domain (no subdomain
    # can plant or overwrite it)
    return "__Host-mp_session" if request.app[_SECURE] else "mp_session"


def _signed_out(request: web.Request, response: web.Response) -> web.Response:
    response.del_cookie(_cookie_name(request), path="/")
    return response


async def _confirm(request: web.Request, _: WebSession | None) -> web.StreamResponse:
    """The link opened: a page with the sign-in button (nothing spent yet)."""
    token = request.match_info["token"]
    if not request.app[_STUDIO].link_valid(token):
        return _html(message_page(texts.WEB_BAD_LINK), 403)
    return _html(confirm_page(request.path))


def _same_origin(request: web.Request) -> bool:
    """A form post made from one of our own pages: the browser says so (``Sec-Fetch-Site``),
    or at least names our own origin (``Origin``). Anything else may be another site."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("Origin")
    return origin is not None and origin.split("://", 1)[-1] == request.host


async def _login(request: web.Request, _: WebSession | None) -> web.StreamResponse:
    if not _same_origin(request):
        return _html(message_page(texts.WEB_REFUSED), 403)
    session = await request.app[_STUDIO].sign_in(request.match_info["token"])
    if session is None:
        return _html(message_page(texts.WEB_BAD_LINK), 403)
    response = web.Response(status=303, headers={"Location": "/"})
    response.set_cookie(
        _cookie_name(request),
        session.session_id,
        max_age=int(session.expires - time.time()),
        path="/",
        httponly=True,
        secure=request.app[_SECURE],
        samesite="Strict",
    )
    return response


async def _home(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    assert session is not None  # _guard let it through
    view = await request.app[_STUDIO].home(session)
    return _html(home_page(view, session.csrf))


async def _forget(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    assert session is not None
    await request.app[_STUDIO].forget(session)
    log.info("forgotten from the web studio", extra={"platform": session.platform})
    return _signed_out(request, _html(message_page(texts.WEB_FORGOTTEN)))


async def _logout(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    assert session is not None
    await request.app[_STUDIO].sign_out(session)
    return _signed_out(request, _html(message_page(texts.WEB_SIGNED_OUT)))


async def _css(request: web.Request, _: WebSession | None) -> web.StreamResponse:
    return web.Response(text=CSS, content_type="text/css", charset="utf-8")


ROUTES: tuple[Route, ...] = (
    Route("GET", "/login/{token}", _confirm, Access.PUBLIC),
    Route("POST", "/login/{token}", _login, Access.PUBLIC),
    Route("GET", "/", _home, Access.SESSION),
    Route("POST", "/forget", _forget, Access.SESSION_CSRF),
    Route("POST", "/logout", _logout, Access.SESSION_CSRF),
    Route("GET", "/static/studio.css", _css, Access.PUBLIC),
)


def _guard(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The route's handler behind its access check: a stranger gets the one-line "not signed
    in" page (401 for a page, 403 for a form), a form without its token 403."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        if route.access is Access.PUBLIC:
            return await route.handler(request, None)
        studio = request.app[_STUDIO]
        session = await studio.session(request.cookies.get(_cookie_name(request), ""))
        if session is None:
            status = 401 if request.method == "GET" else 403
            return _signed_out(request, _html(message_page(texts.WEB_NOT_SIGNED_IN), status))
        if route.access is Access.SESSION_CSRF:
            form = await request.post()
            sent = form.get("csrf")
            if not isinstance(sent, str) or not hmac.compare_digest(
                sent.encode(), session.csrf.encode()
            ):
                return _html(message_page(texts.WEB_REFUSED), 403)
        return await route.handler(request, session)

    guarded.__name__ = route.handler.__name__
    return guarded


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


@web.middleware
async def _not_found(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own 404 and 405 answers, as the studio's plain page."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _html(message_page(texts.WEB_NOT_FOUND), 404)
    except web.HTTPMethodNotAllowed:
        return _html(message_page(texts.WEB_NOT_FOUND), 405)


def build_web_app(studio: Studio, *, secure: bool) -> web.Application:
    """The studio's application; ``secure``: its public address is https (Secure cookie)."""
    app = web.Application(client_max_size=_MAX_BODY, middlewares=[_not_found])
    app[_STUDIO] = studio
    app[_SECURE] = secure
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _guard(route))
    app.on_response_prepare.append(_headers)
    return app


async def start_web(studio: Studio, host: str, port: int, public_url: str) -> web.AppRunner:
    """Serve the studio on ``host:port`` on the running loop; ``cleanup()`` the runner."""
    runner = web.AppRunner(
        build_web_app(studio, secure=public_url.startswith("https://")), access_log=None
    )
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("web studio listening", extra={"host": host, "port": port})
    return runner
