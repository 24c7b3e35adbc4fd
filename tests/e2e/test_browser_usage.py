"""The Usage page in Chromium at a laptop's width (1280 px) and a phone's (390 px):
every table fits, no header or cell is cut, empty cells read "-", and the tokens
and questions charts are drawn.  The store is seeded with answers, a summary and an
indexing before the app starts; the JumpStart endpoint is not in any account here,
so its cost row has no instance type or price (the empty cells and the note) and
there is no cost to chart (test_usage_page.py charts one)."""

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from shared import ARTIFACTS, app_environment, app_process, idle

from chat_core.conversations.backends import open_store
from chat_core.conversations.store import Store, next_key
from chat_core.usage.records import Usage

LLAMA = "jumpstart-dft-meta-textgeneration-llama-2-7b-f"
WIDTHS = (1280, 390)

# Each table and cell whose content is wider than its box (cut, or scrolled sideways);
# each chart with nothing drawn; each cell that reads None or is empty.
PROBLEMS = """() => {
  const cut = (el) => el.scrollWidth > el.clientWidth + 1;
  const tables = [...document.querySelectorAll('[data-testid="stTable"]')];
  const cells = tables.flatMap((t) => [...t.querySelectorAll("th, td")]);
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  return {
    tables: tables.length,
    page: cut(document.scrollingElement) ? [document.scrollingElement.scrollWidth] : [],
    wide: tables.flatMap((t) => [t, ...t.querySelectorAll("table")])
      .filter((t) => cut(t) || t.getBoundingClientRect().right > window.innerWidth)
      .map((t) => t.innerText.slice(0, 20) + ": " + t.getBoundingClientRect().right),
    cut: cells.filter(cut).map((c) => c.innerText),
    empty: cells.filter((c) => ["", "None", "nan"].includes(c.innerText.trim())).map((c) => c.id),
    charts: charts.filter((c) => {
      const box = c.querySelector("canvas, svg")?.getBoundingClientRect();
      return box && box.width > 100 && box.height > 50;
    }).length,
  };
}"""


def answered(store: Store, endpoint: str, tokens: int, seconds: float) -> None:
    conversation = store.create("local", "Hello", "m", "PromptTemplate").id
    question = store.add_question("local", conversation, "Hello?")
    stats = {"tokens": tokens, "input_tokens": 2 * tokens, "seconds": seconds}
    store.add_answer(
        "local", conversation, question, "Hi.", stats | {"model": endpoint, "endpoint": endpoint}
    )


@pytest.fixture(scope="module")
def usage_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("usage")
    environment = app_environment(folder)
    store = open_store(environment["CHAT_STORE"])
    answered(store, LLAMA, 1234, 61.5)
    answered(store, "local-smollm2", 7, 1.0)
    summary = Usage("local", next_key(), time.time(), LLAMA, LLAMA, 9000, 400, 90.0, kind="summary", calls=3)
    store.record_usage(summary)
    indexing = Usage("local", next_key(), time.time(), "local-e5-small", "local-e5-small", 0, 0, 4.0)
    store.record_usage(replace(indexing, kind="indexing", pages=4, passages=11))
    with app_process(environment) as (url, _):
        yield url


@pytest.mark.parametrize("width", WIDTHS)
def test_the_usage_page_fits_and_draws_its_charts(browser: Browser, usage_url: str, width: int) -> None:
    context = browser.new_context(locale="en-US", viewport={"width": width, "height": 900})
    page: Page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{usage_url}/usage")
        page.get_by_text("SageMaker bills each instance").wait_for()
        idle(page)
        page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg').nth(
            1
        ).wait_for()
        page.locator("table").nth(2).wait_for()
        found = page.evaluate(PROBLEMS)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"usage-{width}.png", full_page=True)
        page.locator("table").first.screenshot(path=ARTIFACTS / f"usage-{width}-table.png")
    finally:
        context.close()
    assert found["tables"] >= 2, found  # per model, and the cost over the period
    assert found["page"] == [] and found["wide"] == [] and found["cut"] == [], found
    assert found["empty"] == [] and found["charts"] == 2, found
