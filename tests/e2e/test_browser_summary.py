"""The PDF page in Chromium: a summary followed part by part and stopped with the page's
own Stop button; the file and summary found again after a reload; "Discuss in chat" and
"Ask this document" land on the chat page's URL.

The Stop test runs an app of its own whose scripted model writes a word per 150 ms, so
that each of GeoTopo's parts (about ten, in the bundled model's window) takes seconds."""

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, Page, expect
from shared import PDFS, app_environment, app_process, open_page


@pytest.fixture(scope="module")
def slow_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    environment = app_environment(tmp_path_factory.mktemp("slow-app")) | {"LOCAL_MODEL": "scripted:150"}
    with app_process(environment) as (url, _):
        yield url


def open_pdf(page: Page, path: Path, facts: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text("Summarize a PDF").click()
    page.locator("input[type=file]").set_input_files(path)
    expect(page.get_by_text(facts)).to_be_visible(timeout=120_000)


def on_the_chat_page(page: Page) -> dict[str, list[str]]:
    """The URL's query once it is the chat page's (the default page: the site's root)."""
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/(\?.*)?$"), timeout=120_000)
    return parse_qs(urlparse(page.url).query)


def test_a_summary_moves_part_by_part_and_stop_ends_it_keeping_the_parts_done(
    browser: Browser, slow_app: str, request: pytest.FixtureRequest
) -> None:
    page = open_page(browser, slow_app, request)
    open_pdf(page, PDFS / "GeoTopo-komprimiert.pdf", "117 pages ·")
    page.get_by_role("button", name="Summarize").click()
    bar = page.get_by_test_id("stProgress")
    expect(bar).to_contain_text(re.compile(r"Part 1 of \d+"))
    expect(bar).to_contain_text(re.compile(r"Part 2 of \d+, about .* left"), timeout=60_000)
    parts = int(re.search(r"of (\d+)", bar.inner_text())[1])
    assert parts >= 5

    page.get_by_role("button", name="Stop").click()
    stopped = page.get_by_text(re.compile(r"Stopped after \d+ of \d+ parts"))
    expect(stopped).to_be_visible()
    done = int(re.search(r"after (\d+)", stopped.inner_text())[1])
    assert 1 <= done < parts
    expect(page.get_by_text(re.compile(r"^Part \d+\."))).to_have_count(done)
    expect(bar).to_have_count(0)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)

    page.reload()  # a new session: the file is found again by the digest in the URL
    expect(page.get_by_text("117 pages ·")).to_be_visible()
    expect(page.get_by_role("button", name="Summarize")).to_be_visible()


def test_the_summary_survives_a_reload_and_discuss_in_chat_lands_on_the_chat_page(page: Page) -> None:
    open_pdf(page, PDFS / "minimal-document.pdf", "1 page ·")
    page.get_by_role("button", name="Summarize").click()
    discuss = page.get_by_role("button", name="Discuss in chat")
    expect(discuss).to_be_visible(timeout=120_000)
    summary = page.get_by_test_id("stMarkdownContainer").filter(has_text="You asked:").last.inner_text()
    assert "d" in parse_qs(urlparse(page.url).query)

    page.reload()
    expect(page.get_by_text("Summarized before")).to_be_visible()
    expect(page.get_by_text(summary)).to_be_visible()
    discuss.click()
    query = on_the_chat_page(page)
    assert "c" in query
    expect(page.get_by_test_id("stChatMessage").nth(1)).to_contain_text(summary)


def test_ask_this_document_lands_on_the_chat_page(page: Page) -> None:
    open_pdf(page, PDFS / "minimal-document.pdf", "1 page ·")
    page.get_by_role("button", name="Ask this document").click()
    on_the_chat_page(page)
    expect(page.get_by_role("main").get_by_text("minimal-document.pdf")).to_be_visible(timeout=120_000)
