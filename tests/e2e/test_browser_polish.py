"""What a user sees of the page's finish in Chromium: the theme follows the browser's
light or dark preference, Copy puts an answer on the clipboard in one click, the Edit
question and Comment boxes close once their action is done, and an answer streaming
below the screen is scrolled into view."""

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect
from shared import SCRIPTED, bubbles, click_when_still, idle, open_page, send, wait_for_answer


def opened(browser: Browser, app_url: str, request: pytest.FixtureRequest, **options: object) -> Page:
    """A new browser session on the app that may use the clipboard."""
    return open_page(browser, app_url, request, permissions=["clipboard-read", "clipboard-write"], **options)


def luminance(css_color: str) -> float:
    """0 (black) to 1 (white), from ``rgb(r, g, b)``."""
    red, green, blue = (int(part) for part in css_color[css_color.index("(") + 1 : -1].split(",")[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_theme_follows_the_browsers_preference(
    scheme: str, browser: Browser, app_url: str, request: pytest.FixtureRequest
) -> None:
    page = opened(browser, app_url, request, color_scheme=scheme)
    send(page, "Which theme is this?")
    wait_for_answer(page, 1)
    app = page.get_by_test_id("stApp")
    background = luminance(app.evaluate("e => getComputedStyle(e).backgroundColor"))
    text = luminance(bubbles(page).nth(1).get_by_text("You asked").evaluate("e => getComputedStyle(e).color"))
    if scheme == "dark":
        assert background < 0.2 and text > 0.7, (background, text)
    else:
        assert background > 0.9 and text < 0.3, (background, text)


def test_copy_puts_the_answer_on_the_clipboard_in_one_click(
    browser: Browser, app_url: str, request: pytest.FixtureRequest
) -> None:
    page = opened(browser, app_url, request)
    question = "What does one click copy?"
    send(page, question)
    wait_for_answer(page, 1)
    bubbles(page).nth(1).get_by_role("button", name="Copy").click()
    expect(bubbles(page).nth(1).get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == SCRIPTED.format(question)


def test_the_edit_question_and_comment_boxes_close_when_done(
    browser: Browser, app_url: str, request: pytest.FixtureRequest
) -> None:
    page = opened(browser, app_url, request)
    send(page, "A question to edit")
    wait_for_answer(page, 1)
    answer = bubbles(page).nth(1)
    answer.get_by_role("button").filter(has_text="Comment").click()
    idle(page)  # opening it reruns the page (its open state is tracked)
    box = page.get_by_label("What was good or bad about this answer?")
    box.fill("Clear enough.")
    page.get_by_role("button", name="Save comment").click()
    idle(page)
    expect(box).to_be_hidden()
    expect(page.get_by_text("Feedback saved")).to_be_visible()  # the toast

    answer.get_by_role("button").filter(has_text="Edit question").click()
    idle(page)
    edited = page.get_by_label("Question", exact=True)
    edited.fill("An edited question")
    page.get_by_role("button", name="Send edited question").click()
    expect(bubbles(page).nth(1)).to_contain_text(SCRIPTED.format("An edited question"), timeout=120_000)
    idle(page)
    expect(page.get_by_role("button", name="Send edited question")).to_be_hidden()


def test_an_answer_streaming_below_the_screen_is_scrolled_into_view(
    browser: Browser, app_url: str, request: pytest.FixtureRequest
) -> None:
    page = opened(browser, app_url, request, viewport={"width": 1280, "height": 600})
    for number in range(3):
        send(page, f"Question {number} to fill the page")
        wait_for_answer(page, number + 1)
    page.mouse.move(640, 300)
    page.mouse.wheel(0, -20_000)  # the user reads the first answer
    expect(bubbles(page).first).to_be_in_viewport()
    # Echoed back at 40 ms a word, this question's answer streams for about 10 s.
    long_question = " ".join(["Tell me more about this, word by word."] * 30)
    send(page, long_question)
    streaming = bubbles(page).nth(7)
    expect(streaming.get_by_text("You asked")).to_be_in_viewport(timeout=60_000)
    expect(page.get_by_role("button", name="Stop")).to_be_visible()  # still streaming when seen
    wait_for_answer(page, 4)
    expect(bubbles(page).nth(7).get_by_text("first token")).to_be_in_viewport()


def test_an_export_is_named_by_its_title_and_date_and_confirmed(
    browser: Browser, app_url: str, request: pytest.FixtureRequest
) -> None:
    page = opened(browser, app_url, request)
    days = {datetime.now(UTC).strftime("%Y-%m-%d")}  # the conversation's date, even at midnight
    send(page, "Plans: Seoul/Busan?")  # the title, with characters no file name should hold
    wait_for_answer(page, 1)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("This conversation", exact=True).click()
    with page.expect_download() as download:
        click_when_still(sidebar.get_by_role("button", name="Export Markdown"))
    days.add(datetime.now(UTC).strftime("%Y-%m-%d"))
    assert download.value.suggested_filename in {f"Plans-Seoul-Busan-{day}.md" for day in days}
    assert download.value.path().read_text(encoding="utf-8").startswith("# Plans: Seoul/Busan?")
    expect(page.get_by_text("Exported Plans-Seoul-Busan-")).to_be_visible()
