"""Figure 7: what the chat page adds between pressing Enter and the first answer token
on screen, against the model's own time to its first token.

``streamlit run app.py`` with the scripted model (``LOCAL_MODEL=scripted:MS``),
driven by headless Chromium.  In the page, a keydown listener notes when Enter is
pressed and a MutationObserver when the answer's first word appears; the scripted
model's own first-token time is timed in this process, in turns with the page.
The page's overhead is the difference of the medians.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from bench.results import Figure, Spread, figure
from chat_core.local.scripted import ScriptedModel
from tests.shared import CHROMIUM, CHROMIUM_ARGS, app_process

TOKEN_MS = 20
WATCH = """question => { window.firstToken = new Promise(resolve => {
    const box = document.querySelector('[data-testid=stChatInputTextArea]');
    let pressed = null;
    box.addEventListener('keydown', e => { if (e.key === 'Enter') pressed = performance.now(); },
                         {capture: true, once: true});
    const seen = new MutationObserver(() => {
        const bubbles = document.querySelectorAll('[data-testid=stChatMessage]');
        const last = bubbles[bubbles.length - 1];
        if (pressed !== null && last && last.innerText.includes('You asked:')
            && bubbles[bubbles.length - 2].innerText.includes(question)) {
            seen.disconnect();
            resolve(performance.now() - pressed);
        }
    });
    seen.observe(document.body, {childList: true, subtree: true, characterData: true});
}); }"""


def _page_first_token_ms(page: Page, question: str) -> float:
    box = page.get_by_test_id("stChatInputTextArea")
    box.wait_for()
    page.wait_for_function("() => !document.querySelector('[data-testid=stChatInputTextArea]').disabled")
    box.fill(question)
    page.evaluate(WATCH, question)  # window.firstToken: ms from Enter to the answer's first word
    box.press("Enter")
    elapsed = page.evaluate("window.firstToken")
    page.get_by_text("first token").nth(0).wait_for(timeout=60_000)
    page.get_by_role("button", name="New chat").click()  # each question on an empty page
    page.get_by_test_id("stChatMessage").first.wait_for(state="detached")
    return float(elapsed)


def _model_first_token_ms() -> float:
    started = time.perf_counter()
    next(ScriptedModel(TOKEN_MS).complete("<|im_start|>user\nHi<|im_end|>\n", max_new_tokens=8))
    return (time.perf_counter() - started) * 1000


def run(quick: bool, out: Path) -> list[Figure]:
    questions = 4 if quick else 12
    page_ms, model_ms = [], []
    with tempfile.TemporaryDirectory() as folder:
        environment = {"LOCAL_MODEL": f"scripted:{TOKEN_MS}", "CHAT_STORE": f"sqlite://{folder}/chat.db"}
        with app_process(environment) as (url, _), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(url)
            _page_first_token_ms(page, "Warm up.")  # the first run imports and loads what it needs
            for number in range(questions):
                page_ms.append(_page_first_token_ms(page, f"Question number {number}?"))
                model_ms.append(_model_first_token_ms())
            browser.close()
    ours, model = Spread(tuple(page_ms)), Spread(tuple(model_ms))
    return [
        figure(
            "Page overhead, Enter to first answer token on screen (Chromium, scripted model)",
            Spread(tuple(p - model.median for p in page_ms)),
            "ms",
            "scripted model's own first token",
            model,
            ratio=ours.median / model.median,
            ratio_means="Enter to first token on screen / model's first token",
            target="<= 100",
            target_on_value=True,
            note=f"Enter to first token on screen, median: {ours.median:.0f} ms",
        )
    ]
