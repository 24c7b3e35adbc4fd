"""The conversation store: one suite, run on SQLite and on DynamoDB (the ``store``
fixture, conftest.py)."""

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from moto_server import use_moto

from chat_core.conversations.backends import open_store
from chat_core.conversations.migrations import MIGRATIONS
from chat_core.conversations.store import ConversationNotFound, Store, StoreUnavailable, title_for


def chat(store: Store, owner: str, turns: int, title: str = "A chat") -> str:
    conversation = store.create(owner, title, "local-smollm2", "PromptTemplate")
    for i in range(turns):
        question = store.add_question(owner, conversation.id, f"question {i}")
        store.add_answer(owner, conversation.id, question, f"answer {i}", {"tokens": i})
    return conversation.id


def test_a_conversation_keeps_its_messages_in_order(store: Store) -> None:
    conversation_id = chat(store, "ana", 3)
    messages = store.messages("ana", conversation_id)
    assert [(m.role, m.text) for m in messages] == [
        ("user", "question 0"), ("assistant", "answer 0"),
        ("user", "question 1"), ("assistant", "answer 1"),
        ("user", "question 2"), ("assistant", "answer 2"),
    ]  # fmt: skip
    assert [m.key for m in messages] == sorted({m.key for m in messages})
    assert all(m.answered for m in messages)
    assert messages[3].stats == {"tokens": 1}


def test_a_question_is_kept_unanswered_until_its_answer_is_saved(store: Store) -> None:
    conversation = store.create("ana", "Hi", "local-smollm2", "PromptTemplate")
    seq = store.add_question("ana", conversation.id, "Are you there?")
    (question,) = store.messages("ana", conversation.id)
    assert question.text == "Are you there?" and not question.answered
    store.add_answer("ana", conversation.id, seq, "", {})
    question, answer = store.messages("ana", conversation.id)
    assert question.answered and answer.text == ""


def test_conversations_are_listed_newest_first_and_can_be_renamed_and_deleted(store: Store) -> None:
    first = chat(store, "ana", 1, "first")
    second = chat(store, "ana", 1, "second")
    assert [c.title for c in store.conversations("ana")] == ["second", "first"]
    store.add_question("ana", first, "back to the first one")
    assert [c.id for c in store.conversations("ana")] == [first, second]

    store.rename("ana", first, "renamed")
    assert store.get("ana", first).title == "renamed"
    store.delete("ana", first)
    assert [c.id for c in store.conversations("ana")] == [second]
    with pytest.raises(ConversationNotFound):
        store.messages("ana", first)
    store.delete_all("ana")
    assert store.conversations("ana") == []


def test_one_user_can_never_reach_another_users_conversation(store: Store) -> None:
    ana = chat(store, "ana", 2)
    assert store.conversations("bob") == []
    for attempt in (
        lambda: store.get("bob", ana),
        lambda: store.messages("bob", ana),
        lambda: store.add_question("bob", ana, "mine now"),
        lambda: store.rename("bob", ana, "mine now"),
        lambda: store.delete("bob", ana),
    ):
        with pytest.raises(ConversationNotFound):
            attempt()
    store.delete_all("bob")
    assert len(store.messages("ana", ana)) == 4 and store.get("ana", ana).title == "A chat"


def write_turns(store: Store, owner: str, conversation_id: str, writer: int, turns: int) -> None:
    for turn in range(turns):
        seq = store.add_question(owner, conversation_id, f"{writer}:{turn}:q")
        store.add_answer(owner, conversation_id, seq, f"{writer}:{turn}:a", {})


WRITERS, TURNS = 20, 15  # moto's DynamoDB takes ~5 ms a write: 600 writes at once are enough


@pytest.mark.parametrize("shared", [False, True], ids=["distinct", "shared"])
def test_twenty_threads_writing_at_once_lose_nothing_and_keep_order(store: Store, shared: bool) -> None:
    common = store.create("ana", "busy", "m", "PromptTemplate").id
    targets = [
        common if shared else store.create("ana", f"t{i}", "m", "PromptTemplate").id for i in range(WRITERS)
    ]
    threads = [
        threading.Thread(target=write_turns, args=(store, "ana", targets[i], i, TURNS))
        for i in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for conversation_id in set(targets):
        messages = store.messages("ana", conversation_id)
        assert [m.key for m in messages] == sorted({m.key for m in messages})  # unique, ordered
        for writer in range(WRITERS):
            mine = [m.text for m in messages if m.text.startswith(f"{writer}:")]
            if shared or conversation_id == targets[writer]:
                expected = [f"{writer}:{t}:{kind}" for t in range(TURNS) for kind in "qa"]
                assert mine == expected  # none lost, each writer's in the order written
    assert sum(len(store.messages("ana", c)) for c in set(targets)) == WRITERS * TURNS * 2


def test_another_process_sees_the_same_conversations(store_url: str) -> None:
    """A second app process (a real one) writes; this one reads what it wrote."""
    script = (
        "import sys; from chat_core.conversations.backends import open_store; s = open_store(sys.argv[1]); "
        "c = s.create('ana', 'from afar', 'm', 'PromptTemplate'); "
        "s.add_answer('ana', c.id, s.add_question('ana', c.id, 'q'), 'a', {}); print(c.id)"
    )
    root = Path(__file__).resolve().parents[1]
    written = subprocess.run(
        [sys.executable, "-c", script, store_url], cwd=root, capture_output=True, text=True, check=True
    )
    conversation_id = written.stdout.strip()
    store = open_store(store_url)
    assert [c.id for c in store.conversations("ana")] == [conversation_id]
    assert [m.text for m in store.messages("ana", conversation_id)] == ["q", "a"]


def test_titles_come_from_the_first_question() -> None:
    assert title_for("  How do I\n travel   Seoul? ") == "How do I travel Seoul?"
    assert len(title_for("word " * 40)) == 60 and title_for("word " * 40).endswith("…")


def test_a_file_that_is_not_sqlite_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StoreUnavailable, match=r"Cannot open the conversation store .*not a database"):
        open_store(f"sqlite://{path}")
    assert path.read_text().startswith("these are my notes")  # and left as it was


def test_a_location_that_cannot_be_written_is_refused_clearly() -> None:
    with pytest.raises(StoreUnavailable, match="set CHAT_STORE to a writable"):
        open_store("sqlite:///proc/sagemaker-chat/chat.db")


def test_a_missing_dynamodb_table_is_refused_clearly(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    use_moto(monkeypatch, moto_url)
    with pytest.raises(StoreUnavailable, match="'no-such-table': it does not exist: create it"):
        open_store("dynamodb://no-such-table")


def test_an_unknown_store_url_is_refused_clearly() -> None:
    with pytest.raises(StoreUnavailable, match="not a store this app knows"):
        open_store("postgres://localhost/chat")


def test_migrations_bring_an_old_database_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # an empty database, version 0
    open_store(f"sqlite://{path}")
    open_store(f"sqlite://{path}")  # a second opening migrates nothing again
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_last_call_to_each_model_is_kept_for_every_replica(store_url: str) -> None:
    """The latest mark per model, whichever replica (store opened) wrote it."""
    one, other = open_store(store_url), open_store(store_url)
    one.mark_call("team", "llama", 100.0)
    other.mark_call("team", "llama", 200.0)
    one.mark_call("team", "llama", 150.0)  # sent earlier, marked later: the latest stays
    other.mark_call("solo", None, 50.0)
    assert one.last_calls() == {("team", "llama"): 200.0, ("solo", None): 50.0}
