"""End to end in Chromium: chatting, stopping, the PDF page, conversations that
outlive a reload, Korean, IME input and keyboard-only use."""

import time

import pytest
from playwright.sync_api import Browser, Page, expect
from shared import (
    ARTIFACTS,
    PDFS,
    SCRIPTED,
    bubbles,
    click_when_still,
    idle,
    open_page,
    send,
    wait_for_answer,
)


def test_two_messages_get_streamed_answers(page: Page) -> None:
    """The scripted answer is 17 words, one per 40 ms: it grows on screen for about
    0.7 s, sampled until its speed caption shows that it is complete."""
    send(page, "I live in Seoul, Korea.")
    answer = bubbles(page).nth(1)
    lengths: list[int] = []
    deadline = time.monotonic() + 120
    while not page.get_by_text("first token").count() and time.monotonic() < deadline:
        lengths.append(len(answer.inner_text()) if answer.count() else 0)
        time.sleep(0.02)
    wait_for_answer(page, 1)
    assert len({n for n in lengths if n}) > 2, lengths  # seen growing, not all at once
    text = answer.get_by_test_id("stMarkdownContainer").first
    expect(text).to_have_text(SCRIPTED.format("I live in Seoul, Korea."))

    send(page, "Tell me how to travel the city.")
    wait_for_answer(page, 2)
    expect(bubbles(page)).to_have_count(4)
    expect(bubbles(page).nth(0)).to_contain_text("I live in Seoul, Korea.")


def test_stop_keeps_the_partial_answer_marked_stopped(page: Page) -> None:
    send(page, "Write a very long story about a cat who travels around the world.")
    answer = bubbles(page).nth(1)
    expect(answer).to_contain_text(" ", timeout=60_000)  # some text has streamed
    page.get_by_role("button", name="Stop").click()
    expect(answer.get_by_text("stopped ·")).to_be_visible()
    partial = answer.get_by_test_id("stMarkdownContainer").first.inner_text()
    assert partial

    page.reload()  # a new session reads the conversation back from the store
    expect(bubbles(page).nth(1).get_by_text("stopped ·")).to_be_visible()
    expect(bubbles(page).nth(1).get_by_test_id("stMarkdownContainer").first).to_have_text(partial)


def test_conversation_mode_can_be_switched(page: Page) -> None:
    page.get_by_test_id("stSidebar").get_by_text("ConversationChain").click()
    expect(page.get_by_text("ConversationChain", exact=False).first).to_be_visible()
    send(page, "Hello, who are you?")
    wait_for_answer(page, 1)
    expect(page.get_by_role("main").get_by_test_id("stCaptionContainer").first).to_contain_text(
        "ConversationChain"
    )


def test_a_pdf_is_summarized_on_the_pdf_page(page: Page) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text("Summarize a PDF").click()
    page.locator("input[type=file]").set_input_files(PDFS / "pdflatex-4-pages.pdf")
    expect(page.get_by_text("4 pages ·")).to_be_visible()
    page.get_by_role("button", name="Summarize").click()
    expect(page.get_by_role("button", name="Discuss in chat")).to_be_visible(timeout=240_000)


def test_a_conversation_is_found_after_a_reload_and_can_be_deleted(page: Page, app_url: str) -> None:
    send(page, "Remember the word pineapple.")
    wait_for_answer(page, 1)
    page.goto(app_url)  # a new session, no conversation open
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("button", name="Remember the word pineapple.").click()
    expect(bubbles(page).nth(0)).to_contain_text("Remember the word pineapple.")
    idle(page)
    sidebar.get_by_text("This conversation", exact=True).click()
    click_when_still(sidebar.get_by_text("Yes, delete this conversation"))
    sidebar.get_by_role("button", name="Delete", exact=True).click()
    expect(sidebar.get_by_role("button", name="Remember the word pineapple.")).to_have_count(0)
    expect(bubbles(page)).to_have_count(0)


def test_a_korean_browser_gets_the_korean_page_and_can_switch(
    browser: Browser, app_url: str, request: pytest.FixtureRequest
) -> None:
    page = open_page(browser, app_url, request, locale="ko-KR")
    expect(page.get_by_role("heading", name="SageMaker 채팅")).to_be_visible()
    expect(page.get_by_role("button", name="새 채팅")).to_be_visible()
    expect(page.get_by_test_id("stChatInputTextArea")).to_have_attribute("placeholder", "무엇이든 물어보세요")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "korean-chat-page.png")
    page.get_by_test_id("stSidebar").get_by_text("English").click()
    expect(page.get_by_role("heading", name="SageMaker Chat")).to_be_visible()
    page.get_by_test_id("stSidebarNav").get_by_text("Summarize a PDF").click()  # kept across pages
    expect(page.get_by_text("Drop a PDF here")).to_be_visible()


# Events dispatched to the chat input as a Korean IME makes them, then the box's text
# once the page has handled them (two frames: React has drawn what they changed).
# A chat input that sends empties its box, in the same handler that sends.
KEYDOWN_ENTER = """async (el, composing) => {
    if (composing) el.dispatchEvent(new CompositionEvent('compositionstart', {bubbles: true, data: ''}));
    el.dispatchEvent(new KeyboardEvent('keydown', {
        key: 'Enter', code: 'Enter', keyCode: composing ? 229 : 13, which: composing ? 229 : 13,
        isComposing: composing, bubbles: true, cancelable: true}));
    if (composing) el.dispatchEvent(new CompositionEvent('compositionend', {bubbles: true, data: '요'}));
    await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
    return el.value;
}"""


def test_enter_while_a_hangul_syllable_is_composed_does_not_send(page: Page) -> None:
    """Streamlit's chat input ignores Enter while an IME composes (isComposing,
    streamlit/streamlit#6993).  The composition is made as a Korean IME makes it:
    compositionstart, the text, an Enter keydown flagged isComposing (keyCode
    229), compositionend; then the Enter that sends."""
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("안녕하세요")
    assert box.evaluate(KEYDOWN_ENTER, True) == "안녕하세요"  # the composing Enter sent nothing
    box.press("Enter")
    wait_for_answer(page, 1)
    expect(bubbles(page)).to_have_count(2)  # one question, sent once
    expect(bubbles(page).nth(1)).to_contain_text(SCRIPTED.format("안녕하세요"))


def test_an_enter_that_is_not_composing_sends_so_the_guard_above_is_real(page: Page) -> None:
    """The same keydown without isComposing does send: the test above can fail."""
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("안녕하세요")
    assert box.evaluate(KEYDOWN_ENTER, False) == ""
    expect(bubbles(page)).to_have_count(2, timeout=60_000)


def test_chat_and_sidebar_work_from_the_keyboard_alone(page: Page) -> None:
    def tab_to(predicate: str, limit: int = 80) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(f"(() => {{ const el = document.activeElement; return {predicate}; }})()"):
                return
        raise AssertionError(f"Tab never reached {predicate}")

    tab_to("el.dataset.testid === 'stChatInputTextArea'")
    page.keyboard.type("Hello from the keyboard")
    page.keyboard.press("Enter")
    wait_for_answer(page, 1)
    tab_to("el.tagName === 'BUTTON' && el.textContent.endsWith('New chat')")
    page.keyboard.press("Enter")
    expect(bubbles(page)).to_have_count(0)


UNLABELLED = """() => [...document.querySelectorAll(
    'button, input, textarea, select, a[href], [role=button], [role=radio], [role=slider], [role=combobox]')]
  .filter(el => el.offsetParent !== null || el.getClientRects().length)
  .filter(el => !['radio', 'file'].includes(el.type) || !el.closest('label, [data-testid=stFileUploader]'))
  .filter(el => {
    const labelled = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.title
      || (el.labels && el.labels.length) || el.textContent.trim() || el.getAttribute('placeholder');
    return !labelled;
  })
  .map(el => el.outerHTML.slice(0, 160))"""


def test_every_control_has_a_name(page: Page) -> None:
    send(page, "Hi")
    wait_for_answer(page, 1)
    page.get_by_test_id("stSidebar").get_by_text("This conversation", exact=True).click()
    assert page.evaluate(UNLABELLED) == []
    page.get_by_test_id("stSidebarNav").get_by_text("Summarize a PDF").click()
    page.locator("input[type=file]").set_input_files(PDFS / "pdflatex-4-pages.pdf")
    expect(page.get_by_text("4 pages ·")).to_be_visible()
    assert page.evaluate(UNLABELLED) == []
