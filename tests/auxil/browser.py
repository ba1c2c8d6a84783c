"""A real browser for the web studio's tests: Debian's headless Chromium driven by selenium
(the driver's path given: nothing is downloaded), with waits that read the page's text and
screenshots kept where the test says; the /web link a test's chat answers."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.contract import texts
from tests.auxil.telegram_server import TelegramStandIn

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
#: where a test run keeps every page's picture (git ignores build/)
KEPT = Path(__file__).resolve().parents[2] / "build" / "screenshots"
#: a sign-in link as the tests' studios (on loopback) send it
SIGN_IN_LINK = re.compile(r"(http://127\.0\.0\.1:\d+/login/\S+)")


async def web_link(tg: TelegramStandIn, chat: int) -> str:
    """Send /web in ``chat`` on the Telegram stand-in; the sign-in link the bot answers."""
    before = len(tg.texts(chat))
    tg.send_text(chat, "/web")
    await tg.wait_for(lambda: len(tg.texts(chat)) > before, timeout=60)
    found = SIGN_IN_LINK.search(tg.texts(chat)[-1])
    assert found, tg.texts(chat)[-1]
    return found.group(1)


class Browser:
    """One headless Chromium, its waits, and the screenshots it keeps."""

    def __init__(self, shots: Path, height: int = 1400) -> None:
        if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
            pytest.fail(
                "this test needs Chromium and its driver: apt-get install -y chromium "
                "chromium-driver (the Makefile's test target installs them)"
            )
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service as DriverService

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in (
            "--headless=new",
            "--no-sandbox",
            f"--window-size=900,{height}",
            "--use-fake-device-for-media-stream",  # a microphone that plays a tone
            "--use-fake-ui-for-media-stream",  # allowed without asking
        ):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(
            service=DriverService(executable_path=str(CHROMEDRIVER)), options=options
        )
        self.shots = shots

    def body(self) -> str:
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By

        try:
            return str(self.driver.find_element(By.TAG_NAME, "body").text)
        except WebDriverException:  # the page reloaded (its live stream saw the video)
            return ""

    def wait(self, test: Callable[[], Any], seconds: float = 60, what: str = "") -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            from selenium.common.exceptions import StaleElementReferenceException

            WebDriverWait(
                self.driver,
                seconds,
                poll_frequency=0.2,
                ignored_exceptions=(StaleElementReferenceException,),
            ).until(lambda _: test())
        except Exception as e:
            raise AssertionError(f"{what}: gave up; the page says:\n{self.body()}") from e

    def see(self, text: str, seconds: float = 60) -> None:
        self.wait(lambda: text in self.body(), seconds, f"waiting for {text!r}")

    def press(self, label: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']").click()

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))

    def sign_in(self, link: str) -> None:
        self.driver.get(link)
        self.press(texts.WEB_CONFIRM_BUTTON)
        self.see(texts.WEB_SIGN_OUT)

    def upload(self, field: str, path: Path) -> None:
        from selenium.webdriver.common.by import By

        box = self.driver.find_element(By.ID, f"{field}-file")
        box.send_keys(str(path))
        box.find_element(By.XPATH, "./ancestor::form//button[@type='submit']").click()

    def quit(self) -> None:
        self.driver.quit()


def keep(shots: Path) -> None:
    """Copy a test's screenshots to :data:`KEPT`, where they outlive the test's folder."""
    KEPT.mkdir(parents=True, exist_ok=True)
    for shot in shots.iterdir():
        shutil.copy(shot, KEPT / shot.name)
