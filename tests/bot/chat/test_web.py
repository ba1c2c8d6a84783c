"""The web studio (bot/chat/adapters/web) with real parts: the aiohttp server on a free
loopback port, the real service and SQLite store, Redis, python-telegram-bot against the Bot
API stand-in, and a real headless Chromium driven with the keyboard only."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from bot.chat.adapters.web import ROUTES, Access, start_web
from bot.chat.adapters.web.server import SECURITY_HEADERS
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.jobs import RenderJob
from bot.conversation.service import Service
from bot.safety.signin import LINK_SECONDS, WebSignIn
from tests.auxil.browser import SIGN_IN_LINK, Browser, keep, web_link
from tests.auxil.redis_server import free_port
from tests.auxil.system import telegram_system
from tests.auxil.telegram_server import TelegramStandIn

ADA, BOB = 611, 622  # private chats with the person of the same id


@asynccontextmanager
async def web_system(tmp: Path) -> AsyncIterator[tuple[TelegramStandIn, Service, Store, str]]:
    """The chat process on Telegram with the web studio served on a free loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with telegram_system(tmp, web_url=url, web_port=port) as (tg, service, store):
        runner = await start_web(service.studio, "127.0.0.1", port, url)
        try:
            yield tg, service, store, url
        finally:
            await runner.cleanup()


def _signer(service: Service) -> WebSignIn:
    assert service.guard.web is not None
    return service.guard.web.signer


def _client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _sign_in(client: aiohttp.ClientSession, link: str) -> aiohttp.ClientResponse:
    """Open the link (its page offers a button: nothing spent yet), then press it: a form post
    from the studio's own origin, as a browser sends it."""
    async with client.get(link, allow_redirects=False) as r:
        page = await r.text()
        if r.status != 200:
            return r
        assert texts.WEB_CONFIRM in page and 'method="post"' in page
    origin = link.split("/login/", 1)[0]
    headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
    async with client.post(link, headers=headers, allow_redirects=False) as r:
        await r.read()
        return r


async def _some_data(store: Store, user: int, job_id: str, voice: str) -> None:
    """A job and a saved voice of ``user``'s in the store."""
    digest = f"{user:064d}"
    await store.media.put(digest, "audio", 10, "audio/ogg", Path("/nonexistent"))
    assert await store.voices.save("telegram", str(user), voice, digest, 5.0, None)
    job = RenderJob(job_id, "telegram", str(user), str(user), "Secret words.", digest, digest)
    assert await store.jobs.add(job, None)


def _secure_headers(r: aiohttp.ClientResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, (r.url, name)


def test_web_link_by_telegram_signs_in_once(tmp_path: Path) -> None:
    """/web answers a link privately; it signs in (HttpOnly, SameSite=Strict cookie) and
    shows the person's own studio; the same link is refused the second time, and so are an
    expired link, a tampered one and one signed with another secret."""

    async def go() -> None:
        async with web_system(tmp_path) as (tg, service, _, url):
            link = await web_link(tg, ADA)
            assert link.startswith(f"{url}/login/")
            assert tg.texts(ADA)[-1].startswith(texts.WEB_LINK.split("{")[0])
            async with _client() as preview:  # a chat app fetching the link for a preview
                for _ in range(2):
                    async with preview.get(link, allow_redirects=False) as r:
                        assert r.status == 200 and "Set-Cookie" not in r.headers
                # another site's page posting the link (a login CSRF) is refused, unspent
                for headers in (
                    {"Origin": "http://evil.example"},
                    {"Sec-Fetch-Site": "cross-site"},
                    {},
                ):
                    async with preview.post(link, headers=headers, allow_redirects=False) as r:
                        assert r.status == 403 and "Set-Cookie" not in r.headers, headers
            async with _client() as browser:
                r = await _sign_in(browser, link)
                assert r.status == 303 and r.headers["Location"] == "/"
                cookie = r.headers["Set-Cookie"]
                assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
                assert "Path=/" in cookie and "Secure" not in cookie  # http: no Secure
                async with browser.get(f"{url}/") as home:
                    page = await home.text()
                    assert home.status == 200, page
                    _secure_headers(home)
                assert f"Signed in as telegram user {ADA}" in page
                assert '<html lang="en">' in page
            async with _client() as other:  # the same link again, from anywhere
                again = await _sign_in(other, link)
                assert again.status == 403
                signer = _signer(service)
                expired = signer.token("telegram", str(ADA), time.time() - LINK_SECONDS - 1)
                token = link.rsplit("/", 1)[1]
                body, mac = token.split(".")
                flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
                forged = WebSignIn(b"x" * 32, url).token("telegram", str(ADA), time.time())
                for bad in (expired, f"{flipped}.{mac}", forged, "x" * 600, "a.b", ""):
                    async with other.get(f"{url}/login/{bad}", allow_redirects=False) as r:
                        text = await r.text()
                        assert r.status in (403, 404), bad
                        if r.status == 403:
                            assert texts.WEB_BAD_LINK in text
                        _secure_headers(r)
                async with other.get(f"{url}/") as home:
                    assert home.status == 401  # none of the refused links signed it in

    asyncio.run(go())


def test_web_is_off_without_a_public_address(tmp_path: Path) -> None:
    """Without MOUTHPIECE_WEB_URL, /web says the studio is not enabled (and no link)."""

    async def go() -> None:
        async with telegram_system(tmp_path) as (tg, _, _):
            tg.send_text(ADA, "/web")
            await tg.wait_for(lambda: tg.texts(ADA) == [texts.WEB_OFF], timeout=60)

    asyncio.run(go())


def _filled(path: str) -> str:
    """A route's path with its parameters: a bad sign-in token, Bob's job."""
    return path.replace("{token}", "not-a-token").replace("{job_id}", BOB_JOB)


BOB_JOB = "b" * 8 + "-bob-job"


def test_every_route_checks_who_asks(tmp_path: Path) -> None:
    """The route table walked as a stranger: nothing answers 200 with anyone's data. A form
    post without its CSRF token is refused even with a valid session. One person's session
    shows only their own jobs and voices (escaped), never another's."""

    async def go() -> None:
        async with web_system(tmp_path) as (_, service, store, url):
            await _some_data(store, ADA, "a" * 8 + "-ada-job", "<b>ada</b>")
            await _some_data(store, BOB, BOB_JOB, "bobvoice")
            signer = _signer(service)
            async with _client() as stranger:
                walked = set()
                for route in ROUTES:
                    path = _filled(route.path)
                    async with stranger.request(
                        route.method, url + path, allow_redirects=False
                    ) as r:
                        body = await r.text()
                        _secure_headers(r)
                        walked.add((route.method, route.path))
                        assert "Signed in as" not in body and "ada" not in body
                        if route.access is not Access.PUBLIC:
                            assert r.status in (401, 403), (route.path, r.status)
                            assert texts.WEB_NOT_SIGNED_IN in body
                        elif route.path.startswith("/login"):
                            assert r.status == 403
                app = {(str(x.method), x.resource.canonical) for x in _app_routes(service)}
                assert app == walked  # the table is every route the app serves
            async with _client() as member:  # signed in, moderates nothing
                await _sign_in(member, signer.link("telegram", str(ADA), time.time()))
                async with member.get(f"{url}/") as r:
                    csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
                assert csrf is not None
                for route in ROUTES:
                    if route.access.value.startswith("staff"):
                        data = {"csrf": csrf.group(1), "sub": "queue", "action": "mod_approve"}
                        async with member.request(
                            route.method, url + route.path, data=data, allow_redirects=False
                        ) as r:
                            assert r.status == 403, route.path
                            assert texts.WEB_DASHBOARD_REFUSED in await r.text()
                # Bob's finished video, kept on the data volume, is not Ada's to fetch
                out = tmp_path / "data" / "out"
                out.mkdir(parents=True, exist_ok=True)
                (out / f"{BOB_JOB}.mp4").write_bytes(b"\0\0\0\x18ftypmp42 Bob's video")
                async with store.database.writing() as db:
                    await db.execute("UPDATE jobs SET status='done' WHERE job_id=?", (BOB_JOB,))
                async with member.get(f"{url}/videos/{BOB_JOB}.mp4") as r:
                    assert r.status == 404
                    assert "Bob's video" not in await r.text()
                async with _client() as bob:
                    await _sign_in(bob, signer.link("telegram", str(BOB), time.time()))
                    async with bob.get(f"{url}/videos/{BOB_JOB}.mp4?download=1") as r:
                        assert (
                            r.status == 200
                            and await r.read() == (out / f"{BOB_JOB}.mp4").read_bytes()
                        )
                        assert r.headers["Content-Disposition"].startswith("attachment")
            await _walk_as_another_servers_moderator(url, signer, store)
            async with _client() as ada, _client() as bob:
                await _sign_in(ada, signer.link("telegram", str(ADA), time.time()))
                await _sign_in(bob, signer.link("telegram", str(BOB), time.time()))
                async with ada.get(f"{url}/") as r:
                    page = await r.text()
                assert "aaaaaaaa" in page and "bbbbbbbb" not in page
                assert "&lt;b&gt;ada&lt;/b&gt;" in page and "<b>ada" not in page
                assert "bobvoice" not in page
                async with bob.get(f"{url}/") as r:
                    page = await r.text()
                assert "bbbbbbbb" in page and "bobvoice" in page
                assert "aaaaaaaa" not in page and "&lt;b&gt;ada" not in page
                for path in ("/forget", "/logout"):
                    for form in ({}, {"csrf": "guess"}, {"csrf": ""}):
                        async with ada.post(f"{url}{path}", data=form) as r:
                            assert r.status == 403, (path, form)
                            assert texts.WEB_REFUSED in await r.text()
                assert len(await store.voices.list("telegram", str(ADA))) == 1  # untouched
                async with ada.get(f"{url}/") as r:
                    assert r.status == 200  # still signed in

    asyncio.run(go())


async def _walk_as_another_servers_moderator(url: str, signer: WebSignIn, store: Store) -> None:
    """A moderator of another server (their /web asked there): every route, and nothing of
    these direct-message jobs is theirs to see, decide or take down."""
    async with _client() as other:
        elsewhere = signer.link("telegram", "633", time.time(), scope="-100999")
        await _sign_in(other, elsewhere)
        async with other.get(f"{url}/") as r:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
        assert csrf is not None
        for route in ROUTES:
            if route.access is Access.PUBLIC or route.method != "GET":
                continue
            async with other.get(url + _filled(route.path)) as r:
                if route.path.endswith("/events"):  # a live stream: its first event
                    body = await asyncio.wait_for(r.content.readline(), 10)
                else:
                    body = await r.read()
                assert b"aaaaaaaa" not in body and BOB_JOB.encode() not in body, route
                assert b"Bob's video" not in body and b"bobvoice" not in body, route
        refusals = {
            texts.MOD_REVIEW_GONE.format(job=BOB_JOB[:8]),  # as for a job gone
            texts.JOB_NOT_YOURS,
        }
        for action in ("mod_approve", "mod_deny", "cancel_job"):
            data = {"csrf": csrf.group(1), "action": action, "value": BOB_JOB}
            async with other.post(f"{url}/mod/press", data=data) as r:
                said = re.search(r'class="said"[^>]*><p>([^<]*)</p>', await r.text())
            assert said is not None and html.unescape(said.group(1)) in refusals, said
        data = {"csrf": csrf.group(1), "sub": "takedown", "args": f"{BOB_JOB[:8]} spam"}
        async with other.post(f"{url}/mod/command", data=data) as r:
            answer = await r.text()
        assert texts.MOD_JOB_NOT_HERE.format(job=BOB_JOB[:8]) in answer
        row = await store.database.one(
            "SELECT status, taken_down FROM jobs WHERE job_id=?", BOB_JOB
        )
        assert row is not None and tuple(row) == ("done", None)  # untouched


def _app_routes(service: Service) -> list[object]:
    from bot.chat.adapters.web import build_web_app

    app = build_web_app(service.studio, secure=False)
    return [r for r in app.router.routes() if r.method != "HEAD"]


# ---- a real browser, the keyboard only -----------------------------------------------------


def _browse(link: str, url: str, shots: Path) -> list[str]:
    """Sign in with the link, Tab to the Forget button, press Enter; the pages' texts."""
    from selenium.webdriver.common.keys import Keys

    b = Browser(shots, height=700)
    driver, seen = b.driver, []
    try:
        driver.get(link)
        b.shot("sign-in")
        driver.switch_to.active_element.send_keys(Keys.TAB)  # the keyboard: to the button
        assert driver.switch_to.active_element.text == texts.WEB_CONFIRM_BUTTON
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        b.see(texts.WEB_FORGET, 20)
        seen.append(b.body())
        b.shot("studio")
        for _ in range(20):  # the keyboard alone: Tab until the Forget button has the focus
            driver.switch_to.active_element.send_keys(Keys.TAB)
            if driver.switch_to.active_element.text == texts.WEB_FORGET_BUTTON:
                break
        else:
            raise AssertionError("Tab never reached the Forget button")
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        b.see(texts.WEB_FORGOTTEN, 20)
        seen.append(b.body())
        b.shot("forgotten")
        driver.get(f"{url}/")
        seen.append(b.body())
        b.shot("signed-out")
    finally:
        b.quit()
    return seen


def test_a_browser_signs_in_and_forgets_with_the_keyboard(tmp_path: Path) -> None:
    """Headless Chromium: the /web link signs in and shows the studio; Tab to the Forget
    button and Enter erase the person's data (as /forget does) and sign the browser out."""
    shots = tmp_path / "screenshots"
    shots.mkdir()

    async def go() -> None:
        async with web_system(tmp_path) as (tg, _, store, url):
            await _some_data(store, ADA, "c" * 8 + "-ada-job", "adavoice")
            link = await web_link(tg, ADA)
            studio, forgotten, after = await asyncio.to_thread(_browse, link, url, shots)
            assert f"Signed in as telegram user {ADA}" in studio and "adavoice" in studio
            assert texts.WEB_FORGOTTEN in forgotten
            assert texts.WEB_NOT_SIGNED_IN in after
            assert await store.voices.list("telegram", str(ADA)) == []
            row = await store.database.one("SELECT payload FROM jobs WHERE user_id=?", str(ADA))
            assert row is not None and "Secret words" not in row[0]

    asyncio.run(go())
    assert sorted(p.name for p in shots.iterdir()) == [
        "forgotten.png",
        "sign-in.png",
        "signed-out.png",
        "studio.png",
    ]
    keep(shots)


# ---- Discord: /web in a server binds its moderator's session to that server ------------------
def test_discord_web_in_a_server_binds_the_moderators_dashboard_to_it(tmp_path: Path) -> None:
    """/web from a member with Manage Server answers ephemerally with a link whose session
    opens that server's dashboard (for an hour); the same command from a plain member opens
    the studio and no dashboard."""
    import discord

    from tests.auxil.system import (
        GUILD,
        MEMBER,
        MODERATOR,
        discord_system,
        followup_texts,
        guild_interaction,
        member,
    )

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    web = {"id": "99", "name": "web", "type": 1}

    async def go() -> None:
        async with discord_system(tmp_path, web_url=url, web_port=port) as (dc, client, _, svc):
            runner = await start_web(svc.studio, "127.0.0.1", port, url)
            try:
                links = []
                for n, who in enumerate(
                    (
                        member(MODERATOR, discord.Permissions(manage_guild=True).value),
                        member(MEMBER, discord.Permissions(send_messages=True).value),
                    ),
                    start=1,
                ):
                    client._connection.parse_interaction_create(  # type: ignore[arg-type]
                        guild_interaction(2, web, who)
                    )
                    await dc.wait_for(lambda n=n: len(dc.followups()) >= n)
                    assert dc.followups()[-1].json["flags"] & 64  # ephemeral: theirs alone
                    found = SIGN_IN_LINK.search(followup_texts(dc)[-1])
                    assert found, followup_texts(dc)[-1]
                    links.append(found.group(1))
                async with _client() as mod, _client() as plain:
                    for client_, link in ((mod, links[0]), (plain, links[1])):
                        r = await _sign_in(client_, link)
                        assert r.status == 303
                    async with mod.get(f"{url}/mod") as r:
                        assert r.status == 200
                        assert f"server {GUILD}" in await r.text()
                    async with plain.get(f"{url}/mod") as r:
                        assert r.status == 403
                    async with plain.get(f"{url}/") as r:
                        assert texts.WEB_DASHBOARD_LINK not in await r.text()
                row = await svc.store.database.one(
                    "SELECT scope, expires FROM web_sessions WHERE user_id=?", MODERATOR
                )
                assert row is not None and row[0] == GUILD
                assert row[1] - time.time() <= 3600 + 5  # a moderator's session: an hour
            finally:
                await runner.cleanup()

    asyncio.run(go())
