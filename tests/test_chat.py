"""Chat sessions in both conversation modes: the scripted model where exact text
matters, the real bundled model for the original app's two-turn demo."""

import threading
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
from shared import answered

from chat_core.conversations.exchange import MODES, Exchange, Settings, State
from chat_core.conversations.session import ChatSession
from chat_core.conversations.sqlite import SQLiteStore
from chat_core.errors import (
    ChatError,
    EndpointNotConfigured,
    EndpointUnreachable,
    MissingCredentials,
    PromptTooLong,
)
from chat_core.local import model as local_model
from chat_core.local.scripted import ScriptedModel
from chat_core.models.budget import count_tokens
from chat_core.models.catalog import GenerationParams, load_catalog
from chat_core.models.endpoint import runtime_client
from chat_core.models.prompts import Turn

LOCAL = load_catalog()["local-smollm2"]
GREEDY = GenerationParams(max_new_tokens=48, temperature=0.0, top_p=1.0)


def answer(session: ChatSession, question: str, settings: Settings) -> str:
    return "".join(session.ask(question, settings))


@pytest.mark.real_model
@pytest.mark.parametrize("mode", MODES)
def test_the_original_two_turn_demo_on_the_bundled_model(mode: str) -> None:
    """The original app's demo: a fact, then a question that needs it."""
    session = ChatSession()
    settings = Settings(LOCAL, GREEDY, mode)
    first = answer(session, "I live in Seoul, Korea.", settings)
    chunks = list(session.ask("Tell me how to travel the city.", settings))

    assert first.strip() and "".join(chunks).strip() and len(chunks) > 1  # streamed, token by token
    assert answered(session) == [
        ("I live in Seoul, Korea.", first),
        ("Tell me how to travel the city.", "".join(chunks)),
    ]
    stats = session.exchanges[-1].stats
    assert stats is not None and stats.first_token_s > 0 and stats.tokens > 1 and stats.tokens_per_s


@pytest.mark.parametrize("mode", MODES)
def test_the_second_question_is_asked_with_the_first_turn_in_the_prompt(
    mode: str, scripted: ScriptedModel
) -> None:
    scripted.enqueue("Seoul is lovely.", "Take the subway.")
    session = ChatSession()
    settings = Settings(LOCAL, GREEDY, mode)
    assert answer(session, "I live in Seoul, Korea.", settings) == "Seoul is lovely."
    assert answer(session, "Tell me how to travel the city.", settings) == "Take the subway."
    prompt = scripted.prompts[-1]
    positions = [prompt.index(text) for text in ("I live in Seoul", "Seoul is lovely.", "travel the city")]
    assert positions == sorted(positions)
    assert [e.state for e in session.exchanges] == [State.ANSWERED, State.ANSWERED]


def test_conversation_chain_mode_raises_no_deprecation_warnings() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answer(ChatSession(), "Hello!", Settings(LOCAL, GREEDY, "ConversationChain"))
    assert [w for w in caught if "deprecat" in str(w.message).lower()] == []


SMALL = replace(LOCAL, context_window=400)
FACTS = [(f"Tell me fact number {i} about Seoul.", "Seoul is big. " * 6) for i in range(12)]


def crowded(mode: str, scripted: ScriptedModel) -> tuple[ChatSession, Settings]:
    """A session whose 12 past turns overflow a 400-token context window (asked in
    PromptTemplate mode, which drops nothing for good); the next question goes in ``mode``."""
    session, settings = ChatSession(), Settings(SMALL, GenerationParams(16, 0.0, 1.0))
    scripted.enqueue(*(fact for _, fact in FACTS))
    for question, _ in FACTS:
        answer(session, question, settings)
    return session, replace(settings, mode=mode)


def test_conversation_chain_drops_oldest_turns_instead_of_overflowing(scripted: ScriptedModel) -> None:
    session, settings = crowded("ConversationChain", scripted)
    reply = session.ask("Which river flows through Seoul?", settings)
    list(reply)

    assert reply.notice and "oldest turns left the chain's memory" in reply.notice.text("en")
    assert "가장 오래된" in reply.notice.text("ko")
    prompt = scripted.prompts[-1]
    assert count_tokens(SMALL, prompt) <= 400 - 16
    assert "fact number 11" in prompt and "fact number 0 " not in prompt
    dropped = session.exchanges[-1].memory_start
    assert 0 < dropped < 12 and len(answered(session)) == 13  # the record keeps everything

    list(session.ask("And its length?", settings))
    assert f"fact number {dropped - 1} " not in scripted.prompts[-1]  # dropped for good, not re-added


def test_prompt_template_mode_windows_without_telling(scripted: ScriptedModel) -> None:
    session, settings = crowded("PromptTemplate", scripted)
    reply = session.ask("Which river flows through Seoul?", settings)
    list(reply)
    assert reply.notice is None
    assert "fact number 11" in scripted.prompts[-1] and "fact number 0 " not in scripted.prompts[-1]
    assert count_tokens(SMALL, scripted.prompts[-1]) <= 400 - 16


def test_one_dropped_turn_is_told_in_the_singular(scripted: ScriptedModel) -> None:
    session = ChatSession()
    tiny = replace(LOCAL, context_window=120)
    settings = Settings(tiny, GenerationParams(16, 0.0, 1.0), "ConversationChain")
    scripted.enqueue("Seoul is big. " * 5, "Busan is by the sea. " * 5)
    answer(session, "Tell me about Seoul.", settings)
    answer(session, "Tell me about Busan.", settings)
    reply = session.ask("Which is bigger?", settings)
    list(reply)
    assert reply.notice and "the 1 oldest turn left" in reply.notice.text("en")


@pytest.mark.parametrize("mode", MODES)
def test_remote_model_without_region_says_what_to_do_and_keeps_the_session(
    mode: str, scripted: ScriptedModel
) -> None:
    session = ChatSession()
    answer(session, "hi", Settings(LOCAL, GREEDY, mode))
    llama = load_catalog()["llama2-7b-chat"]
    with pytest.raises(EndpointNotConfigured, match="SAGEMAKER_REGION or AWS_REGION"):
        list(session.ask("Are you there?", Settings(llama, llama.defaults, mode)))
    assert len(answered(session)) == 1
    failed = session.exchanges[-1]
    assert failed.state is State.FAILED and "SAGEMAKER_REGION" in failed.reason.text("en")


@pytest.mark.parametrize("mode", MODES)
def test_remote_model_without_credentials_says_what_to_do(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    falcon = load_catalog()["falcon-7b-instruct"]
    session = ChatSession()
    with pytest.raises(MissingCredentials, match="No AWS credentials"):
        list(session.ask("Are you there?", Settings(falcon, falcon.defaults, mode)))
    assert answered(session) == []


def test_endpoint_names_and_region_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_LLAMA2_7B_CHAT", "my-llama")
    monkeypatch.setenv("SAGEMAKER_REGION", "eu-west-1")
    llama = load_catalog()["llama2-7b-chat"]
    assert llama.endpoint_name == "my-llama"
    assert runtime_client(llama).meta.region_name == "eu-west-1"


@pytest.mark.parametrize("mode", MODES)
def test_an_over_long_message_is_refused_before_calling_the_model(mode: str, scripted: ScriptedModel) -> None:
    session = ChatSession()
    with pytest.raises(PromptTooLong, match="Shorten the message"):
        session.ask("Seoul " * 9000, Settings(LOCAL, LOCAL.defaults, mode))
    assert answered(session) == [] and scripted.prompts == []


@pytest.mark.real_model
def test_a_model_error_mid_call_leaves_the_session_unchanged() -> None:
    """The catalog claims more context than llama.cpp was loaded with, so the
    model itself rejects the prompt: a real ModelError through the real stack."""
    liar = replace(LOCAL, context_window=100_000)
    session = ChatSession()
    with pytest.raises(ChatError, match="longer than the model"):
        list(session.ask("Seoul " * 9000, Settings(liar, GREEDY)))
    assert answered(session) == [] and session.exchanges[-1].state is State.FAILED


@pytest.mark.real_model
def test_two_sessions_share_one_model_and_take_turns() -> None:
    """Two browser sessions asking at once: one model, calls serialized, both answered."""
    results: dict[int, str] = {}

    def chat(i: int) -> None:
        results[i] = answer(ChatSession(), f"Say hello to visitor {i}.", Settings(LOCAL, GREEDY))

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
    falcon = load_catalog()["falcon-7b-instruct"]
    session = ChatSession()
    with pytest.raises(EndpointUnreachable, match="Could not connect"):
        list(session.ask("Anyone there?", Settings(falcon, falcon.defaults)))
    assert answered(session) == []


@pytest.mark.parametrize("mode", MODES)
def test_a_saved_answer_records_its_model_parameters_and_the_tokens_of_the_prompt_sent(
    mode: str, scripted: ScriptedModel, tmp_path: Path
) -> None:
    """Usage and the feedback export read these from the store: the input tokens
    are those of the prompt the endpoint was sent, history included."""
    scripted.enqueue("Seoul is lovely.", "Take the subway.")
    session = ChatSession(SQLiteStore(tmp_path / "chat.db"))
    settings = Settings(LOCAL, GREEDY, mode)
    answer(session, "I live in Seoul, Korea.", settings)
    answer(session, "Tell me how to travel the city.", settings)

    record = session.store.messages("local", session.conversation_id)[-1].stats
    assert record["input_tokens"] == count_tokens(LOCAL, scripted.prompts[-1])
    assert record["tokens"] == count_tokens(LOCAL, "Take the subway.")
    assert record["model"] == "local-smollm2" and record["endpoint"] == "local-smollm2"
    assert record["params"] == {"max_new_tokens": 48, "temperature": 0.0, "top_p": 1.0, "seed": None}
    assert record["seconds"] >= record["first_token_s"] > 0


class _Sealed(Exchange):
    """An old exchange that a question's prompt should never need to read."""

    def __getattribute__(self, name: str) -> object:
        if name in ("question", "answer"):
            raise AssertionError("read a turn far outside the window")
        return super().__getattribute__(name)


@pytest.mark.parametrize("mode", MODES)
def test_a_question_late_in_a_long_conversation_reads_only_the_turns_its_window_holds(
    mode: str, scripted: ScriptedModel
) -> None:
    """Each question's work outside the model must not grow with the conversation
    (bench/turn_overhead.py: 10,000 turns): the prompt holds the newest turns that
    fit, and the thousands before them are never read."""
    session = ChatSession()
    settings = Settings(LOCAL, GREEDY, mode)
    session.exchanges = [_Sealed("old", answer="old", state=State.ANSWERED) for _ in range(3000)]
    recent = [Turn(f"Question {i}?", f"Answer {i}.") for i in range(1000)]  # more than the window holds
    for turn in recent:  # the chain's memory dropped the old turns long ago
        exchange = Exchange(turn.question, answer=turn.answer, state=State.ANSWERED, memory_start=3000)
        session.exchanges.append(exchange)
    scripted.enqueue("Fine.")

    assert answer(session, "And now?", settings) == "Fine."
    prompt = scripted.prompts[-1]
    assert recent[-1].answer in prompt and recent[0].answer not in prompt  # the newest that fit
