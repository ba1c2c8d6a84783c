"""The studio's HTTP server (aiohttp), on the chat process's loop, sharing its store.

Every route is in :data:`ROUTES` with the access it needs; :func:`_guard` checks it in code
on every request (a test walks the table as a stranger, a member and another server's
moderator): a page with someone's data needs their session, a change also the session's
CSRF token (a form field; an upload's first multipart field), a dashboard route a session
whose authority bot.safety judges a moderator's. Requests are rate limited per address
(sign-in) and per session (changes, uploads, live streams). A browser's request becomes the
core's event (:class:`~bot.conversation.studio.Studio`); this module only renders. Every
response carries the security headers.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web

from bot.chat.adapters.web.pages import (
    CSS,
    confirm_page,
    dashboard_page,
    home_page,
    job_state,
    message_page,
    one_line,
    queue_view,
    studio_script,
)
from bot.contract import texts
from bot.contract.events import Action, Button, Command, Media, Text
from bot.contract.ports import WebSession
from bot.conversation.studio import STUDIO_BUTTONS, Studio
from bot.lanes import Lanes

__all__ = ["ROUTES", "Access", "Limiter", "Route", "build_web_app", "start_web"]

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), geolocation=(), microphone=(self)",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_MAX_FORM = 64 * 1024  # a form: a token, a script, a job id
_UPLOAD_FIELDS = {"voice": "audio", "photo": "image", "script_file": "text"}
_JOB_ID = re.compile(r"^[0-9a-f]{8,64}$|^[A-Za-z0-9_-]{8,64}$")
_STREAM_SECONDS = 600.0  # a live stream ends after 10 min (the browser reconnects)
_STREAM_EVERY = 1.0
_STREAMS_PER_SESSION = 6  # live streams open at once per session (tabs, a reload's overlap)
_FLASH_KEPT = 2000  # sessions whose last answers are held for the next page

_STUDIO: web.AppKey[Studio] = web.AppKey("studio", Studio)
_SECURE: web.AppKey[bool] = web.AppKey("secure", bool)
_STATE: web.AppKey[_State] = web.AppKey("state", object)  # type: ignore[arg-type]
_MULTIPART: web.RequestKey[MultipartReader] = web.RequestKey("multipart", MultipartReader)

Handler = Callable[[web.Request, WebSession | None], Awaitable[web.StreamResponse]]


class Access(Enum):
    PUBLIC = "public"  # nobody's data: the sign-in link, the style sheet, the script
    SESSION = "session"  # a signed-in person's own data
    SESSION_CSRF = "session+csrf"  # a change: the session and its form token
    UPLOAD = "session+csrf+upload"  # a change with a file: the token is the first field
    STAFF = "staff"  # a moderator's view: the session, judged a moderator's
    STAFF_CSRF = "staff+csrf"  # a moderator's change


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    access: Access


class Limiter:
    """At most ``count`` requests per ``seconds`` for each key (a sliding window; the
    oldest keys are dropped beyond ``keys``, so a flood of addresses costs bounded memory)."""

    def __init__(self, count: int, seconds: float, keys: int = 10_000) -> None:
        self.count, self.seconds, self.keys = count, seconds, keys
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        times = self._seen.pop(key, None) or deque()
        while times and times[0] <= now - self.seconds:
            times.popleft()
        allowed = len(times) < self.count
        if allowed:
            times.append(now)
        self._seen[key] = times
        while len(self._seen) > self.keys:
            self._seen.popitem(last=False)
        return allowed


class _State:
    """The web adapter's own memory: rate limits, per-person lanes, the answers a change
    produced (shown once on the next page), live streams per session."""

    def __init__(self, max_upload: int) -> None:
        self.max_upload = max_upload
        self.sign_ins = Limiter(30, 600)  # per address: sign-in pages and posts
        self.changes = Limiter(120, 60)  # per session: form posts
        self.estimates = Limiter(600, 60)  # per session: the script counter, while typing
        self.uploads = Limiter(20, 600)  # per session: files (the core's quotas come after)
        self.lanes = Lanes()
        self.flash: OrderedDict[str, list[Action]] = OrderedDict()
        self.streams: dict[str, int] = {}

    def say(self, session: WebSession, actions: list[Action]) -> None:
        self.flash.pop(session.session_id, None)
        self.flash[session.session_id] = actions
        while len(self.flash) > _FLASH_KEPT:
            self.flash.popitem(last=False)

    def said(self, session: WebSession) -> list[Action]:
        return self.flash.pop(session.session_id, [])


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _message(line: str, status: int) -> web.Response:
    return _html(message_page(line), status)


def _cookie_name(request: web.Request) -> str:
    # __Host-: the browser keeps it only when Secure, Path=/ and no Domain (no subdomain
    # can plant or overwrite it)
    return "__Host-mp_session" if request.app[_SECURE] else "mp_session"


def _signed_out(request: web.Request, response: web.Response) -> web.Response:
    response.del_cookie(_cookie_name(request), path="/")
    return response


def _address(request: web.Request) -> str:
    """The client's address: the peer's, or the proxy's word for it when the peer is the
    loopback reverse proxy compose puts in front (nobody else can set it)."""
    peer = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if peer in ("127.0.0.1", "::1") and forwarded:
        return forwarded.split(",")[-1].strip()[:64]
    return peer


def _back(to: str = "/") -> web.Response:
    return web.Response(status=303, headers={"Location": to})


# ---- signing in -------------------------------------------------------------------------------
async def _confirm(request: web.Request, _: WebSession | None) -> web.StreamResponse:
    """The link opened: a page with the sign-in button (nothing spent yet)."""
    if not request.app[_STATE].sign_ins.allow(_address(request)):
        return _message(texts.WEB_SLOW_DOWN, 429)
    token = request.match_info["token"]
    if not request.app[_STUDIO].link_valid(token):
        return _message(texts.WEB_BAD_LINK, 403)
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
    if not request.app[_STATE].sign_ins.allow(_address(request)):
        return _message(texts.WEB_SLOW_DOWN, 429)
    if not _same_origin(request):
        return _message(texts.WEB_REFUSED, 403)
    session = await request.app[_STUDIO].sign_in(request.match_info["token"])
    if session is None:
        return _message(texts.WEB_BAD_LINK, 403)
    response = _back()
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


# ---- the studio -----------------------------------------------------------------------------
def _session(session: WebSession | None) -> WebSession:
    assert session is not None  # _guard let it through
    return session


async def _home(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    s = _session(session)
    studio, state = request.app[_STUDIO], request.app[_STATE]
    view = await studio.home(s)
    face = None
    if view.draft is not None and view.draft.photo:
        found = await studio.photo(s)
        face = found[1] if found is not None else None
        photo_shown = found is not None
    else:
        photo_shown = False
    return _html(home_page(view, s.csrf, state.said(s), photo_shown, face))


async def _run(request: web.Request, s: WebSession, event: Any) -> list[Action]:
    """One browser event through the core, in the person's lane (their chat's events and
    the studio's run one at a time, as in chat)."""
    state = request.app[_STATE]
    async with state.lanes.hold((s.platform, s.user_id)):
        return await request.app[_STUDIO].act(event)


async def _changed(request: web.Request, s: WebSession, event: Any) -> web.StreamResponse:
    state = request.app[_STATE]
    state.say(s, await _run(request, s, event))
    return _back()


async def _talk(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    s = _session(session)
    return await _changed(request, s, Command(Studio.who(s), "talk"))


async def _script(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    """The script, and with it the language chosen on the page (as chat's /lang, first, when
    it differs from the draft's)."""
    s = _session(session)
    form = await request.post()
    script, language = form.get("script"), form.get("language")
    if not isinstance(script, str) or not script.strip():
        request.app[_STATE].say(s, [one_line(texts.SCRIPT_EMPTY)])
        return _back()
    who = Studio.who(s)
    said: list[Action] = []
    if isinstance(language, str):
        draft = await request.app[_STUDIO].draft(s)
        if draft is None or draft.language != ("" if language == "auto" else language):
            said += await _run(request, s, Command(who, "lang", language[:20] or "auto"))
    said += await _run(request, s, Text(who, script))
    request.app[_STATE].say(s, said)
    return _back()


async def _press(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    s = _session(session)
    form = await request.post()
    action, value = form.get("action"), form.get("value", "")
    if not isinstance(action, str) or action not in STUDIO_BUTTONS or not isinstance(value, str):
        return _message(texts.WEB_REFUSED, 403)
    return await _changed(request, s, Button(Studio.who(s), action, value[:200]))


async def _read_file(part: BodyPartReader, limit: int) -> bytes | None:
    """The part's bytes, or None past ``limit`` (read no further than that)."""
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


async def _upload(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    """A voice note, photo or script file: the same Media event as a chat attachment (the
    core checks size, quota and type, then a worker decodes it in its jail)."""
    s = _session(session)
    state = request.app[_STATE]
    reader = request[_MULTIPART]
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name not in _UPLOAD_FIELDS:
        return _message(texts.WEB_REFUSED, 400)
    if not part.filename:
        state.say(s, [one_line(texts.WEB_NO_FILE)])
        return _back()
    data = await _read_file(part, state.max_upload)
    if data is None:
        state.say(s, [one_line(texts.WEB_TOO_BIG.format(limit=state.max_upload / 1e6))])
        return _back()
    if not data:
        state.say(s, [one_line(texts.WEB_NO_FILE)])
        return _back()

    async def fetch() -> bytes:
        return data

    media = Media(
        Studio.who(s),
        _UPLOAD_FIELDS[part.name],
        len(data),
        fetch,
        filename=part.filename[:200],
        mime=part.headers.get("Content-Type", "")[:100],
    )
    return await _changed(request, s, media)


async def _estimate(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    form = await request.post()
    script, language = form.get("script", ""), form.get("language", "")
    estimate = request.app[_STUDIO].estimate(
        script if isinstance(script, str) else "", language if isinstance(language, str) else ""
    )
    line = estimate.reason or texts.WEB_ESTIMATE.format(
        chars=estimate.chars, spoken=estimate.spoken, seconds=estimate.seconds
    )
    return web.json_response({"line": line, "refused": bool(estimate.reason)})


async def _events(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    """Server push: the person's jobs, their state, queue place and progress, each time
    something changes."""
    s = _session(session)
    studio = request.app[_STUDIO]

    async def look() -> str:
        jobs = await studio.live(s)
        return json.dumps([job_state(j) for j in jobs], separators=(",", ":"))

    return await _stream(request, s, look, _STREAM_EVERY)


async def _stream(
    request: web.Request, s: WebSession, look: Callable[[], Awaitable[str]], every: float
) -> web.StreamResponse:
    """Server-Sent Events: ``look()``'s answer each time it changes (a comment otherwise, so
    a dead connection is noticed); at most :data:`_STREAMS_PER_SESSION` per session, each for
    :data:`_STREAM_SECONDS` (the browser's EventSource reconnects)."""
    state = request.app[_STATE]
    if state.streams.get(s.session_id, 0) >= _STREAMS_PER_SESSION:
        return _message(texts.WEB_SLOW_DOWN, 429)
    state.streams[s.session_id] = state.streams.get(s.session_id, 0) + 1
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    try:
        await response.prepare(request)
        last, until = "", time.monotonic() + _STREAM_SECONDS
        while time.monotonic() < until:
            if request.transport is None or request.transport.is_closing():
                break  # the page went away (a reload, a form post): its stream ends here
            payload = await look()
            if payload != last:
                await response.write(f"data: {payload}\n\n".encode())
                last = payload
            else:
                await response.write(b": still here\n\n")
            await asyncio.sleep(every)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        left = state.streams.get(s.session_id, 1) - 1
        if left > 0:
            state.streams[s.session_id] = left
        else:
            state.streams.pop(s.session_id, None)
    return response


async def _queue_events(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    """The dashboard's queue, live: its block of HTML each time it changes."""
    s = _session(session)
    studio = request.app[_STUDIO]

    async def look() -> str:
        view = queue_view(await studio.live_queue(s), s.csrf)
        return json.dumps({"html": view})

    return await _stream(request, s, look, 2.0)


async def _photo(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    """The draft's photo as a worker re-encoded it (a small JPEG), never the upload itself."""
    found = await request.app[_STUDIO].photo(_session(session))
    if found is None:
        return _message(texts.WEB_NOT_FOUND, 404)
    return web.Response(body=found[0].data, content_type="image/jpeg")


async def _video(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    """The person's own finished video, streamed with ranges (seeking), or as a download."""
    job_id = request.match_info["job_id"]
    path: Path | None = None
    if _JOB_ID.match(job_id):
        path = await request.app[_STUDIO].video(_session(session), job_id)
    if path is None:
        return _message(texts.WEB_VIDEO_GONE, 404)
    headers = {"Content-Type": "video/mp4"}
    if request.query.get("download") == "1":
        headers["Content-Disposition"] = f'attachment; filename="mouthpiece-{job_id[:8]}.mp4"'
    return web.FileResponse(path, headers=headers)


async def _forget(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    s = _session(session)
    await request.app[_STUDIO].forget(s)
    log.info("forgotten from the web studio", extra={"platform": s.platform})
    return _signed_out(request, _message(texts.WEB_FORGOTTEN, 200))


async def _logout(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    await request.app[_STUDIO].sign_out(_session(session))
    return _signed_out(request, _message(texts.WEB_SIGNED_OUT, 200))


async def _css(request: web.Request, _: WebSession | None) -> web.StreamResponse:
    return web.Response(text=CSS, content_type="text/css", charset="utf-8")


async def _js(request: web.Request, _: WebSession | None) -> web.StreamResponse:
    return web.Response(text=studio_script(), content_type="text/javascript", charset="utf-8")


# ---- the moderator dashboard ----------------------------------------------------------------
async def _dashboard(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    s = _session(session)
    find = request.query.get("find", "").strip()[:64]
    board = await request.app[_STUDIO].dashboard(s, find)
    return _html(dashboard_page(s, s.csrf, request.app[_STATE].said(s), board))


async def _moderate(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    s = _session(session)
    form = await request.post()
    sub, args = form.get("sub"), form.get("args", "")
    limit, value = form.get("limit"), form.get("value")
    if sub == "limits" and isinstance(limit, str) and isinstance(value, str):
        args = f"set {limit} {value}"  # the settings form's two fields, as /mod limits set
    if not isinstance(sub, str) or not isinstance(args, str):
        return _message(texts.WEB_REFUSED, 403)
    state = request.app[_STATE]
    async with state.lanes.hold((s.platform, s.user_id)):
        answer = await request.app[_STUDIO].moderate(s, sub, " ".join(args.split())[:400])
    if not answer:
        return _message(texts.WEB_REFUSED, 403)
    state.say(s, answer)
    return _back("/mod")


async def _moderator_press(request: web.Request, session: WebSession | None) -> web.StreamResponse:
    s = _session(session)
    form = await request.post()
    action, value = form.get("action"), form.get("value", "")
    if not isinstance(action, str) or not isinstance(value, str):
        return _message(texts.WEB_REFUSED, 403)
    state = request.app[_STATE]
    async with state.lanes.hold((s.platform, s.user_id)):
        answer = await request.app[_STUDIO].moderator_press(s, action, value[:200])
    if not answer:
        return _message(texts.WEB_REFUSED, 403)
    state.say(s, answer)
    return _back("/mod")


ROUTES: tuple[Route, ...] = (
    Route("GET", "/login/{token}", _confirm, Access.PUBLIC),
    Route("POST", "/login/{token}", _login, Access.PUBLIC),
    Route("GET", "/", _home, Access.SESSION),
    Route("POST", "/talk", _talk, Access.SESSION_CSRF),
    Route("POST", "/script", _script, Access.SESSION_CSRF),
    Route("POST", "/upload", _upload, Access.UPLOAD),
    Route("POST", "/press", _press, Access.SESSION_CSRF),
    Route("POST", "/estimate", _estimate, Access.SESSION_CSRF),
    Route("GET", "/events", _events, Access.SESSION),
    Route("GET", "/draft/photo.jpg", _photo, Access.SESSION),
    Route("GET", "/videos/{job_id}.mp4", _video, Access.SESSION),
    Route("POST", "/forget", _forget, Access.SESSION_CSRF),
    Route("POST", "/logout", _logout, Access.SESSION_CSRF),
    Route("GET", "/mod", _dashboard, Access.STAFF),
    Route("GET", "/mod/events", _queue_events, Access.STAFF),
    Route("POST", "/mod/command", _moderate, Access.STAFF_CSRF),
    Route("POST", "/mod/press", _moderator_press, Access.STAFF_CSRF),
    Route("GET", "/static/studio.css", _css, Access.PUBLIC),
    Route("GET", "/static/studio.js", _js, Access.PUBLIC),
)


def _token_ok(sent: object, session: WebSession) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), session.csrf.encode())


async def _csrf(request: web.Request, route: Route, session: WebSession) -> web.Response | None:
    """The change's token, and the session's rate of changes; a refusal, or None."""
    state = request.app[_STATE]
    counted = state.estimates if route.handler is _estimate else state.changes
    if not counted.allow(session.session_id):
        return _message(texts.WEB_SLOW_DOWN, 429)
    if route.access is Access.UPLOAD:
        if not state.uploads.allow(session.session_id):
            return _message(texts.WEB_SLOW_DOWN, 429)
        if not request.content_type.startswith("multipart/"):
            return _message(texts.WEB_REFUSED, 403)
        reader = await request.multipart()
        first = await reader.next()  # the token comes first: nothing else is read before it
        if not isinstance(first, BodyPartReader) or first.name != "csrf":
            return _message(texts.WEB_REFUSED, 403)
        token = await first.read_chunk(256)  # a token is 43 characters: read no more
        if not _token_ok(token.decode("ascii", "replace"), session):
            return _message(texts.WEB_REFUSED, 403)
        request[_MULTIPART] = reader
        return None
    if request.content_length is None or request.content_length > _MAX_FORM:
        return _message(texts.WEB_REFUSED, 413 if request.content_length else 411)
    if not _token_ok((await request.post()).get("csrf"), session):
        return _message(texts.WEB_REFUSED, 403)
    return None


def _guard(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The route's handler behind its access check: a stranger gets the one-line "not signed
    in" page (401 for a page, 403 for a change), a change without its token 403, a
    dashboard route for someone who moderates nothing 403."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        if route.access is Access.PUBLIC:
            return await route.handler(request, None)
        studio = request.app[_STUDIO]
        session = await studio.session(request.cookies.get(_cookie_name(request), ""))
        if session is None:
            status = 401 if request.method == "GET" else 403
            return _signed_out(request, _message(texts.WEB_NOT_SIGNED_IN, status))
        if route.access in (Access.STAFF, Access.STAFF_CSRF) and not studio.staff(session):
            return _message(texts.WEB_DASHBOARD_REFUSED, 403)
        if route.access in (Access.SESSION_CSRF, Access.UPLOAD, Access.STAFF_CSRF):
            refused = await _csrf(request, route, session)
            if refused is not None:
                return refused
        return await route.handler(request, session)

    guarded.__name__ = route.handler.__name__
    return guarded


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


@web.middleware
async def _not_found(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own 404, 405 and 413 answers, as the studio's plain page."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _message(texts.WEB_NOT_FOUND, 404)
    except web.HTTPMethodNotAllowed:
        return _message(texts.WEB_NOT_FOUND, 405)
    except web.HTTPRequestEntityTooLarge:
        return _message(texts.WEB_REFUSED, 413)
    except web.HTTPException:
        raise
    except Exception:  # our bug, a store down: one line for the browser, the trace for us
        log.exception("web request failed", extra={"path": request.path})
        return _message(texts.WEB_ERROR, 500)


def build_web_app(studio: Studio, *, secure: bool, max_upload: int = 20_000_000) -> web.Application:
    """The studio's application; ``secure``: its public address is https (Secure cookie);
    ``max_upload``: the largest file a person may upload (the chat's file limit)."""
    app = web.Application(client_max_size=max_upload + _MAX_FORM, middlewares=[_not_found])
    app[_STUDIO] = studio
    app[_SECURE] = secure
    app[_STATE] = _State(max_upload)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _guard(route))
    app.on_response_prepare.append(_headers)
    return app


async def start_web(
    studio: Studio, host: str, port: int, public_url: str, *, max_upload: int = 20_000_000
) -> web.AppRunner:
    """Serve the studio on ``host:port`` on the running loop; ``cleanup()`` the runner."""
    app = build_web_app(studio, secure=public_url.startswith("https://"), max_upload=max_upload)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("web studio listening", extra={"host": host, "port": port})
    return runner
