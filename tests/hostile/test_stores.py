"""The conversation stores under faults: a broken backend, many processes opening
one new SQLite file, a delete racing appends, and "Delete all" right after writes.
Real SQLite files and real boto3 against moto's DynamoDB server on 127.0.0.1
(tests/moto_server.py)."""

import json
import multiprocessing
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto_server import moto_server, use_moto

from chat_core.conversations.backends import open_store
from chat_core.conversations.dynamodb import DynamoDBStore, create_table
from chat_core.conversations.migrations import MIGRATIONS
from chat_core.conversations.store import (
    COMMENT_MAX_CHARS,
    CommentTooLong,
    ConversationNotFound,
    Store,
    StoreUnavailable,
    UnstorableText,
)

CONVERSATION_ID = "0" * 32  # the shape of an id (uuid4 hex); no store holds it


def every_method(store: Store) -> dict[str, Callable[[], object]]:
    """Each public method of ``Store``, called as a page would."""
    return {
        "create": lambda: store.create("ana", "A chat", "m", "PromptTemplate"),
        "conversations": lambda: store.conversations("ana"),
        "get": lambda: store.get("ana", CONVERSATION_ID),
        "messages": lambda: store.messages("ana", CONVERSATION_ID),
        "add_question": lambda: store.add_question("ana", CONVERSATION_ID, "q"),
        "add_answer": lambda: store.add_answer("ana", CONVERSATION_ID, "k", "a", {}),
        "rename": lambda: store.rename("ana", CONVERSATION_ID, "t"),
        "delete": lambda: store.delete("ana", CONVERSATION_ID),
        "delete_all": lambda: store.delete_all("ana"),
    }


@pytest.fixture
def broken_sqlite(tmp_path: Path) -> Store:
    """A database whose header is sound (it opens) and whose tables are garbage, as
    after a disk fault: every read and write of a table fails inside SQLite."""
    path = tmp_path / "chat.db"
    open_store(f"sqlite://{path}").create("ana", "A chat", "m", "PromptTemplate")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)  # page 1 (header, schema) kept
    path.write_bytes(data)
    return open_store(f"sqlite://{path}")


@pytest.fixture
def unreachable_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Store:
    """A DynamoDB store opened against a moto server that then goes away: the
    endpoint is a closed port on 127.0.0.1 (no retries, to be quick)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with moto_server() as url:
        use_moto(monkeypatch, url)
        create_table("chat")
        store = open_store("dynamodb://chat")
    return store


@pytest.mark.parametrize("backend", ["broken_sqlite", "unreachable_dynamodb"])
def test_every_store_method_reports_a_broken_backend_as_store_unavailable(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """No backend error reaches a page as a traceback: each method raises
    ``StoreUnavailable``, in English and Korean, naming no URL."""
    store = request.getfixturevalue(backend)
    faults = {}
    for name, call in every_method(store).items():
        try:
            call()
            faults[name] = "no error"
        except StoreUnavailable as error:
            text = error.message.en + error.message.ko
            if not (error.message.en and error.message.ko) or error.message.en == error.message.ko:
                faults[name] = f"not in two languages: {error.message}"
            elif "http" in text or "127.0.0.1" in text:
                faults[name] = f"names the URL: {error.message.en}"
        except Exception as error:  # anything else would be a traceback on the page
            faults[name] = repr(error)
    assert faults == {}


def open_at_once(url: str, start: Any, results: Any) -> None:
    start.wait(timeout=30)
    try:
        open_store(url)
        results.put("opened")
    except Exception as error:  # the test reports whatever it was
        results.put(f"{type(error).__name__}: {error}")


def test_forty_processes_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    """40 app processes (forked, released together by a barrier) open one new file;
    three times, each on a new file: before the fix, a few processes failed in
    about half of such rounds."""
    fork = multiprocessing.get_context("fork")
    for round in range(3):
        path = tmp_path / f"chat-{round}.db"
        start, results = fork.Barrier(40), fork.Queue()
        processes = [
            fork.Process(target=open_at_once, args=(f"sqlite://{path}", start, results)) for _ in range(40)
        ]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=10)
        assert [o for o in outcomes if o != "opened"] == []
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch, moto_url: str, tmp_path: Path) -> DynamoDBStore:
    use_moto(monkeypatch, moto_url)
    table = f"chat-{tmp_path.name}"[:200]
    create_table(table)
    store = open_store(f"dynamodb://{table}")
    assert isinstance(store, DynamoDBStore)
    return store


def items_of(store: DynamoDBStore, conversation_id: str) -> list[dict[str, Any]]:
    """Every item of the table that belongs to the conversation, read with a plain scan."""
    items = boto3.client("dynamodb", region_name="us-east-1").scan(
        TableName=store.table, ConsistentRead=True
    )["Items"]
    return [item for item in items if conversation_id in item["PK"]["S"] + item["SK"]["S"]]


def test_a_delete_racing_appends_leaves_nothing_and_the_appenders_are_told(dynamodb: DynamoDBStore) -> None:
    """Three threads keep appending to a conversation while it is deleted: nothing
    of it is left in the table, and each appender ends on ``ConversationNotFound``
    (rather than writing a message that nothing can reach)."""
    conversation_id = dynamodb.create("ana", "busy", "m", "PromptTemplate").id
    written, enough = [0], threading.Event()
    endings: list[BaseException] = []

    def append_until_refused() -> None:
        try:
            while True:
                dynamodb.add_question("ana", conversation_id, "one more")
                written[0] += 1
                if written[0] >= 10:
                    enough.set()
        except Exception as error:
            endings.append(error)
            enough.set()

    appenders = [threading.Thread(target=append_until_refused, daemon=True) for _ in range(3)]
    for appender in appenders:
        appender.start()
    assert enough.wait(timeout=30)
    dynamodb.delete("ana", conversation_id)
    for appender in appenders:
        appender.join(timeout=30)

    assert items_of(dynamodb, conversation_id) == []
    assert [type(e) for e in endings] == [ConversationNotFound] * 3


def test_delete_all_right_after_writes_reads_consistently(dynamodb: DynamoDBStore) -> None:
    """ "Delete all" just after creating leaves nothing.  moto is always consistent,
    so what this shows is that every query behind it asks DynamoDB for a strongly
    consistent read (seen in the requests botocore sends, by its ``before-call`` event)."""
    queries: list[dict[str, Any]] = []
    created = [dynamodb.create("ana", f"chat {i}", "m", "PromptTemplate").id for i in range(3)]
    for conversation_id in created:
        dynamodb.add_question("ana", conversation_id, "q")

    def record(params: dict[str, Any], **_: Any) -> None:
        queries.append(json.loads(params["body"]))

    dynamodb._db.meta.events.register("before-call.dynamodb.Query", record)
    dynamodb.delete_all("ana")

    assert dynamodb.conversations("ana") == []
    assert all(items_of(dynamodb, c) == [] for c in created)
    assert len(queries) >= 1 + len(created)  # the listing, and each conversation's messages
    assert [q for q in queries if q.get("ConsistentRead") is not True] == []


def test_an_append_that_meets_another_transaction_is_tried_again(dynamodb: DynamoDBStore) -> None:
    """On DynamoDB two appends to one conversation at once (two tabs) can cancel one
    transaction with ``TransactionConflict``, which botocore does not retry.  moto
    runs one request at a time and never answers so, so the first TransactWriteItems
    gets that answer from a ``before-call`` hook (a fake, for want of a real one);
    the second goes to moto."""
    conversation_id = dynamodb.create("ana", "two tabs", "m", "PromptTemplate").id
    calls: list[str] = []

    def conflict_once(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        calls.append("TransactWriteItems")
        if len(calls) > 1:
            return None
        error = {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}
        reasons = [{"Code": "TransactionConflict"}, {"Code": "None"}]
        return AWSResponse("", 400, {}, None), {"Error": error, "CancellationReasons": reasons}

    dynamodb._db.meta.events.register("before-call.dynamodb.TransactWriteItems", conflict_once)
    dynamodb.add_question("ana", conversation_id, "from the second tab")

    assert calls == ["TransactWriteItems"] * 2
    assert [m.text for m in dynamodb.messages("ana", conversation_id)] == ["from the second tab"]


def test_a_message_too_large_for_dynamodb_says_so(dynamodb: DynamoDBStore) -> None:
    """An item over DynamoDB's 400 KB is refused with that limit named (moto checks
    the size as DynamoDB does)."""
    conversation_id = dynamodb.create("ana", "long", "m", "PromptTemplate").id
    with pytest.raises(StoreUnavailable, match="at most 400 KB") as raised:
        dynamodb.add_question("ana", conversation_id, "x" * 410_000)
    assert "400KB" in raised.value.message.ko
    assert dynamodb.messages("ana", conversation_id) == []


def test_the_chat_page_keeps_working_when_the_store_goes_away(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB unreachable after the app opened it: every action says so on the page,
    no traceback, and a question sent meanwhile stays on screen to be resent."""
    from chat_page import send, start  # the chat page's helpers: AppTest is slow to import

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with moto_server() as url:
        use_moto(monkeypatch, url)
        create_table("gone")
        monkeypatch.setenv("CHAT_STORE", "dynamodb://gone")
        page = start()
    send(page, "Is anyone there?")
    assert not page.exception
    assert "Could not read the conversation store" in page.sidebar.error[0].value
    assert page.chat_message[0].markdown[0].value == "Is anyone there?"
    assert "Could not save to the conversation store" in page.chat_message[1].error[0].value
    assert [button for button in page.button if button.label == "Resend"]
    page.query_params["c"] = CONVERSATION_ID
    page.run()
    assert not page.exception
    assert "Could not read the conversation store" in page.warning[0].value


def test_delete_all_goes_on_past_a_conversation_another_tab_deleted_meanwhile(
    monkeypatch: pytest.MonkeyPatch, moto_url: str
) -> None:
    """The other tab's delete lands between "Delete all" listing and deleting: the
    listing is replaced by the one read before it."""
    use_moto(monkeypatch, moto_url)
    create_table("delete-all-race")
    store = open_store("dynamodb://delete-all-race")
    for title in ("one", "two"):
        store.create("ana", title, "m", "PromptTemplate")
    listed = store.conversations("ana")
    monkeypatch.setattr(store, "conversations", lambda owner: listed)
    store.delete("ana", listed[0].id)  # the other tab
    store.delete_all("ana")
    assert type(store).conversations(store, "ana") == []


# A comment's length was checked by the page's text box alone (SQLite kept 10,000,000
# characters; DynamoDB refused the item as a message over 400 KB), and a lone
# surrogate reached SQLite as a raw UnicodeEncodeError.


def answered(store: Store) -> tuple[str, str]:
    """A conversation of ana's with one answered question: its id and the answer's key."""
    conversation = store.create("ana", "Trip", "local-smollm2", "PromptTemplate")
    question = store.add_question("ana", conversation.id, "Where to?")
    return conversation.id, store.add_answer("ana", conversation.id, question, "Seoul.", {})


def test_a_comment_over_the_limit_is_refused_with_its_length_and_the_last_one_kept(store: Store) -> None:
    conversation_id, answer = answered(store)
    store.set_feedback("ana", conversation_id, answer, "up", "Kept.")
    for comment in ("x" * (COMMENT_MAX_CHARS + 1), "x" * 10_000_000):
        with pytest.raises(CommentTooLong) as refused:
            store.set_feedback("ana", conversation_id, answer, "down", comment)
        for text in (refused.value.message.en, refused.value.message.ko):  # its length and the limit
            assert f"{len(comment):,}" in text and f"{COMMENT_MAX_CHARS:,}" in text
    assert store.messages("ana", conversation_id)[1].feedback.comment == "Kept."
    store.set_feedback("ana", conversation_id, answer, "down", "y" * COMMENT_MAX_CHARS)  # at the limit: kept
    assert store.messages("ana", conversation_id)[1].feedback.comment == "y" * COMMENT_MAX_CHARS


def every_text_written(store: Store) -> dict[str, Callable[[str], object]]:
    """Each text a user gives the store, written with ``text`` in it."""
    conversation_id, answer = answered(store)
    return {
        "title": lambda text: store.create("ana", text, "m", "PromptTemplate"),
        "rename": lambda text: store.rename("ana", conversation_id, text),
        "question": lambda text: store.add_question("ana", conversation_id, text),
        "answer": lambda text: store.add_answer("ana", conversation_id, "k", text, {}),
        "comment": lambda text: store.set_feedback("ana", conversation_id, answer, "up", text),
    }


def test_a_lone_surrogate_is_refused_with_a_message_and_nothing_changes(store: Store) -> None:
    writes = every_text_written(store)
    (conversation,) = store.conversations("ana")
    saved = store.messages("ana", conversation.id)
    for name, write in writes.items():
        with pytest.raises(UnstorableText) as refused:
            write("Half an emoji: \ud83d here")
        assert "U+D83D" in refused.value.message.en and "U+D83D" in refused.value.message.ko, name
    assert store.conversations("ana") == [conversation]
    assert store.messages("ana", conversation.id) == saved
