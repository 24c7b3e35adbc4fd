"""Waiting for an answer in Chromium: the wait is explained in the answer's place,
and in each compared column, its seconds going up, until the first words come; the
questions ahead of one on the bundled model are counted as they go; a Stop then
leaves no error line in the app's log.  An app of its own, whose scripted
model takes 3 s a word, and whose output the test reads; the catalog's JumpStart
endpoints served as slowly by the endpoint server, in this process."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from shared import app_environment, app_process, bubbles, compare, open_page, send

from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import EndpointServer
from chat_core.models.catalog import LOCAL_MODEL, load_catalog
from chat_core.retrieval.citations import UNVERIFIED

FALCON = load_catalog()["falcon-7b-instruct"]


@pytest.fixture(scope="module")
def slow_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app's URL and the file its log goes to."""
    folder = tmp_path_factory.mktemp("waits")
    server = EndpointServer(LocalEndpoint(complete=ScriptedModel(token_ms=3000).complete), port=0, quiet=True)
    server.start()
    environment = app_environment(folder) | {
        "LOCAL_MODEL": "scripted:3000",
        # boto3 in the app is pointed at the endpoint server; the keys only let botocore sign.
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": server.url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }
    try:
        with app_process(environment, log=folder / "app.log") as (url, _):
            yield url, folder / "app.log"
    finally:
        server.shutdown()
        server.server_close()


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
    # At the scripted model's next word: 3 s at most, on an idle machine.
    expect(answer.get_by_text("stopped ·")).to_be_visible(timeout=30_000)
    # The model's thread has stopped by now: the stop joins it before the page is drawn.
    assert "Error in" not in log.read_text(errors="replace")


def test_the_header_leads_the_answer_and_an_invented_citation_is_marked_as_it_streams(
    browser: Browser, slow_app: tuple[str, Path], request: pytest.FixtureRequest
) -> None:
    """While the answer waits, the model's name heads its bubble, above the wait, as it
    does once the answer is drawn again.  The scripted answer repeats the question, so
    it cites a page of a document it was never given: marked unverified while the
    answer still streams, not only once it has ended."""
    page = open_page(browser, slow_app[0], request)
    send(page, "[seoul.pdf p. 2] Which river flows through Seoul?")
    answer = bubbles(page).nth(1)
    expect(answer).to_contain_text("The model is reading the question · 1 s", timeout=30_000)
    # One look at all of the bubble's captions (the wait is gone at the first word).
    captions = answer.get_by_test_id("stCaptionContainer").all_inner_texts()
    assert captions[:1] == [LOCAL_MODEL.label] and "reading the question" in " ".join(captions), captions
    expect(answer).to_contain_text(UNVERIFIED.en, timeout=30_000)  # at its 5th word, of 18
    expect(page.get_by_role("button", name="Stop")).to_be_visible()  # still streaming
    page.get_by_role("button", name="Stop").click()
    expect(answer.get_by_text("stopped ·")).to_be_visible(timeout=30_000)


def test_a_question_waiting_its_turn_says_how_many_go_first_as_they_go(
    browser: Browser, slow_app: tuple[str, Path], request: pytest.FixtureRequest
) -> None:
    """Three sessions ask the bundled model, one after another: the second and third
    say how many questions go before theirs, and the third's count goes down once the
    first is stopped.  Each is stopped in the end, so the model is free for the next test."""
    url = slow_app[0]
    first, second, third = (open_page(browser, url, request) for _ in range(3))
    send(first, "The first question?")
    expect(bubbles(first).nth(1)).to_contain_text("You asked:", timeout=30_000)  # it has the model
    send(second, "The second question?")
    expect(bubbles(second).nth(1)).to_contain_text("1 question ahead of yours", timeout=30_000)
    send(third, "The third question?")
    waiting = bubbles(third).nth(1)
    expect(waiting).to_contain_text("2 questions ahead of yours", timeout=30_000)
    first.get_by_role("button", name="Stop").click()
    expect(waiting).to_contain_text("1 question ahead of yours", timeout=30_000)
    for page in (third, second):
        page.get_by_role("button", name="Stop").click()
    for page in (first, second, third):
        expect(page.get_by_role("button", name="Stop")).to_have_count(0, timeout=30_000)


# Last: the comparison it turns on is the user's choice from then on.
def test_each_compared_column_says_what_it_waits_for(
    browser: Browser, slow_app: tuple[str, Path], request: pytest.FixtureRequest
) -> None:
    page = open_page(browser, slow_app[0], request)
    compare(page, FALCON.label, LOCAL_MODEL.label)
    send(page, "Which river flows through Seoul?")
    columns = bubbles(page).nth(1).get_by_test_id("stColumn")
    expect(columns).to_have_count(2)
    expect(columns.nth(0)).to_contain_text(
        f"Waiting for the endpoint {FALCON.endpoint_name} · 1 s", timeout=30_000
    )
    expect(columns.nth(0)).to_contain_text(f"Waiting for the endpoint {FALCON.endpoint_name} · 2 s")
    expect(columns.nth(1)).to_contain_text("The model is reading the question · 2 s")
    expect(columns.nth(1)).to_contain_text("You asked:", timeout=30_000)
    expect(columns.nth(1).get_by_text(re.compile("reading the question"))).to_have_count(0)
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_role("button", name="Use this answer")).to_have_count(2, timeout=30_000)
