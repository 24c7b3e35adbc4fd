"""Comparing two endpoints in Chromium: one question streams into two columns, the
answer picked continues the conversation.

The app (``streamlit run app.py``) calls the catalog's two JumpStart endpoints
through real boto3 and HTTP; they are served by the local endpoint server, run in
this process so that the test can give its scripted model distinct answers and
read the prompts it was sent (which show the history the app built)."""

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from shared import app_environment, app_process, bubbles, compare, idle, open_page, send

from chat_core.conversations.backends import open_store
from chat_core.conversations.feedback import rated
from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import EndpointServer
from chat_core.models.catalog import load_catalog

LLAMA, FALCON = (load_catalog()[id].label for id in ("llama2-7b-chat", "falcon-7b-instruct"))
HAN, NAKDONG = "Answer one: the Han river.", "Answer two: the Nakdong river."
HELD_AFTER = 3  # words: "Answer one: the"


class Held:
    """The scripted model, except that each answer stops after its first words until
    ``go`` is set: the page is seen mid-way through both answers at once."""

    def __init__(self, model: ScriptedModel) -> None:
        self.model, self.go = model, threading.Event()

    def complete(self, prompt: str, **sampling: object) -> Iterator[str]:
        for number, token in enumerate(self.model.complete(prompt, **sampling)):  # type: ignore[arg-type]
            if number == HELD_AFTER:
                self.go.wait(timeout=60)
            yield token


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Held]]:
    """The endpoint server's URL and its model."""
    model = Held(ScriptedModel(token_ms=40))
    server = EndpointServer(LocalEndpoint(complete=model.complete), port=0, quiet=True).start()
    yield server.url, model
    model.go.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def compare_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the app keeps its stores."""
    return tmp_path_factory.mktemp("compare")


@pytest.fixture(scope="module")
def compare_url(served: tuple[str, Held], compare_folder: Path) -> Iterator[str]:
    environment = {
        **app_environment(compare_folder),
        # boto3 in the app is pointed at the endpoint server; the keys only let botocore sign.
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": served[0],
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }
    with app_process(environment) as (url, _):
        yield url


def saved_ratings(database: Path) -> list[dict]:
    """The ratings in the store, once the click's page run has saved one: the click
    shows at once in the browser, and ``idle`` can look before that run has begun."""
    for _ in range(300):
        if ratings := rated(open_store(f"sqlite://{database}"), "local"):
            return ratings
        time.sleep(0.1)
    return []


def test_two_endpoints_answer_side_by_side_and_the_pick_continues(
    browser: Browser,
    compare_url: str,
    compare_folder: Path,
    served: tuple[str, Held],
    request: pytest.FixtureRequest,
) -> None:
    held = served[1]
    scripted = held.model
    page = open_page(browser, compare_url, request)
    compare(page, LLAMA, FALCON)
    scripted.enqueue(HAN, NAKDONG)
    send(page, "Which river flows through Seoul?")

    answer = bubbles(page).nth(1)
    columns = answer.get_by_test_id("stColumn")
    expect(columns).to_have_count(2)
    expect(columns.nth(0)).to_contain_text(LLAMA)
    expect(columns.nth(1)).to_contain_text(FALCON)
    # Both stream at once: each column shows its first words while both answers are held.
    expect(columns.nth(0)).to_contain_text(re.compile(r"Answer (one|two): the"))
    expect(columns.nth(1)).to_contain_text(re.compile(r"Answer (one|two): the"))
    expect(answer.get_by_text("first token")).to_have_count(0)
    held.go.set()
    expect(answer.get_by_role("button", name="Use this answer")).to_have_count(2, timeout=60_000)
    idle(page)
    for column in (columns.nth(0), columns.nth(1)):
        expect(column.get_by_text("first token")).to_contain_text("tokens/s")
        expect(column.get_by_text("first token")).to_contain_text("prompt tokens")

    rejected = columns.filter(has_text=HAN)  # rated before the pick: feedback is on any answer
    thumbs_down = rejected.get_by_role("radio", name="Thumbs down")
    thumbs_down.click()
    idle(page)
    expect(thumbs_down).to_have_attribute("aria-checked", "true")
    (rating,) = saved_ratings(compare_folder / "chat.db")
    assert HAN in rating["answer"] and rating["rating"] == "down"
    expect(rejected.get_by_role("button", name="Use this answer")).to_be_visible()

    picked = columns.filter(has_text=NAKDONG)
    picked.get_by_role("button", name="Use this answer").click()
    expect(answer.get_by_test_id("stColumn")).to_have_count(0)
    expect(answer).to_contain_text(NAKDONG)
    expect(answer).not_to_contain_text(HAN)
    idle(page)

    page.get_by_test_id("stSidebar").get_by_text("Compare models").click()  # back to one model
    idle(page)
    send(page, "Which sea does it flow into?")
    expect(bubbles(page)).to_have_count(4)
    expect(bubbles(page).nth(3)).to_contain_text("You asked: Which sea does it flow into?", timeout=60_000)
    prompt = scripted.prompts[-1]
    assert NAKDONG in prompt and HAN not in prompt and "Which river flows through Seoul?" in prompt

    page.reload()  # a new session reads the conversation back: the pick is its answer
    expect(bubbles(page)).to_have_count(4)
    expect(bubbles(page).nth(1)).to_contain_text(NAKDONG)
