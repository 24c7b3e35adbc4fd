"""End to end in Chromium: chatting, stopping, the PDF page, conversations that
outlive a reload, Korean, IME input and keyboard-only use."""

import time

from playwright.sync_api import Page, expect

from bench.servers import ROOT

PDFS = ROOT.parent / "shared" / "pdfs"


def bubbles(page: Page):
    return page.get_by_test_id("stChatMessage")


def send(page: Page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    expect(box).to_be_enabled()
    box.fill(text)
    box.press("Enter")


def wait_for_answer(page: Page, count: int) -> None:
    """Until ``count`` answers are complete (each shows its speed caption)."""
    expect(page.get_by_text("first token")).to_have_count(count, timeout=120_000)


def test_two_messages_get_streamed_answers(page: Page) -> None:
    send(page, "I live in Seoul, Korea.")
    answer = bubbles(page).nth(1)
    expect(answer).not_to_be_empty()
    lengths = []
    for _ in range(20):  # the answer grows while it streams
        lengths.append(len(answer.inner_text()))
        time.sleep(0.05)
    wait_for_answer(page, 1)
    assert len(set(lengths)) > 2, lengths

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
    expect(page.get_by_test_id("stCaptionContainer").first).to_contain_text("ConversationChain")


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
    sidebar.get_by_text("This conversation", exact=True).click()
    sidebar.get_by_text("Yes, delete this conversation").click()
    sidebar.get_by_role("button", name="Delete", exact=True).click()
    expect(sidebar.get_by_role("button", name="Remember the word pineapple.")).to_have_count(0)
    expect(bubbles(page)).to_have_count(0)
