"""Regenerate, edit and copy on the chat page, and the page in Korean: AppTest on
the real bundled model and a real SQLite store.  Stopping mid-answer needs a
click during a run, which AppTest cannot make, and AppTest runs only the page
after its first run, not app.py's language switch: tests/e2e/ does both in Chromium."""

import html
import re

from chat_page import messages, send, start

from chat_core.conversations.backends import open_store
from chat_core.local.scripted import ScriptedModel

HANGUL = re.compile("[\uac00-\ud7a3]")


def test_regenerate_answers_the_last_question_again_without_saving_it_twice() -> None:
    at = start()
    send(at, "Name a color.")
    at.button(key="regenerate").click().run()

    assert not at.exception
    assert [role for role, _ in messages(at)] == ["user", "assistant"]
    conversation = at.session_state["chat"].conversation_id
    saved = open_store().messages("local", conversation)
    assert [m.role for m in saved] == ["user", "assistant", "assistant"]  # the latest answer counts
    assert saved[1].answers == saved[2].answers == saved[0].key


def test_an_edited_question_replaces_the_last_turn(scripted: ScriptedModel) -> None:
    at = start()
    send(at, "I live in Busan.")
    send(at, "What is the capitl of France?")
    at.text_area(key="edited-question").input("What is the capital of France?")
    at.button(key="send-edited").click().run()

    questions = [text for role, text in messages(at) if role == "user"]
    assert questions == ["I live in Busan.", "What is the capital of France?"]
    assert "capitl" not in scripted.prompts[-1] and "Busan" in scripted.prompts[-1]


def test_every_answer_can_be_copied_as_its_exact_text(scripted: ScriptedModel) -> None:
    """The Copy button's text, as the browser reads it (clicked in tests/e2e/test_browser_polish.py)."""
    scripted.enqueue('Hi! **Bold**, `code` and "<b>quotes</b>".')
    at = start()
    send(at, "Say hi.")
    copied = [
        html.unescape(text)
        for element in at.get("html")
        for text in re.findall(r'data-text="([^"]*)"', element.proto.body)
    ]
    assert copied == ['Hi! **Bold**, `code` and "<b>quotes</b>".']


def test_the_page_in_korean_has_no_english_label_left() -> None:
    at = start()
    send(at, "Hello!")
    at.session_state["language"] = "ko"  # the sidebar switch's key (switched in tests/e2e/)
    at.run()

    assert at.title[0].value == "SageMaker 채팅"
    labels = [b.label for b in at.button if not (b.key or "").startswith("open-")]
    labels += [w.label for w in (*at.sidebar.slider, *at.sidebar.selectbox, *at.text_area, *at.expander)]
    assert labels and all(HANGUL.search(label) for label in labels if label not in ("Top p",)), labels
    assert at.chat_input[0].placeholder == "무엇이든 물어보세요"
    assert "토큰" in at.chat_message[1].caption[1].value  # under the model's name


def test_errors_are_shown_in_korean_on_the_korean_page() -> None:
    at = start()
    at.session_state["language"] = "ko"
    at.sidebar.selectbox(key="model").set_value("llama2-7b-chat").run()
    send(at, "Are you Llama?")
    assert "리전이 설정되어 있지 않습니다" in at.error[0].value
    assert next(b for b in at.button if b.label == "다시 보내기")
