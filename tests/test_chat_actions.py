"""Stopping, regenerating and editing answers, and an answer whose save fails, on a
real SQLite store: what the user sees now and what comes back when the
conversation is opened again."""

import itertools
import threading

import pytest
from shared import answered, refuse_answers

from chat_core.conversations.backends import open_store
from chat_core.conversations.exchange import Settings, State
from chat_core.conversations.session import ChatSession
from chat_core.local import model as local_model
from chat_core.local.scripted import ScriptedModel
from chat_core.models.catalog import GenerationParams, load_catalog

LOCAL = load_catalog()["local-smollm2"]
LONG = Settings(LOCAL, GenerationParams(max_new_tokens=200, temperature=0.0, top_p=1.0))


def reopened(chat: ChatSession) -> ChatSession:
    again = ChatSession(open_store())
    assert chat.conversation_id
    again.open(chat.conversation_id)
    return again


def turn_comes(timeout: float) -> bool:
    """Whether a call for the bundled model gets its turn within ``timeout``."""
    taken = threading.Event()

    def take() -> None:
        with local_model.TURNS.turn():
            taken.set()

    threading.Thread(target=take, daemon=True).start()
    return taken.wait(timeout)


@pytest.mark.real_model
@pytest.mark.parametrize("mode", ["PromptTemplate", "ConversationChain"])
def test_a_stopped_answer_keeps_its_text_marked_stopped_and_frees_the_model(mode: str) -> None:
    chat = ChatSession(open_store())
    settings = Settings(LOCAL, LONG.params, mode)
    reply = chat.ask("Write a long story about a cat who travels the world.", settings)
    shown = "".join(itertools.islice(iter(reply), 5))
    reply.stop()

    last = chat.exchanges[-1]
    assert shown and last.answer == shown and last.state is State.STOPPED
    again = reopened(chat)
    assert again.exchanges[-1].answer == shown and again.exchanges[-1].state is State.STOPPED
    # The model is free again: its turn is not left held by the abandoned stream.
    assert turn_comes(timeout=30)
    assert "".join(chat.ask("Thanks. What is 2 + 2?", settings)).strip()


def test_stopping_before_any_text_leaves_the_question_unanswered_and_stopping_twice_is_harmless() -> None:
    chat = ChatSession(open_store())
    reply = chat.ask("Hello there!", LONG)
    reply.stop()
    reply.stop()
    assert answered(chat) == [] and chat.exchanges[-1].state is State.UNANSWERED
    assert "Stopped before any answer" in chat.exchanges[-1].reason.text("en")
    finished = chat.ask("Hello there!", LONG)
    text = "".join(finished)
    finished.stop()  # after the end: nothing changes
    assert answered(chat)[-1][1] == text and chat.exchanges[-1].state is State.ANSWERED
    assert len(chat.exchanges) == 1


def test_regenerating_replaces_the_last_answer_now_and_after_reopening(scripted: ScriptedModel) -> None:
    scripted.enqueue("Blue.", "Green.")
    chat = ChatSession(open_store())
    "".join(chat.ask("Name a color.", LONG))
    question = chat.regenerate_last()
    assert question == "Name a color." and answered(chat) == []
    assert "".join(chat.ask(question, LONG)) == "Green."

    assert [answer for _, answer in answered(chat)] == ["Green."]
    again = reopened(chat)
    assert answered(again) == [("Name a color.", "Green.")]
    questions = [m for m in open_store().messages("local", chat.conversation_id) if m.role == "user"]
    assert len(questions) == 1  # the question was not saved twice


def test_an_edited_question_replaces_the_last_turn_now_and_after_reopening(scripted: ScriptedModel) -> None:
    scripted.enqueue("Nice city.", "Pardon?", "Paris.")
    chat = ChatSession(open_store())
    "".join(chat.ask("I live in Busan.", LONG))
    "".join(chat.ask("What is the capitl of France?", LONG))
    assert chat.edit_last() == "What is the capitl of France?"
    "".join(chat.ask("What is the capital of France?", LONG))

    expected = [("I live in Busan.", "Nice city."), ("What is the capital of France?", "Paris.")]
    assert answered(chat) == expected
    assert "capitl" not in scripted.prompts[-1] and "Pardon?" not in scripted.prompts[-1]
    assert answered(reopened(chat)) == expected


def test_an_answer_stopped_after_new_chat_was_clicked_is_saved_where_it_was_asked() -> None:
    """A click on "New chat" while an answer streams runs before the stream ends."""
    chat = ChatSession(open_store())
    reply = chat.ask("Write a long story about a dog.", LONG)
    shown = "".join(itertools.islice(iter(reply), 5))
    asked_in = chat.conversation_id
    chat.clear()  # New chat
    reply.stop()

    assert answered(chat) == [] and chat.conversation_id is None
    again = ChatSession(open_store())
    again.open(asked_in)
    assert answered(again) == [("Write a long story about a dog.", shown)]
    assert again.exchanges[0].state is State.STOPPED


def test_an_answer_whose_save_fails_stays_with_a_retry_and_nothing_waits(scripted: ScriptedModel) -> None:
    scripted.enqueue("Kept.")
    store = open_store()
    chat = ChatSession(store)
    reply = chat.ask("Remember this.", LONG)
    other = refuse_answers(store.path)
    assert "".join(reply) == "Kept."

    unsaved = chat.exchanges[-1]
    assert unsaved.state is State.ANSWERED and unsaved.answer == "Kept." and not unsaved.saved
    assert "Could not save" in unsaved.reason.text("en")
    chat.settle(timeout=0.01)  # settled already: the next page run does not wait for it
    assert reply.exchange is unsaved

    other.execute("DROP TRIGGER refuse")
    chat.save_again(unsaved, LONG)
    assert unsaved.saved and unsaved.reason is None
    assert answered(reopened(chat)) == [("Remember this.", "Kept.")]
