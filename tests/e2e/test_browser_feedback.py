"""Feedback end to end in Chromium: a thumbs down with a comment on a scripted
answer is in the ratings export the sidebar downloads."""

import json

from playwright.sync_api import Page, expect
from shared import SCRIPTED, bubbles, click_when_still, idle, send, wait_for_answer

QUESTION = "Where should I eat near Gwangjang Market?"


def test_a_thumbs_down_with_a_comment_is_in_the_ratings_export(page: Page) -> None:
    send(page, QUESTION)
    wait_for_answer(page, 1)
    answer = bubbles(page).nth(1)
    thumbs_down = answer.get_by_role("radio", name="Thumbs down")  # st.feedback's radio group
    thumbs_down.click()
    expect(thumbs_down).to_have_attribute("aria-checked", "true")
    idle(page)
    answer.get_by_role("button").filter(has_text="Comment").click()
    idle(page)  # opening it reruns the page (its open state is tracked)
    page.get_by_label("What was good or bad about this answer?").fill("Too touristy, and no prices.")
    page.get_by_role("button", name="Save comment").click()
    idle(page)

    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Feedback and comparisons", exact=True).click()
    export = sidebar.get_by_role("button", name="Export ratings (JSONL)")
    with page.expect_download() as download:
        click_when_still(export)
    assert download.value.suggested_filename == "ratings.jsonl"
    lines = [json.loads(line) for line in download.value.path().read_text(encoding="utf-8").splitlines()]
    # The app process is shared with the other browser tests: this test's line is the one for its question.
    [mine] = [line for line in lines if line["messages"][-1] == {"role": "user", "content": QUESTION}]
    assert mine["rating"] == "down"
    assert mine["comment"] == "Too touristy, and no prices."
    assert mine["answer"] == SCRIPTED.format(QUESTION)
    assert mine["model"] == "local-smollm2"

    page.reload()  # a new session draws the feedback from the store
    reopened = bubbles(page).nth(1).get_by_role("radio", name="Thumbs down")
    expect(reopened).to_have_attribute("aria-checked", "true")
