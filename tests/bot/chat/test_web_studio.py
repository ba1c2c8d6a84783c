"""The web studio end to end in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by selenium) against the chat process (python-telegram-bot on the Bot
API stand-in, the real service and SQLite), a private Redis and a worker with the embedded
engine. A member makes a video in the browser (script with its live count, a recording
tried, the voice note and photo uploaded and checked in the workers' jail, the face box
shown, consent, render); the server holds it for review; the member is refused the
dashboard; an operator approves it on the dashboard; the member's page shows the finished
video, live. Every page is photographed into ``build/screenshots/`` (kept after the run)."""

from __future__ import annotations

import asyncio
import html
import io
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.chat.adapters.telegram import build_application
from bot.chat.adapters.web import start_web
from bot.contract import texts
from bot.conversation.service import Service
from bot.settings import BotSettings
from engine import Engine, EngineSettings
from tests.auxil.browser import Browser, keep, web_link
from tests.auxil.ptb import polling
from tests.auxil.redis_server import free_port, redis_server
from tests.auxil.system import chat_service, engine_workers
from tests.auxil.telegram_server import TelegramStandIn

pytestmark = pytest.mark.slow  # tens of seconds

MEMBER, OPERATOR = 631, 632  # private chats with the person of the same id
REVIEW_SAID = texts.AWAITING_REVIEW.split("{")[0][:40]
REVIEW_STATE = "review"  # a job's state as the studio's list shows it
SCRIPT = "Hello from the studio. This video was made in a browser, 2 times faster."


@asynccontextmanager
async def studio_system(tmp: Path) -> AsyncIterator[tuple[TelegramStandIn, Service, str]]:
    """The chat process with its web studio, and a worker on the same data volume (as
    compose runs them), every video held for a moderator's review."""
    tg = TelegramStandIn()
    await tg.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    engine = Engine(EngineSettings(cache_dir=str(tmp / "engine-cache")))
    with redis_server(tmp) as redis_url:
        settings = BotSettings(
            telegram_bot_token="123:TEST",
            telegram_api_base_url=tg.url,
            redis_url=redis_url,
            data_dir=tmp / "data",
            telegram_admin_ids=str(OPERATOR),
            consent_mode="review",
            web_url=url,
            web_port=port,
            status_edit_seconds=0.2,
            board_interval_seconds=0.2,
            bot_metrics_port=0,
        )
        try:
            async with chat_service(settings) as (service, _, _):
                app = build_application(settings.telegram_bot_token, tg.url, service.handle)
                runner = await start_web(service.studio, "127.0.0.1", port, url)
                try:
                    async with polling(app), engine_workers(settings, engine):
                        yield tg, service, url
                finally:
                    await runner.cleanup()
        finally:
            await tg.stop()


#: every visible control with no name a screen reader could say
_UNLABELLED = """
return [...document.querySelectorAll(
  'input:not([type=hidden]), textarea, select, button, a[href], audio, video, svg[role=img]')]
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
    && !e.getAttribute('aria-labelledby') && !(e.textContent || '').trim() && !e.hidden)
  .map((e) => e.outerHTML.slice(0, 120));
"""


def _labelled(b: Browser) -> None:
    """Every control on the page has a name (a label, an aria-label or its text)."""
    unnamed = b.driver.execute_script(_UNLABELLED)
    assert unnamed == [], unnamed


def _member_drafts(b: Browser, url: str, voice: Path, photo: Path) -> None:
    """The member's video, put together in the browser and sent for rendering."""
    from selenium.webdriver.common.by import By

    b.shot("studio-empty")
    b.press(texts.WEB_START_BUTTON)
    b.see(texts.WEB_SCRIPT)
    script = b.driver.find_element(By.ID, "script")
    script.send_keys(SCRIPT)
    estimate = b.driver.find_element(By.ID, "estimate")
    # the live count is the server's: "2" is said "two", so the spoken length is longer
    b.wait(lambda: "as spoken" in estimate.text, 20, "the live script counter")
    typed, said = (int(n) for n in re.findall(r"(\d+) (?:characters|as spoken)", estimate.text))
    assert typed == len(SCRIPT) and said > typed, estimate.text
    b.press(texts.WEB_SCRIPT_BUTTON)
    b.see("Script received")
    # a recording from the browser's microphone becomes the file to upload
    b.press(texts.WEB_RECORD)
    b.wait(lambda: b.driver.find_element(By.ID, "record").text == texts.WEB_RECORD_STOP, 10)
    time.sleep(1.5)  # a second and a half of the fake microphone's tone
    b.press(texts.WEB_RECORD_STOP)
    b.wait(
        lambda: (
            b.driver.execute_script("return document.getElementById('voice-file').files.length")
            == 1
        ),
        10,
        "the recording in the file field",
    )
    b.upload("voice", voice)  # the sample voice note replaces the tone
    b.see(texts.SKIP_BUTTON)
    b.press(texts.SKIP_BUTTON)
    b.see(texts.WEB_PHOTO)
    b.upload("photo", photo)
    b.see(texts.CONSENT_BUTTON)
    face = b.driver.find_elements(By.CSS_SELECTOR, ".photo svg rect.face")
    assert face and int(face[0].get_attribute("width") or 0) > 0  # the face found, boxed
    b.shot("studio-draft")
    _labelled(b)
    b.press(texts.CONSENT_BUTTON)
    b.see(texts.RENDER_BUTTON)
    b.press(texts.RENDER_BUTTON)
    b.see(REVIEW_SAID)
    b.shot("studio-review")
    assert texts.WEB_DASHBOARD_LINK not in b.body()  # no door for a member
    b.driver.get(f"{url}/mod")  # and the dashboard refuses them
    b.see(texts.WEB_DASHBOARD_REFUSED)
    b.shot("dashboard-refused")
    b.driver.get(f"{url}/")  # back to the studio, where the job waits for its review
    b.see(REVIEW_STATE)


def _operator_approves(b: Browser, url: str) -> None:
    b.driver.find_element("link text", texts.WEB_DASHBOARD_LINK).click()
    b.see(texts.WEB_REVIEWS)
    b.see("Approve")
    assert b.driver.find_elements("css selector", ".review img"), "the review's photo"
    assert b.driver.find_elements("css selector", ".review audio"), "the review's voice"
    assert b.driver.find_elements("css selector", "figure.chart svg"), "the charts"
    b.shot("dashboard-review")
    _labelled(b)
    approve = b.driver.find_element("xpath", "//button[starts-with(normalize-space(), 'Approve')]")
    approve.click()
    b.see("Approved job")
    b.shot("dashboard-approved")
    # the queue block follows the job live (server push), without a reload of the page
    b.driver.execute_script("window.notReloaded = true")
    b.wait(
        lambda: texts.MOD_QUEUE_EMPTY in b.driver.find_element("id", "queue-view").text,
        240,
        "the live queue emptying once the video is made",
    )
    assert b.driver.execute_script("return window.notReloaded") is True


def _member_watches(b: Browser, url: str) -> None:
    from selenium.webdriver.common.by import By

    # no reload by the test: the page's live stream brings the video once it is made
    b.wait(lambda: b.driver.find_elements(By.TAG_NAME, "video"), 240, "the finished video")
    b.wait(
        lambda: (
            (b.driver.execute_script("return document.querySelector('video').duration") or 0) > 1
        ),
        30,
        "the video's length",
    )
    b.shot("studio-done")


async def _seed_history(service: Service) -> None:
    """A day of other people's finished jobs in the history (two servers and the DMs), so
    the dashboard's charts have something to draw; marked "seed" in their payload."""
    import random

    rng, now = random.Random(25), time.time()
    async with service.store.database.writing() as db:
        await db.execute(
            "INSERT INTO users (platform, user_id, created) VALUES ('telegram', '900', ?)",
            (now,),
        )
        for n in range(160):
            created = now - rng.uniform(0, 23.5 * 3600)
            started = created + rng.expovariate(1 / 90)
            finished = started + rng.uniform(20, 70)
            status = "failed" if rng.random() < 0.08 else "done"
            scope = rng.choice(("-100111", "-100111", "-100222", None))
            await db.execute(
                "INSERT INTO jobs (job_id, platform, user_id, chat_id, guild_id, status, "
                "payload, created, started, finished) VALUES (?, 'telegram', '900', '900', ?, "
                "?, 'seed', ?, ?, ?)",
                (f"seed{n:04d}", scope, status, created, started, min(finished, now)),
            )


def test_a_video_made_in_the_browser_reviewed_on_the_dashboard(
    tmp_path: Path, sample_voice: Path, sample_photo: Path
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()

    async def go() -> None:
        async with studio_system(tmp_path) as (tg, service, url):
            await _seed_history(service)
            member_link = await web_link(tg, MEMBER)
            operator_link = await web_link(tg, OPERATOR)
            member = await asyncio.to_thread(Browser, shots)
            try:
                await asyncio.to_thread(member.sign_in, member_link)
                await asyncio.to_thread(_member_drafts, member, url, sample_voice, sample_photo)
                operator = await asyncio.to_thread(Browser, shots, 3400)  # the whole dashboard
                try:
                    await asyncio.to_thread(operator.sign_in, operator_link)
                    await asyncio.to_thread(_operator_approves, operator, url)
                finally:
                    await asyncio.to_thread(operator.quit)
                await asyncio.to_thread(_member_watches, member, url)
            finally:
                await asyncio.to_thread(member.quit)
            (job,) = await service.store.jobs.recent("telegram", str(MEMBER))
            assert job.status == "done"
            assert tg.videos(MEMBER) == []  # the studio's video stays in the studio

    asyncio.run(go())
    taken = sorted(p.name for p in shots.iterdir())
    assert taken == [
        "dashboard-approved.png",
        "dashboard-refused.png",
        "dashboard-review.png",
        "studio-done.png",
        "studio-draft.png",
        "studio-empty.png",
        "studio-review.png",
    ]
    keep(shots)


# ---- the same service without a browser: uploads, limits, scopes ------------------------------
def _client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _signed_in(client: aiohttp.ClientSession, link: str) -> str:
    """Sign in with ``link`` (as the confirm page's form posts it); the page's CSRF token."""
    origin = link.split("/login/", 1)[0]
    async with client.post(link, headers={"Origin": origin}, allow_redirects=False) as r:
        assert r.status == 303, await r.text()
    async with client.get(f"{origin}/") as r:
        found = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert found is not None
    return found.group(1)


def _upload_form(field: str, data: bytes, name: str, csrf: str | None) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if csrf is not None:
        form.add_field("csrf", csrf)
    form.add_field(field, io.BytesIO(data), filename=name, content_type="application/octet-stream")
    return form


async def _page(client: aiohttp.ClientSession, url: str) -> str:
    async with client.get(url) as r:
        assert r.status == 200
        return await r.text()


def _huge_png() -> bytes:
    """A valid PNG header declaring 40000 x 40000 pixels (1.6 gigapixels), a few bytes of
    data: a decompression bomb for anything that trusts the header."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 40_000, 40_000, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_studio_uploads_get_the_chats_checks_and_a_one_line_reason(tmp_path: Path) -> None:
    """An upload without its token first is refused unread; a file over the limit is refused
    after reading no more than the limit; a photo bomb is refused by the workers' jail in one
    line and the draft keeps nothing of it; the script counter answers JSON; the live stream
    sends the person's jobs; the studio's errors are pages, never a traceback."""

    async def go() -> None:
        async with studio_system(tmp_path) as (tg, service, url):
            link = await web_link(tg, MEMBER)
            async with _client() as web:
                csrf = await _signed_in(web, link)
                async with web.post(f"{url}/talk", data={"csrf": csrf}) as r:
                    assert r.status == 200  # followed the redirect home
                # the token must come first: a file before it is never read
                form = aiohttp.FormData()
                form.add_field("photo", b"x" * 100, filename="a.jpg")
                form.add_field("csrf", csrf)
                async with web.post(f"{url}/upload", data=form) as r:
                    assert r.status == 403
                for bad in (None, "guess"):
                    form = _upload_form("photo", b"x" * 100, "a.jpg", bad)
                    async with web.post(f"{url}/upload", data=form) as r:
                        assert r.status == 403
                big = _upload_form("photo", b"\xff" * (20_000_000 + 10), "big.jpg", csrf)
                async with web.post(f"{url}/upload", data=big) as r:
                    page = await r.text()
                assert texts.WEB_TOO_BIG.format(limit=20.0) in html.unescape(page)
                bomb = _upload_form("photo", _huge_png(), "bomb.png", csrf)
                async with web.post(f"{url}/upload", data=bomb) as r:
                    page = html.unescape(await r.text())
                said = re.search(r'<section class="said"[^>]*><p>([^<]+)</p>', page)
                assert said is not None and "\n" not in said.group(1), page
                assert "Traceback" not in page and "Photo received" not in said.group(1)
                draft = await service.studio.draft(_session_of(service, MEMBER))
                assert draft is not None and draft.photo_hash is None  # nothing kept
                async with web.post(
                    f"{url}/estimate", data={"csrf": csrf, "script": "I have 3 cats."}
                ) as r:
                    answer = await r.json()
                assert "14 characters" in answer["line"] and not answer["refused"]
                async with web.post(
                    f"{url}/estimate", data={"csrf": csrf, "script": "x " * 2000}
                ) as r:
                    assert (await r.json())["refused"]
                async with web.post(f"{url}/estimate", data={"script": "hi"}) as r:
                    assert r.status == 403  # no token: no answer
                # the language select: sent with the script, counted at its speaking rate
                plain = "salut les amis " * 10
                seconds = []
                for code in ("en", "fr"):
                    form = {"csrf": csrf, "script": plain, "language": code}
                    async with web.post(f"{url}/estimate", data=form) as r:
                        seconds.append(
                            float(re.findall(r"about ([\d.]+) s", (await r.json())["line"])[0])
                        )
                assert seconds[1] < seconds[0]
                form = {"csrf": csrf, "script": "Bonjour à tous.", "language": "fr"}
                async with web.post(f"{url}/script", data=form) as r:
                    page = html.unescape(await r.text())
                assert texts.LANG_SET.format(name="French") in page and ", in French)" in page
                assert '<option value="fr" selected>Français</option>' in page
                draft = await service.studio.draft(_session_of(service, MEMBER))
                assert draft is not None and draft.language == "fr"
                async with web.get(f"{url}/events") as r:
                    assert r.headers["Content-Type"].startswith("text/event-stream")
                    first = await asyncio.wait_for(r.content.readline(), 10)
                    assert first.startswith(b"data: [")

    asyncio.run(go())


def _session_of(service: Service, user: int) -> Any:
    from bot.contract.ports import WebSession

    return WebSession("-", "telegram", str(user), "-", 0.0)


def test_a_moderator_of_another_server_cannot_decide_this_review(tmp_path: Path) -> None:
    """A session bound to another server's moderation (its /web asked there) opens that
    server's dashboard only: this DM video's review is not in it, and pressing Approve for it
    anyway is refused; the sign-in page rate-limits an address that keeps trying."""

    async def go() -> None:
        async with studio_system(tmp_path) as (tg, service, url):
            held = await _held_for_review(service)
            signer = service.guard.web
            assert signer is not None
            elsewhere = signer.signer.link("telegram", "777", time.time(), scope="-100999")
            async with _client() as mod:
                csrf = await _signed_in(mod, elsewhere)
                page = html.unescape(await _page(mod, f"{url}/mod"))
                assert "server -100999" in page and held[:8] not in page
                async with mod.post(
                    f"{url}/mod/press",
                    data={"csrf": csrf, "action": "mod_approve", "value": held},
                ) as r:
                    said = html.unescape(await r.text())
                assert "Approved job" not in said
                assert await service.store.jobs.state(held) == "review"
            async with _client() as member:
                await _signed_in(member, await web_link(tg, MEMBER))
                async with member.get(f"{url}/mod") as r:
                    assert r.status == 403
            async with _client() as guesser:
                codes = []
                for _ in range(35):
                    async with guesser.get(f"{url}/login/not-a-token") as r:
                        codes.append(r.status)
                first = codes.index(429)  # 30 sign-in requests per 10 minutes and address
                assert 25 <= first <= 30 and set(codes[:first]) == {403}, codes
                assert set(codes[first:]) == {429}, codes

    asyncio.run(go())


async def _held_for_review(service: Service) -> str:
    """A member's DM video held for review (the studio's flow, through the core)."""
    from bot.contract.events import WEB_CHAT, Button, Command
    from bot.contract.events import Who as W
    from tests.auxil.system import ready_draft

    who = W("telegram", str(MEMBER), WEB_CHAT)
    await service.handle(Command(who, "talk"))
    await service.store.drafts.put("telegram", str(MEMBER), WEB_CHAT, ready_draft("w1"))
    await _uploads_for(service)
    answer = await service.handle(Button(who, "render"))
    assert answer[0].text.startswith(REVIEW_SAID), answer
    (job,) = await service.store.jobs.recent("telegram", str(MEMBER))
    return job.job_id


async def _uploads_for(service: Service) -> None:
    """The draft's voice note and photo as the service stores uploads (never rendered here)."""
    folder = service.media_dir / "test"
    folder.mkdir(parents=True, exist_ok=True)
    for digest, kind, mime in (("v" * 64, "audio", "audio/ogg"), ("p" * 64, "image", "image/jpeg")):
        path = folder / digest
        path.write_bytes(b"not rendered in this test")
        await service.store.media.put(digest, kind, path.stat().st_size, mime, path)
