"""Waiting for an answer in Chromium: the wait is explained in the answer's place,
its seconds going up, until the first words come; a Stop then leaves no error line
in the app's log.  An app of its own, whose scripted model takes 3 s a word, and
whose output the test reads."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from shared import app_environment, app_process, bubbles, open_page, send


@pytest.fixture(scope="module")
def slow_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app's URL and the file its log goes to."""
    folder = tmp_path_factory.mktemp("waits")
    environment = app_environment(folder) | {"LOCAL_MODEL": "scripted:3000"}
    with app_process(environment, log=folder / "app.log") as (url, _):
        yield url, folder / "app.log"


def test_the_wait_is_explained_and_counts_up_and_a_stop_logs_no_error(
    browser: Browser, slow_app: tuple[str, Path], request: pytest.FixtureRequest
) -> None:
    url, log = slow_app
    page: Page = open_page(browser, url, request)
    send(page, "Tell me a long story.")
    answer = bubbles(page).nth(1)
    expect(answer).to_contain_text("The model is reading the question · 1 s", timeout=30_000)
    expect(answer).to_contain_text("The model is reading the question · 2 s")
    expect(answer).to_contain_text("You asked:", timeout=30_000)  # the first word
    expect(answer.get_by_text(re.compile("reading the question"))).to_have_count(0)

    page.get_by_role("button", name="Stop").click()
    expect(answer.get_by_text("stopped ·")).to_be_visible()
    # The model's thread has stopped by now: the stop joins it before the page is drawn.
    assert "Error in" not in log.read_text(errors="replace")
