"""Limits on what a user can type: a question too long to ask is refused before
anything is saved, and the longest question allowed fits every store."""

import os
from pathlib import Path

import pytest
from chat_page import send, start
from moto_server import use_moto

from chat_core.conversations.backends import open_store
from chat_core.conversations.dynamodb import create_table
from chat_core.conversations.exchange import Settings, State
from chat_core.conversations.prompting import QUESTION_MAX_CHARS, QuestionTooLong
from chat_core.conversations.session import ChatSession
from chat_core.conversations.store import TITLE_LENGTH, Store, UnstorableText
from chat_core.errors import PromptTooLong
from chat_core.models.catalog import load_catalog

LOCAL = load_catalog()["local-smollm2"]


def test_a_question_over_the_limit_is_refused_and_nothing_is_saved(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    session = ChatSession(store)
    for _ in range(3):
        with pytest.raises(QuestionTooLong):
            session.ask("x" * 5_000_000, Settings(LOCAL, LOCAL.defaults))
    assert store.conversations(session.owner) == []
    assert os.path.getsize(tmp_path / "chat.db") < 1_000_000


def test_a_question_too_long_for_the_models_window_is_refused_before_it_is_saved(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    session = ChatSession(store)
    with pytest.raises(PromptTooLong):
        session.ask("word " * 20_000, Settings(LOCAL, LOCAL.defaults))
    assert store.conversations(session.owner) == []
    [refused] = session.exchanges  # still on screen, to be shortened
    assert refused.state is State.FAILED and refused.key is None


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    if request.param == "sqlite":
        return open_store(f"sqlite://{tmp_path / 'chat.db'}")
    use_moto(monkeypatch, request.getfixturevalue("moto_url"))
    create_table(f"limits-{tmp_path.name}")
    return open_store(f"dynamodb://limits-{tmp_path.name}")


def test_the_longest_question_allowed_fits_every_store(store: Store) -> None:
    """Hangul takes three bytes a character; DynamoDB's items hold 400 KB."""
    conversation = store.create("ana", "긴 질문", "local-smollm2", "PromptTemplate")
    longest = "가" * QUESTION_MAX_CHARS
    store.add_question("ana", conversation.id, longest)
    assert store.messages("ana", conversation.id)[0].text == longest


def test_titles_are_bounded_however_they_are_given(store: Store) -> None:
    conversation = store.create("ana", "A title " * 100_000, "local-smollm2", "PromptTemplate")
    assert len(store.get("ana", conversation.id).title) <= TITLE_LENGTH
    store.rename("ana", conversation.id, "Renamed\n" * 100_000)
    assert len(store.get("ana", conversation.id).title) <= TITLE_LENGTH


def test_the_chat_box_takes_no_more_than_the_limit_and_a_refused_question_stays_on_screen() -> None:
    page = start()
    assert page.chat_input[0].max_chars == QUESTION_MAX_CHARS
    send(page, "word " * 20_000)
    assert page.chat_message[0].markdown[0].value.startswith("word word")
    assert "Shorten the message" in page.error[0].value


def test_a_question_with_half_a_character_is_refused_with_why_before_it_is_saved(tmp_path: Path) -> None:
    """A lone surrogate reached SQLite as a raw UnicodeEncodeError."""
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    session = ChatSession(store)
    with pytest.raises(UnstorableText, match="U\\+D800"):
        session.ask("Why \ud800?", Settings(LOCAL, LOCAL.defaults))
    assert store.conversations(session.owner) == []
    [refused] = session.exchanges  # still on screen, to be corrected
    assert refused.state is State.FAILED and "U+D800" in refused.reason.en
