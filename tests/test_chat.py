"""Chat sessions on the real bundled model, in both conversation modes."""

import threading
import warnings
from dataclasses import replace

import pytest

from chat_core.conversations.session import MODES, ChatSession
from chat_core.errors import (
    ChatError,
    EndpointNotConfigured,
    EndpointUnreachable,
    MissingCredentials,
    PromptTooLong,
)
from chat_core.local import model as local_model
from chat_core.models.catalog import GenerationParams, load_catalog
from chat_core.models.endpoint import runtime_client
from chat_core.models.prompts import Turn
from chat_core.models.tokens import count_tokens

LOCAL = load_catalog()["local-smollm2"]
GREEDY = GenerationParams(max_new_tokens=48, temperature=0.0, top_p=1.0)


def answer(session: ChatSession, question: str) -> str:
    return "".join(session.ask(question))


@pytest.mark.parametrize("mode", MODES)
def test_the_second_question_is_answered_with_the_first_turn_in_the_prompt(mode: str) -> None:
    session = ChatSession(LOCAL, mode=mode, params=GREEDY)
    first = answer(session, "I live in Seoul, Korea.")
    reply = session.ask("Tell me how to travel the city.")
    chunks = list(reply)

    assert first.strip()
    assert "I live in Seoul, Korea." in reply.prompt
    assert first in reply.prompt
    assert reply.prompt.index("I live in Seoul") < reply.prompt.index("Tell me how to travel the city.")
    assert "".join(chunks).strip() and len(chunks) > 1  # streamed, token by token
    assert session.turns == [
        Turn("I live in Seoul, Korea.", first),
        Turn("Tell me how to travel the city.", "".join(chunks)),
    ]
    stats = session.stats[-1]
    assert stats is not None and stats.first_token_s > 0 and stats.tokens > 1 and stats.tokens_per_s


def test_conversation_chain_mode_raises_no_deprecation_warnings() -> None:
    session = ChatSession(LOCAL, mode="ConversationChain", params=GREEDY)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answer(session, "Hello!")
    assert [w for w in caught if "deprecat" in str(w.message).lower()] == []


SMALL = replace(LOCAL, context_window=400)


def crowded(mode: str) -> ChatSession:
    """A session whose 12 past turns overflow a 400-token context window."""
    session = ChatSession(SMALL, mode=mode, params=GenerationParams(16, 0.0, 1.0))
    session.turns = [Turn(f"Tell me fact number {i} about Seoul.", "Seoul is big. " * 6) for i in range(12)]
    session.stats = [None] * 12
    return session


def test_conversation_chain_drops_oldest_turns_instead_of_overflowing() -> None:
    session = crowded("ConversationChain")
    reply = session.ask("Which river flows through Seoul?")
    list(reply)

    assert reply.notice and "oldest turns left the chain's memory" in reply.notice.text("en")
    assert "가장 오래된" in reply.notice.text("ko")
    assert count_tokens(SMALL, reply.prompt) <= 400 - 16
    assert "fact number 11" in reply.prompt and "fact number 0 " not in reply.prompt
    dropped = session.memory_start
    assert 0 < dropped < 12 and len(session.turns) == 13  # the record keeps everything

    again = session.ask("And its length?")
    list(again)
    assert f"fact number {dropped - 1} " not in again.prompt  # dropped for good, not re-added


def test_prompt_template_mode_windows_without_telling() -> None:
    session = crowded("PromptTemplate")
    reply = session.ask("Which river flows through Seoul?")
    list(reply)
    assert reply.notice is None
    assert "fact number 11" in reply.prompt and "fact number 0 " not in reply.prompt
    assert count_tokens(SMALL, reply.prompt) <= 400 - 16


@pytest.mark.parametrize("mode", MODES)
def test_remote_model_without_region_says_what_to_do_and_keeps_the_session(mode: str) -> None:
    llama = load_catalog()["llama2-7b-chat"]
    session = ChatSession(llama, mode=mode)
    session.turns, session.stats = [Turn("hi", "hello")], [None]
    with pytest.raises(EndpointNotConfigured, match="SAGEMAKER_REGION or AWS_REGION"):
        list(session.ask("Are you there?"))
    assert session.turns == [Turn("hi", "hello")]


@pytest.mark.parametrize("mode", MODES)
def test_remote_model_without_credentials_says_what_to_do(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    session = ChatSession(load_catalog()["falcon-7b-instruct"], mode=mode)
    with pytest.raises(MissingCredentials, match="No AWS credentials"):
        list(session.ask("Are you there?"))
    assert session.turns == []


def test_endpoint_names_and_region_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_LLAMA2_7B_CHAT", "my-llama")
    monkeypatch.setenv("SAGEMAKER_REGION", "eu-west-1")
    llama = load_catalog()["llama2-7b-chat"]
    assert llama.endpoint_name == "my-llama"
    assert runtime_client(llama).meta.region_name == "eu-west-1"


@pytest.mark.parametrize("mode", MODES)
def test_an_over_long_message_is_refused_before_calling_the_model(mode: str) -> None:
    session = ChatSession(LOCAL, mode=mode)
    with pytest.raises(PromptTooLong, match="Shorten the message"):
        session.ask("Seoul " * 9000)
    assert session.turns == []


def test_a_model_error_mid_call_leaves_the_session_unchanged() -> None:
    """The catalog claims more context than llama.cpp was loaded with, so the
    model itself rejects the prompt: a real ModelError through the real stack."""
    liar = replace(LOCAL, context_window=100_000)
    session = ChatSession(liar, params=GREEDY)
    with pytest.raises(ChatError, match="longer than the model"):
        list(session.ask("Seoul " * 9000))
    assert session.turns == [] and session.stats == []


def test_two_sessions_share_one_model_and_take_turns() -> None:
    """Two browser sessions asking at once: one model, calls serialized, both answered."""
    results: dict[int, str] = {}

    def chat(i: int) -> None:
        results[i] = answer(ChatSession(LOCAL, params=GREEDY), f"Say hello to visitor {i}.")

    threads = [threading.Thread(target=chat, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == [0, 1] and all(text.strip() for text in results.values())
    assert local_model.model.cache_info().currsize == 1


def test_the_runtime_endpoint_url_is_honoured_and_a_refused_connection_explained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real boto3 pointed by AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME at a closed port on
    127.0.0.1; the keys only get the request past signing."""
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:9")
    session = ChatSession(load_catalog()["falcon-7b-instruct"])
    with pytest.raises(EndpointUnreachable, match="Could not connect"):
        list(session.ask("Anyone there?"))
    assert session.turns == []
