"""Thumbs and comments on answers in the chat page (AppTest, the scripted model, a
SQLite file): saved at once, shown again when the conversation is reopened, and
nothing typed is lost when the store fails."""

import os
import sqlite3

from chat_page import send, start
from streamlit.testing.v1 import AppTest

from chat_core.conversations.backends import open_store


def saved_feedback(at: AppTest):
    chat = at.session_state["chat"]
    return open_store().messages("local", chat.conversation_id)[1].feedback


def test_thumbs_and_a_comment_are_saved_and_shown_again_on_reopening() -> None:
    at = start()
    send(at, "Where should I eat in Seoul?")
    key = at.session_state["chat"].exchanges[0].answer_key
    assert at.feedback(key=f"thumbs-{key}").value is None

    at.feedback(key=f"thumbs-{key}").set_value(0).run()  # thumbs down
    assert saved_feedback(at).rating == "down" and saved_feedback(at).comment == ""
    at.text_area(key=f"comment-{key}").input("Too touristy.")
    at.button(key=f"save-comment-{key}").click().run()
    assert (saved_feedback(at).rating, saved_feedback(at).comment) == ("down", "Too touristy.")
    at.feedback(key=f"thumbs-{key}").set_value(1).run()  # changed to thumbs up: the comment stays
    assert (saved_feedback(at).rating, saved_feedback(at).comment) == ("up", "Too touristy.")

    again = start()  # a new browser session opens the conversation
    next(b for b in again.sidebar.button if b.label == "Where should I eat in Seoul?").click().run()
    assert again.feedback(key=f"thumbs-{key}").value == 1
    assert again.text_area(key=f"comment-{key}").value == "Too touristy."
    assert not again.exception


def test_a_store_that_fails_to_save_feedback_says_so_and_keeps_what_was_typed() -> None:
    """The SQLite file refuses the update (a trigger the test adds, a real SQLite error)."""
    at = start()
    send(at, "Where should I eat in Seoul?")
    key = at.session_state["chat"].exchanges[0].answer_key
    path = os.environ["CHAT_STORE"].removeprefix("sqlite://")
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE OF rating ON messages "
            "BEGIN SELECT RAISE(FAIL, 'refused'); END"
        )
    db.close()

    at.feedback(key=f"thumbs-{key}").set_value(0).run()
    at.text_area(key=f"comment-{key}").input("Too touristy.")
    at.button(key=f"save-comment-{key}").click().run()
    assert "Could not save to the conversation store" in at.error[0].value
    assert at.feedback(key=f"thumbs-{key}").value == 0
    assert at.text_area(key=f"comment-{key}").value == "Too touristy."
    assert saved_feedback(at) is None

    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER refuse")
    db.close()
    at.button(key=f"save-comment-{key}").click().run()  # saved again, as typed
    assert not at.error
    assert (saved_feedback(at).rating, saved_feedback(at).comment) == ("down", "Too touristy.")


def test_the_feedback_exports_are_offered_in_the_sidebar() -> None:
    at = start()
    send(at, "Hello")
    labels = [button.proto.label for button in at.sidebar.get("download_button")]
    assert "Export ratings (JSONL)" in labels and "Export preference pairs (JSONL)" in labels


def test_a_regenerated_answer_starts_unrated_and_the_old_one_keeps_its_rating() -> None:
    at = start()
    send(at, "Where should I eat in Seoul?")
    old = at.session_state["chat"].exchanges[0].answer_key
    at.feedback(key=f"thumbs-{old}").set_value(0).run()
    at.button(key="regenerate").click().run()
    new = at.session_state["chat"].exchanges[0].answer_key
    assert new != old and at.feedback(key=f"thumbs-{new}").value is None
    messages = open_store().messages("local", at.session_state["chat"].conversation_id)
    assert [(m.key, m.feedback.rating if m.feedback else None) for m in messages[1:]] == [
        (old, "down"),
        (new, None),
    ]
