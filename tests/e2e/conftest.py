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
from shared import CHROMIUM, CHROMIUM_ARGS, app_environment, app_process, open_page


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


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with app_process(app_environment(tmp_path_factory.mktemp("app"))) as (url, _):
        yield url


@pytest.fixture
def page(browser: Browser, app_url: str, request: pytest.FixtureRequest) -> Page:
    return open_page(browser, app_url, request)
