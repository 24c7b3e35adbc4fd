"""Stopping, regenerating and editing answers, on the real bundled model and a
real SQLite store: what the user sees now and what comes back when the
conversation is opened again."""

import itertools

from chat_core.conversations.session import ChatSession
from chat_core.conversations.store import open_store
from chat_core.local import model as local_model
from chat_core.models.catalog import GenerationParams, load_catalog

LOCAL = load_catalog()["local-smollm2"]
LONG = GenerationParams(max_new_tokens=200, temperature=0.0, top_p=1.0)


def session(mode: str = "PromptTemplate") -> ChatSession:
    return ChatSession(LOCAL, mode=mode, params=LONG, store=open_store())


def reopened(chat: ChatSession) -> ChatSession:
    again = session()
    assert chat.conversation_id
    again.open(chat.conversation_id)
    return again


def test_a_stopped_answer_keeps_its_text_marked_stopped_and_frees_the_model() -> None:
    for mode in ("PromptTemplate", "ConversationChain"):
        chat = session(mode)
        reply = chat.ask("Write a long story about a cat who travels the world.")
        shown = "".join(itertools.islice(iter(reply), 5))
        reply.stop()

        assert shown and chat.turns[-1].answer == shown
        assert chat.stats[-1] is not None and chat.stats[-1].stopped
        assert chat.unanswered is None
        again = reopened(chat)
        assert again.turns[-1].answer == shown and again.stats[-1].stopped
        # The model is free again: the lock is not left held by the abandoned stream.
        assert local_model._lock.acquire(timeout=30)
        local_model._lock.release()
        assert "".join(chat.ask("Thanks. What is 2 + 2?")).strip()


def test_stopping_before_any_text_leaves_the_question_unanswered_and_stopping_twice_is_harmless() -> None:
    chat = session()
    reply = chat.ask("Hello there!")
    reply.stop()
    reply.stop()
    assert chat.turns == [] and chat.unanswered and chat.unanswered[0] == "Hello there!"
    finished = chat.ask("Hello there!")
    text = "".join(finished)
    finished.stop()  # after the end: nothing changes
    assert chat.turns[-1].answer == text and not chat.stats[-1].stopped


def test_regenerating_replaces_the_last_answer_now_and_after_reopening() -> None:
    chat = session()
    "".join(chat.ask("Name a color."))
    chat.params = GenerationParams(max_new_tokens=40, temperature=1.0, top_p=1.0, seed=7)
    question = chat.regenerate_last()
    assert question == "Name a color." and chat.turns == []
    new = "".join(chat.ask(question))

    assert [t.answer for t in chat.turns] == [new]
    again = reopened(chat)
    assert [(t.question, t.answer) for t in again.turns] == [("Name a color.", new)]
    questions = [m for m in open_store().messages("local", chat.conversation_id) if m.role == "user"]
    assert len(questions) == 1  # the question was not saved twice


def test_an_edited_question_replaces_the_last_turn_now_and_after_reopening() -> None:
    chat = session()
    first = "".join(chat.ask("I live in Busan."))
    "".join(chat.ask("What is the capitl of France?"))
    assert chat.edit_last() == "What is the capitl of France?"
    edited = "".join(chat.ask("What is the capital of France?"))

    expected = [("I live in Busan.", first), ("What is the capital of France?", edited)]
    assert [(t.question, t.answer) for t in chat.turns] == expected
    assert "capitl" not in chat.last_prompt
    assert [(t.question, t.answer) for t in reopened(chat).turns] == expected


def test_an_answer_stopped_after_new_chat_was_clicked_is_saved_where_it_was_asked() -> None:
    """A click on "New chat" while an answer streams runs before the stream ends."""
    chat = session()
    reply = chat.ask("Write a long story about a dog.")
    shown = "".join(itertools.islice(iter(reply), 5))
    asked_in = chat.conversation_id
    chat.clear()  # New chat
    reply.stop()

    assert chat.turns == [] and chat.conversation_id is None
    again = session()
    again.open(asked_in)
    assert [t.answer for t in again.turns] == [shown] and again.stats[0].stopped
