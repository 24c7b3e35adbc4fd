"""Screenshots of the app, to look at both themes and both widths after a change: the chat
page, the PDF page, a comparison and the Usage page, in light and dark, 1280 and 390 px
wide, into docs/ as ``<page>-<theme>-<width>.png``.

    .venv/bin/python -m docs.screenshots

The app runs as ``streamlit run app.py`` on the scripted model (exact answers, quickly),
its stores in a temporary folder; the comparison's two JumpStart endpoints are served by
the local endpoint server on 127.0.0.1 (real boto3, no AWS account).  The browser is
Debian's chromium, driven by Playwright, whose ``color_scheme`` is the preference the
app's theme follows."""

import tempfile
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import EndpointServer
from chat_core.models.catalog import load_catalog
from tests.shared import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PDFS,
    app_environment,
    app_process,
    compare,
    idle,
    send,
    wait_for_answer,
)

DOCS = Path(__file__).resolve().parent
WIDTHS = {1280: 900, 390: 844}  # width: height, a laptop and a phone
THEMES = ("light", "dark")
LLAMA, FALCON = (load_catalog()[id].label for id in ("llama2-7b-chat", "falcon-7b-instruct"))
COMPARED = (
    "The Han river flows through Seoul, from east to west, on its way to the Yellow Sea.",
    "Seoul lies on the Han river; the Nakdong is the longest river in South Korea.",
)


def shoot(page: Page, name: str, theme: str) -> None:
    """The page as it is, at each width: <name>-<theme>-<width>.png."""
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        idle(page)
        page.wait_for_timeout(1000)  # Streamlit lays the page out again for the new width
        page.screenshot(path=DOCS / f"{name}-{theme}-{width}.png")
        print(f"docs/{name}-{theme}-{width}.png")
    page.set_viewport_size({"width": 1280, "height": 900})


def opened(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_test_id("stChatInputTextArea").wait_for()  # the first run may take seconds


def chat(page: Page, url: str) -> None:
    opened(page, url)
    send(page, "I live in Seoul, Korea.")
    wait_for_answer(page, 1)
    send(page, "Tell me how to travel the city.")
    wait_for_answer(page, 2)


def comparison(page: Page, url: str, model: ScriptedModel) -> None:
    opened(page, url)
    idle(page)  # a click on a page being redrawn can be lost
    compare(page, LLAMA, FALCON)
    model.enqueue(*COMPARED)
    send(page, "Which river flows through Seoul?")
    expect(page.get_by_role("button", name="Use this answer")).to_have_count(2, timeout=120_000)


def pdf(page: Page, url: str) -> None:
    page.goto(f"{url}/Summarize_a_PDF")
    page.locator("input[type=file]").set_input_files(PDFS / "pdflatex-4-pages.pdf")
    expect(page.get_by_text("4 pages")).to_be_visible(timeout=120_000)
    idle(page)
    summarize = page.get_by_role("button", name="Summarize", exact=True)
    summarize.click()
    expect(page.get_by_role("button", name="Discuss in chat")).to_be_visible(timeout=120_000)


def usage(page: Page, url: str) -> None:
    page.goto(f"{url}/usage")
    page.get_by_role("heading", name="Usage").first.wait_for()
    idle(page)
    for table in page.get_by_test_id("stDataFrame").all():  # drawn on a canvas, after the run
        table.locator("canvas").first.wait_for()


def app(folder: Path, endpoints: str) -> dict[str, str]:
    """The app's settings: its stores in ``folder``, the scripted model answering quickly,
    boto3 pointed at the endpoint server (the keys only let botocore sign)."""
    return {
        **app_environment(folder),
        "LOCAL_MODEL": "scripted:10",
        "ACCOUNT_ENDPOINTS": "false",  # the endpoint server has no SageMaker control plane to list
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoints,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }


def main() -> None:
    model = ScriptedModel(token_ms=10)
    endpoints = EndpointServer(LocalEndpoint(complete=model.complete), port=0, quiet=True).start()
    pages: dict[str, Callable[[Page, str], None]] = {
        "chat": chat,
        "comparison": lambda page, url: comparison(page, url, model),
        "pdf": pdf,
        "usage": usage,
    }
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for theme in THEMES:  # each on a new app and stores: nothing kept from the other
                with (
                    tempfile.TemporaryDirectory() as folder,
                    app_process(app(Path(folder), endpoints.url)) as (
                        url,
                        _,
                    ),
                ):
                    context = browser.new_context(locale="en-US", color_scheme=theme)
                    page = context.new_page()
                    page.set_default_timeout(60_000)
                    for name, visit in pages.items():
                        page.set_viewport_size({"width": 1280, "height": 900})
                        visit(page, url)
                        shoot(page, name, theme)
                    context.close()
            browser.close()
    finally:
        endpoints.shutdown()
        endpoints.server_close()


if __name__ == "__main__":
    main()
