"""Feedback on answers in the conversation store, on SQLite and on DynamoDB (the
``store`` fixture, conftest.py): the one annotation changed in place."""

import sqlite3
import time
from pathlib import Path

import pytest

from chat_core.conversations.backends import open_store
from chat_core.conversations.migrations import MIGRATIONS
from chat_core.conversations.store import ConversationNotFound, Feedback, Store


def answered(store: Store, owner: str = "ana") -> tuple[str, str, str]:
    """A conversation with one exchange: its id, the question's key and the answer's."""
    conversation = store.create(owner, "Trip", "local-smollm2", "PromptTemplate")
    question = store.add_question(owner, conversation.id, "Where to?")
    answer = store.add_answer(owner, conversation.id, question, "Seoul.", {"tokens": 2})
    return conversation.id, question, answer


def test_a_rating_and_comment_are_read_back_with_the_answer(store: Store) -> None:
    conversation_id, _, answer = answered(store)
    before = time.time()
    given = store.set_feedback("ana", conversation_id, answer, "down", "  Too short.  ")
    question, reply = store.messages("ana", conversation_id)
    assert reply.feedback == given == Feedback("down", "Too short.", given.at)
    assert before <= given.at <= time.time()
    assert question.feedback is None
    assert reply.text == "Seoul." and reply.stats == {"tokens": 2}  # the answer itself unchanged


def test_rating_again_replaces_and_taking_it_back_clears(store: Store) -> None:
    conversation_id, _, answer = answered(store)
    store.set_feedback("ana", conversation_id, answer, "down", "Too short.")
    store.set_feedback("ana", conversation_id, answer, "up")
    assert store.messages("ana", conversation_id)[1].feedback.rating == "up"
    assert store.messages("ana", conversation_id)[1].feedback.comment == ""
    store.set_feedback("ana", conversation_id, answer, None, "A comment alone is kept.")
    assert store.messages("ana", conversation_id)[1].feedback.comment == "A comment alone is kept."
    assert store.set_feedback("ana", conversation_id, answer, None, " ") is None
    assert store.messages("ana", conversation_id)[1].feedback is None


def test_rating_does_not_reorder_the_conversations(store: Store) -> None:
    older, _, answer = answered(store)
    newer, _, _ = answered(store)
    store.set_feedback("ana", older, answer, "up")
    assert [c.id for c in store.conversations("ana")] == [newer, older]


def test_another_owner_cannot_rate_an_answer_nor_read_its_rating(store: Store) -> None:
    conversation_id, _, answer = answered(store)
    store.set_feedback("ana", conversation_id, answer, "up", "Mine.")
    for attempt in (
        lambda: store.set_feedback("bob", conversation_id, answer, "down", "Not yours."),
        lambda: store.set_feedback("bob", conversation_id, answer, None),
        lambda: store.messages("bob", conversation_id),
    ):
        with pytest.raises(ConversationNotFound):
            attempt()
    assert store.messages("ana", conversation_id)[1].feedback.comment == "Mine."


def test_only_a_saved_answer_can_be_rated(store: Store) -> None:
    """Not a question, nor a key that names no message: no item is created."""
    conversation_id, question, _ = answered(store)
    for key in (question, "00000000000000000000-deadbeef"):
        with pytest.raises(ConversationNotFound):
            store.set_feedback("ana", conversation_id, key, "up")
    assert len(store.messages("ana", conversation_id)) == 2
    assert all(m.feedback is None for m in store.messages("ana", conversation_id))


def test_a_deleted_conversations_answers_cannot_be_rated(store: Store) -> None:
    conversation_id, _, answer = answered(store)
    store.delete("ana", conversation_id)
    with pytest.raises(ConversationNotFound):
        store.set_feedback("ana", conversation_id, answer, "up")


def test_a_database_made_before_feedback_gains_it(tmp_path: Path) -> None:
    path = tmp_path / "before.db"
    with sqlite3.connect(path) as db:
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.execute("INSERT INTO conversations VALUES ('c1', 'ana', 'Old', 'm', 'PromptTemplate', 1, 1)")
        db.execute("INSERT INTO messages VALUES ('c1', 'k1', 'user', 'Hi?', 1, NULL, '{}')")
        db.execute("INSERT INTO messages VALUES ('c1', 'k2', 'assistant', 'Hello.', 2, 'k1', '{}')")
    db.close()
    store = open_store(f"sqlite://{path}")
    assert [m.feedback for m in store.messages("ana", "c1")] == [None, None]
    store.set_feedback("ana", "c1", "k2", "up")
    assert store.messages("ana", "c1")[1].feedback.rating == "up"
