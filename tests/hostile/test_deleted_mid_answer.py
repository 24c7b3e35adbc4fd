"""A conversation deleted (in another tab, or on another replica) while its answer
streams: the answer is kept, saved, and the user is told where."""

from pathlib import Path

from chat_core.conversations.backends import open_store
from chat_core.conversations.exchange import Settings, State
from chat_core.conversations.session import ChatSession
from chat_core.local.scripted import ScriptedModel
from chat_core.models.catalog import load_catalog

LOCAL = load_catalog()["local-smollm2"]


def test_an_answer_to_a_conversation_deleted_meanwhile_is_saved_in_a_new_one(
    tmp_path: Path, scripted: ScriptedModel
) -> None:
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    session = ChatSession(store)
    settings = Settings(LOCAL, LOCAL.defaults)
    scripted.enqueue("First answer.", "An answer worth keeping, word by word.")
    "".join(session.ask("First question?", settings))
    asked_in = session.conversation_id
    reply = session.ask("Second question?", settings)
    chunks = iter(reply)
    streamed = next(chunks)
    store.delete(session.owner, asked_in)  # the other tab
    streamed += "".join(chunks)

    exchange = session.exchanges[-1]
    assert exchange.state is State.ANSWERED and exchange.saved and exchange.answer == streamed
    assert session.conversation_id != asked_in
    saved = store.messages(session.owner, session.conversation_id)
    assert [m.text for m in saved] == ["Second question?", streamed]
    assert exchange.reason and "deleted" in exchange.reason.en and "new conversation" in exchange.reason.en
