"""Per-user limits in Chromium: with a day's tokens nearly used, a question is refused
with the limit and when it resets, in English and in Korean, the question kept on
screen; the Usage page shows the day's tokens used and left.  The store holds 4 of
the 10 tokens allowed, today's and tomorrow's (UTC), before the app starts, so that what
is asserted holds on either side of midnight; any question's prompt is longer than 6."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from shared import app_environment, app_process, bubbles, open_page, send

from chat_core.conversations.backends import open_store
from chat_core.usage import limits
from chat_core.usage.limits import Allowance

REFUSED = {
    "en-US": ("You have used 4 of your 10 tokens for today (UTC)", "Your tokens for the day reset in"),
    "ko-KR": ("오늘(UTC) 토큰 10개 중 4개를 썼고", "하루 토큰은"),
}


@pytest.fixture(scope="module")
def limited_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("limits")
    (folder / "limits.toml").write_text("[default]\ntokens_per_day = 10\n")
    environment = app_environment(folder) | {"CHAT_LIMITS": str(folder / "limits.toml")}
    store = open_store(environment["CHAT_STORE"])
    today = time.time()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHAT_LIMITS", environment["CHAT_LIMITS"])
        for day in (today, today + 86400):
            patch.setattr(limits, "now", lambda day=day: day)
            Allowance(lambda: store, "local").admit(0, 4)(4)
    with app_process(environment) as (url, _):
        yield url


@pytest.mark.parametrize("locale", list(REFUSED))
def test_a_question_past_the_limit_is_refused_and_the_usage_page_shows_what_is_left(
    browser: Browser, limited_url: str, request: pytest.FixtureRequest, locale: str
) -> None:
    page: Page = open_page(browser, limited_url, request, locale=locale)
    send(page, "What is the capital of Korea?")
    alert = page.get_by_test_id("stAlertContentError")
    for words in REFUSED[locale]:
        expect(alert).to_contain_text(words, timeout=30_000)
    expect(bubbles(page).first).to_contain_text("What is the capital of Korea?")

    page.goto(f"{limited_url}/usage")
    table = page.get_by_test_id("stTable").first
    expect(table).to_contain_text("Tokens per day (UTC)" if locale == "en-US" else "하루 토큰(UTC)")
    row = table.locator("tr", has_text="UTC")
    expect(row.locator("td").nth(1)).to_have_text("4")  # used
    expect(row.locator("td").nth(2)).to_have_text("6")  # left
    expect(row.locator("td").nth(3)).to_have_text("10")
