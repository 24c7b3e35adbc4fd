"""A question to a model that sleeps, in Chromium: the answer's place says the model is
waking up, with the seconds going up, and the answer streams once it has woken; a
model that does not wake within WAKE_MAX_SECONDS ends the wait with its message and
Resend.  The endpoint server, in this process, serves an endpoint with two inference
components and no copies (real boto3 in the app: our server answers the runtime and the
control plane calls waking makes, which moto's SageMaker does not have); nothing
wakes them but the test, which asks for a copy (as the team's autoscaling would) once
the page has shown the seconds going up."""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from shared import app_environment, app_process, bubbles, idle, open_page, send

from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import EndpointServer

ENDPOINT = "team-llm"
WAKE_S = 1  # the server's time from a copy asked for to the copy serving
WAKE_MAX_S = 12  # the app's bound on a wait


@pytest.fixture(scope="module")
def sleeping_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, LocalEndpoint]]:
    folder = tmp_path_factory.mktemp("wake")
    endpoint = LocalEndpoint(
        {},
        components={ENDPOINT: {"chat": "llama2-chat", "idle": "llama2-chat"}},
        asleep=[(ENDPOINT, "chat"), (ENDPOINT, "idle")],
        wake_s=WAKE_S,
        complete=ScriptedModel(token_ms=40).complete,
    )
    server = EndpointServer(endpoint, port=0, quiet=True).start()
    environment = app_environment(folder) | {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": server.url,
        "AWS_ENDPOINT_URL_SAGEMAKER": server.url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "ACCOUNT_ENDPOINTS": "false",  # the model is added in the sidebar, as a user does
        "WAKE_MAX_SECONDS": str(WAKE_MAX_S),
    }
    try:
        with app_process(environment) as (url, _):
            yield url, endpoint
    finally:
        server.shutdown()
        server.server_close()


def ask(page: Page, component: str, question: str) -> Locator:
    """Add the endpoint's ``component`` in the sidebar's form, in the payload format it
    offers first (Llama 2 chat's), which picks it, and ask it ``question``; returns
    the answer's bubble."""
    sidebar = page.get_by_test_id("stSidebar")
    idle(page)  # a click or a fill while the first run redraws the sidebar can be lost
    sidebar.get_by_text("Add a SageMaker endpoint").click()
    for name, value in (("Endpoint name", ENDPOINT), ("Inference component", component)):
        box = sidebar.get_by_role("textbox", name=name)
        box.fill(value)
        expect(box).to_have_value(value)
    sidebar.get_by_role("button", name="Add endpoint").click()
    idle(page)
    expect(sidebar.get_by_role("combobox", name="Model", exact=True)).to_have_value(
        f"{ENDPOINT}/{component} (llama2-chat)", timeout=30_000
    )
    send(page, question)
    return bubbles(page).nth(1)


def test_a_sleeping_model_says_it_wakes_and_its_answer_streams_after(
    browser: Browser, sleeping_app: tuple[str, LocalEndpoint], request: pytest.FixtureRequest
) -> None:
    url, endpoint = sleeping_app
    answer = ask(open_page(browser, url, request), "chat", "Which river flows through Seoul?")
    waking = f"{ENDPOINT}/chat (llama2-chat) is waking up: it had no copy running · "
    shown = re.compile(re.escape(waking) + r"(\d+) s · usually a few minutes")
    expect(answer).to_contain_text(shown, timeout=30_000)
    first = shown.search(answer.inner_text())
    assert first is not None
    expect(answer).not_to_contain_text(f"{waking}{first.group(1)} s ·", timeout=30_000)
    expect(answer).to_contain_text(shown)  # a later second: it counts up
    endpoint.set_copies(ENDPOINT, "chat", 1)
    expect(answer).to_contain_text("Which river flows through Seoul?", timeout=30_000)
    expect(answer).to_contain_text("at a set pace.", timeout=30_000)  # the answer's last words
    expect(answer.get_by_text("is waking up")).to_have_count(0)


def test_a_model_that_does_not_wake_ends_the_wait_with_its_message_and_resend(
    browser: Browser, sleeping_app: tuple[str, LocalEndpoint], request: pytest.FixtureRequest
) -> None:
    page = open_page(browser, sleeping_app[0], request)
    answer = ask(page, "idle", "Anyone there?")
    expect(answer).to_contain_text(f"{ENDPOINT}/idle (llama2-chat) is waking up", timeout=30_000)
    expect(page.get_by_text(f"'{ENDPOINT}/idle' is still not ready after {WAKE_MAX_S} s")).to_be_visible(
        timeout=WAKE_MAX_S * 1000 + 30_000
    )
    expect(page.get_by_role("button", name="Resend")).to_be_visible()
