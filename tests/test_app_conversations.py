"""Saved conversations in the app (AppTest, the bundled model, a SQLite file)."""

import json
from pathlib import Path

import pytest
from chat_page import conversation_buttons, messages, send, start
from streamlit.testing.v1 import AppTest

from chat_core.conversations.backends import open_store
from chat_core.conversations.store import Conversation
from chat_core.local.scripted import ScriptedModel


def shown(at: AppTest) -> list[str]:
    return [text for _, text in messages(at)]


def test_a_conversation_outlives_the_session_and_its_history_feeds_the_next_prompt(
    scripted: ScriptedModel,
) -> None:
    first = start()
    send(first, "I live in Seoul, Korea.")
    answer = shown(first)[1]
    assert conversation_buttons(first) == ["I live in Seoul, Korea."]

    second = start()  # a new browser session, the same store
    assert shown(second) == []
    assert conversation_buttons(second) == ["I live in Seoul, Korea."]
    next(b for b in second.sidebar.button if b.label == "I live in Seoul, Korea.").click().run()
    assert shown(second) == ["I live in Seoul, Korea.", answer]

    send(second, "Tell me how to travel the city.")
    prompt = scripted.prompts[-1]
    assert "I live in Seoul, Korea." in prompt and answer in prompt
    assert len(shown(second)) == 4


def test_an_unanswered_question_is_kept_and_offered_again(monkeypatch: pytest.MonkeyPatch) -> None:
    at = start()
    at.sidebar.selectbox(key="model").set_value("llama2-7b-chat").run()
    send(at, "Is anyone there?")  # no region: the answer fails
    assert "No AWS region" in at.error[0].value

    again = start()
    next(b for b in again.sidebar.button if b.label == "Is anyone there?").click().run()
    assert "no answer yet" in again.error[0].value
    assert shown(again)[0] == "Is anyone there?"
    next(b for b in again.button if b.label == "Resend").click().run()
    assert not again.error and len(shown(again)) == 2
    messages = open_store().messages("local", again.session_state["chat"].conversation_id)
    assert [m.role for m in messages] == ["user", "assistant"]  # the question was not saved twice


def test_another_users_conversation_cannot_be_opened_by_its_id_in_the_url() -> None:
    store = open_store()
    theirs = store.create("someone-else", "Their secrets", "local-smollm2", "PromptTemplate")
    store.add_question("someone-else", theirs.id, "my password is hunter2")

    at = AppTest.from_file("../app.py", default_timeout=120)
    at.query_params["c"] = theirs.id
    at.run()
    assert "not one of yours" in at.warning[0].value
    assert shown(at) == [] and conversation_buttons(at) == []
    assert "c" not in at.query_params
    send(at, "Hello")  # and writing goes to a new conversation of the user's own
    assert [m.text for m in store.messages("someone-else", theirs.id)] == ["my password is hunter2"]


def test_rename_export_and_delete_with_confirmation() -> None:
    at = start()
    send(at, "What is SageMaker?")
    at.sidebar.text_input(key=f"title-{at.session_state['chat'].conversation_id}").input("SageMaker notes")
    at.sidebar.button(key="rename").click().run()
    assert conversation_buttons(at) == ["SageMaker notes"]

    markdown, exported, *_feedback = (b.proto for b in at.get("download_button"))
    assert markdown.label == "Export Markdown" and exported.label == "Export JSON"

    at.sidebar.checkbox(key=f"confirm-{at.session_state['chat'].conversation_id}").check().run()
    at.sidebar.button(key="delete").click().run()
    assert conversation_buttons(at) == [] and shown(at) == []


def test_delete_all_asks_first() -> None:
    at = start()
    send(at, "One")
    at.sidebar.button(key="new-chat").click().run()
    send(at, "Two")
    assert conversation_buttons(at) == ["Two", "One"]  # newest first
    at.sidebar.checkbox(key="confirm-all").check().run()
    at.sidebar.button(key="delete-all").click().run()
    assert conversation_buttons(at) == [] and open_store().conversations("local") == []


def test_a_store_that_cannot_be_opened_is_explained_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("not a database\n" * 100)
    monkeypatch.setenv("CHAT_STORE", f"sqlite://{notes}")
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    assert not at.exception
    assert "Cannot open the conversation store" in at.error[0].value


def test_exports_hold_the_conversation() -> None:
    from chat_core.conversations.export import to_json, to_markdown

    store = open_store()
    conversation = store.create("local", "Trip", "local-smollm2", "PromptTemplate")
    key = store.add_question("local", conversation.id, "Where to?")
    store.add_answer("local", conversation.id, key, "Seoul.", {"tokens": 2})
    store.add_question("local", conversation.id, "When?")
    messages = store.messages("local", conversation.id)
    markdown = to_markdown(conversation, messages)
    assert markdown.startswith("# Trip") and "Where to?" in markdown and "(unanswered)" in markdown
    data = json.loads(to_json(conversation, messages))
    assert [m["text"] for m in data["messages"]] == ["Where to?", "Seoul.", "When?"]
    assert data["messages"][2]["answered"] is False


def test_exports_say_which_messages_were_edited_regenerated_or_stopped() -> None:
    from chat_core.conversations.export import to_markdown

    store = open_store()
    conversation = store.create("local", "Trip", "local-smollm2", "PromptTemplate")
    typo = store.add_question("local", conversation.id, "Wher to?")
    store.add_answer("local", conversation.id, typo, "Pardon?", {"tokens": 2})
    fixed = store.add_question("local", conversation.id, "Where to?", replaces=typo)
    store.add_answer("local", conversation.id, fixed, "Busan.", {"tokens": 2})
    store.add_answer("local", conversation.id, fixed, "Seoul, because", {"tokens": 3, "stopped": True})
    markdown = to_markdown(conversation, store.messages("local", conversation.id))
    assert "**You** (edited, see below)" in markdown and "**Assistant** (regenerated, see below)" in markdown
    assert "**Assistant** (stopped)" in markdown and markdown.count("(unanswered)") == 0


def test_export_file_names_are_the_title_and_date_in_safe_characters() -> None:
    from chat_core.conversations.export import file_name

    def named(title: str, kind: str = "md") -> str:
        day = 1_780_000_000.0  # 2026-05-28 UTC
        return file_name(Conversation("id", "local", title, "m", "PromptTemplate", day, day), kind)

    assert named("Plans: Seoul/Busan?") == "Plans-Seoul-Busan-2026-05-28.md"
    assert named("서울 여행 계획", "json") == "서울-여행-계획-2026-05-28.json"
    assert named("../../etc/passwd") == "etc-passwd-2026-05-28.md"
    assert named('CON <script>"x"|*\\\x00') == "CON-script-x-2026-05-28.md"
    assert named("?!.") == "conversation-2026-05-28.md"
    assert named("word " * 100) == ("word-" * 12).rstrip("-") + "-2026-05-28.md"
    assert named("ｆｕｌｌ width") == "full-width-2026-05-28.md"


def test_a_conversation_deleted_elsewhere_closes_quietly() -> None:
    at = start()
    send(at, "Short-lived")
    open_store().delete_all("local")  # another tab, or another replica
    at.run()
    assert not at.exception and conversation_buttons(at) == [] and shown(at) == []
