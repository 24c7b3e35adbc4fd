"""What stays in Chromium: the chat sidebar's choices after a visit to the PDF page and
after a reload, and the first-run notice about the bundled model, once per user.
Each test runs its own app on a fresh store: the notice is the first visit's."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from shared import app_environment, app_process, idle, open_page, send, wait_for_answer

SYSTEM = "Answer like a pirate."


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    with app_process(app_environment(tmp_path)) as (url, _):
        yield url


def notice(page: Page) -> Locator:
    return page.get_by_text("is a small demo model (135M parameters)")


def title_caption(page: Page) -> Locator:
    """The line under the title: the model, the mode and the documents of the next question."""
    return page.get_by_test_id("stCaptionContainer").filter(has_text="SmolLM2").first


def test_the_choices_survive_a_visit_to_the_pdf_page_and_a_reload(
    browser: Browser, fresh_url: str, request: pytest.FixtureRequest
) -> None:
    page = open_page(browser, fresh_url, request)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("ConversationChain").click()
    idle(page)
    system = sidebar.get_by_label("System prompt")
    system.fill(SYSTEM)
    system.press("Control+Enter")  # a text area's value is sent on Ctrl+Enter or on leaving it
    idle(page)
    expect(title_caption(page)).to_contain_text("ConversationChain")

    sidebar.get_by_role("link", name="Summarize a PDF").click()
    expect(page).to_have_url(re.compile("Summarize"))
    idle(page)
    sidebar.get_by_role("link", name="Chat").click()
    page.get_by_test_id("stChatInputTextArea").wait_for()
    idle(page)
    expect(title_caption(page)).to_contain_text("ConversationChain")
    expect(sidebar.get_by_role("radio", name="ConversationChain")).to_be_checked()
    expect(sidebar.get_by_label("System prompt")).to_have_value(SYSTEM)

    page.reload()  # a new session of the same user
    page.get_by_test_id("stChatInputTextArea").wait_for()
    idle(page)
    expect(title_caption(page)).to_contain_text("ConversationChain")
    expect(sidebar.get_by_label("System prompt")).to_have_value(SYSTEM)


def test_the_first_run_notice_shows_through_the_first_visit_only(
    browser: Browser, fresh_url: str, request: pytest.FixtureRequest
) -> None:
    page = open_page(browser, fresh_url, request)
    expect(notice(page)).to_be_visible()
    expect(notice(page)).to_contain_text("Add a SageMaker endpoint")
    send(page, "Hello!")
    wait_for_answer(page, 1)
    expect(notice(page)).to_be_visible()  # through the first session, until "Got it"
    page.get_by_role("button", name="Got it").click()
    idle(page)
    expect(notice(page)).to_have_count(0)

    again = open_page(browser, fresh_url, request)  # the same user, another time
    idle(again)
    expect(notice(again)).to_have_count(0)
