"""The app as a user meets it: ``streamlit run app.py`` on 127.0.0.1, driven by
headless Chromium (Debian's, through Playwright).  The tests share one app
process and store, as users share a deployment (a fresh app costs 3 s a test):
each test is a new browser session that starts its own conversations, and leaves
a screenshot in test-artifacts/.  Without chromium
these tests skip, except under CI=true, where they fail: .ci/run installs it.
The app answers with the scripted model, so answers are exact and stream at a
known pace; the real model is tested through AppTest and the session tests."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from shared import CHROMIUM, CHROMIUM_ARGS, ROOT, app_process

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def app_environment(folder: Path) -> dict[str, str]:
    """The app's settings for a test: its stores in ``folder``, and the scripted model
    (chat_core/local/scripted.py): exact answers, one word per 40 ms."""
    return {
        "LOCAL_MODEL": "scripted:40",
        "CHAT_STORE": f"sqlite://{folder / 'chat.db'}",
        "CHAT_DATA_DIR": str(folder),
        "UPLOAD_STORE": f"file://{folder / 'uploads'}",
    }


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with app_process(app_environment(tmp_path_factory.mktemp("app"))) as (url, _):
        yield url


def open_page(browser: Browser, url: str, request: pytest.FixtureRequest, locale: str = "en-US") -> Page:
    """A new browser session on the app; screenshotted when the test ends."""
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_test_id("stChatInputTextArea").wait_for()

    def screenshot() -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
        context.close()

    request.addfinalizer(screenshot)
    return page


@pytest.fixture
def page(browser: Browser, app_url: str, request: pytest.FixtureRequest) -> Page:
    return open_page(browser, app_url, request)
