"""The web studio (bot/chat/adapters/web) with real parts: the aiohttp server on a free
loopback port, the real service and SQLite store, Redis, python-telegram-bot against the Bot
API stand-in, and a real headless Chromium driven with the keyboard only."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from bot.chat.adapters.web import ROUTES, Access, start_web
from bot.chat.adapters.web.server import SECURITY_HEADERS
from bot.chat.store import Store
from bot.contract import texts
from bot.contract.jobs import RenderJob
from bot.conversation.service import Service
from bot.safety.signin import LINK_SECONDS, WebSignIn
from tests.auxil.system import telegram_system
from tests.auxil.telegram_server import TelegramStandIn

ADA, BOB = 611, 622  # private chats with the person of the same id
_LINK = re.compile(r"(http://127\.0\.0\.1:\d+/login/\S+)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def web_system(tmp: Path) -> AsyncIterator[tuple[TelegramStandIn, Service, Store, str]]:
    """The chat process on Telegram with the web studio served on a free loopback port."""
    port = _free_port()
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


async def _link_by_chat(tg: TelegramStandIn, chat: int) -> str:
    before = len(tg.texts(chat))
    tg.send_text(chat, "/web")
    await tg.wait_for(lambda: len(tg.texts(chat)) > before, timeout=60)
    found = _LINK.search(tg.texts(chat)[-1])
    assert found, tg.texts(chat)[-1]
    return found.group(1)


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
            link = await _link_by_chat(tg, ADA)
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


def test_every_route_checks_who_asks(tmp_path: Path) -> None:
    """The route table walked as a stranger: nothing answers 200 with anyone's data. A form
    post without its CSRF token is refused even with a valid session. One person's session
    shows only their own jobs and voices (escaped), never another's."""

    async def go() -> None:
        async with web_system(tmp_path) as (_, service, store, url):
            await _some_data(store, ADA, "a" * 8 + "-ada-job", "<b>ada</b>")
            await _some_data(store, BOB, "b" * 8 + "-bob-job", "bobvoice")
            signer = _signer(service)
            async with _client() as stranger:
                walked = set()
                for route in ROUTES:
                    path = route.path.replace("{token}", "not-a-token")
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
                assert "aaaaaaaa" not in page and "ada" not in page
                for path in ("/forget", "/logout"):
                    for form in ({}, {"csrf": "guess"}, {"csrf": ""}):
                        async with ada.post(f"{url}{path}", data=form) as r:
                            assert r.status == 403, (path, form)
                            assert texts.WEB_REFUSED in await r.text()
                assert len(await store.voices.list("telegram", str(ADA))) == 1  # untouched
                async with ada.get(f"{url}/") as r:
                    assert r.status == 200  # still signed in

    asyncio.run(go())


def _app_routes(service: Service) -> list[object]:
    from bot.chat.adapters.web import build_web_app

    app = build_web_app(service.studio, secure=False)
    return [r for r in app.router.routes() if r.method != "HEAD"]


# ---- a real browser, the keyboard only -----------------------------------------------------
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def _browse(link: str, url: str, shots: Path) -> list[str]:
    """Sign in with the link, Tab to the Forget button, press Enter; the pages' texts."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            "this test needs Chromium and its driver: apt-get install -y chromium "
            "chromium-driver (the Makefile's test target installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--window-size=800,700"):
        options.add_argument(arg)
    driver = webdriver.Chrome(
        service=DriverService(executable_path=str(CHROMEDRIVER)), options=options
    )
    seen: list[str] = []
    try:
        driver.get(link)
        driver.save_screenshot(str(shots / "sign-in.png"))
        driver.switch_to.active_element.send_keys(Keys.TAB)  # the keyboard: to the button
        assert driver.switch_to.active_element.text == texts.WEB_CONFIRM_BUTTON
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        WebDriverWait(driver, 20).until(
            lambda d: texts.WEB_FORGET in d.find_element(By.TAG_NAME, "body").text
        )
        body = driver.find_element(By.TAG_NAME, "body")
        seen.append(body.text)
        driver.save_screenshot(str(shots / "studio.png"))
        for _ in range(12):  # the keyboard alone: Tab until the Forget button has the focus
            driver.switch_to.active_element.send_keys(Keys.TAB)
            if driver.switch_to.active_element.text == texts.WEB_FORGET_BUTTON:
                break
        else:
            raise AssertionError("Tab never reached the Forget button")
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        WebDriverWait(driver, 20).until(
            lambda d: texts.WEB_FORGOTTEN in d.find_element(By.TAG_NAME, "body").text
        )
        seen.append(driver.find_element(By.TAG_NAME, "body").text)
        driver.save_screenshot(str(shots / "forgotten.png"))
        driver.get(f"{url}/")
        seen.append(driver.find_element(By.TAG_NAME, "body").text)
        driver.save_screenshot(str(shots / "signed-out.png"))
    finally:
        driver.quit()
    return seen


def test_a_browser_signs_in_and_forgets_with_the_keyboard(tmp_path: Path) -> None:
    """Headless Chromium: the /web link signs in and shows the studio; Tab to the Forget
    button and Enter erase the person's data (as /forget does) and sign the browser out."""
    shots = tmp_path / "screenshots"
    shots.mkdir()

    async def go() -> None:
        async with web_system(tmp_path) as (tg, _, store, url):
            await _some_data(store, ADA, "c" * 8 + "-ada-job", "adavoice")
            link = await _link_by_chat(tg, ADA)
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
