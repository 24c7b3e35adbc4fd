"""Waiting for an answer: what the wait says while no token has come, the guard that
stops an answer repeating itself, and a Stop that leaves no error in the server's log.
The scripted model where text and pace must be exact; SmolLM2 in ``real_model`` tests."""

import itertools
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from langchain_core.runnables import RunnableConfig, RunnableLambda
from shared import until

from chat_core.conversations.backends import open_store
from chat_core.conversations.exchange import Exchange, Settings, State
from chat_core.conversations.reply import Reply, TokenRelay
from chat_core.conversations.session import ChatSession
from chat_core.i18n import Text
from chat_core.local import model as local_model
from chat_core.local import runtime
from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import EndpointServer
from chat_core.models.catalog import GenerationParams, custom_model, load_catalog
from chat_core.models.endpoint import ChatClient

LOCAL = load_catalog()["local-smollm2"]
SETTINGS = Settings(LOCAL, GenerationParams(max_new_tokens=400, temperature=0.0, top_p=1.0))


@pytest.fixture
def taking_turns(monkeypatch: pytest.MonkeyPatch, scripted: ScriptedModel) -> ScriptedModel:
    """The scripted model taking its turn on the bundled model's queue, as SmolLM2 does."""
    monkeypatch.setattr(runtime.ENDPOINT, "complete", local_model.in_turn(scripted.complete))
    return scripted


@pytest.fixture
def held() -> Iterator[threading.Event]:
    """The bundled model busy with another user's question until the event is set."""
    taken, release = threading.Event(), threading.Event()

    def other_question() -> None:
        with local_model.TURNS.turn():
            taken.set()
            release.wait(60)

    thread = threading.Thread(target=other_question, daemon=True)
    thread.start()
    assert taken.wait(10)
    yield release
    release.set()
    thread.join(10)


def test_the_wait_names_the_questions_ahead_and_counts_the_seconds(
    taking_turns: ScriptedModel, held: threading.Event
) -> None:
    """While another question holds the bundled model, the wait says so, with seconds
    that go up; once it is done, the answer comes."""
    taking_turns.enqueue("The Han river.")
    seen: list[str] = []

    def waiting(status: Text | None) -> None:
        seen.append(status.text("en") if status else "")
        if any(line.endswith("· 2 s") for line in seen):
            held.set()  # the other question is done

    reply = ChatSession().ask("Which river flows through Seoul?", SETTINGS, waiting=waiting)
    assert "".join(reply) == "The Han river."
    queued = "1 question ahead of yours (the bundled model answers one at a time, users in turn) · "
    assert any(line.startswith(queued) for line in seen), seen
    seconds = [int(line.rsplit("· ", 1)[1].removesuffix(" s")) for line in seen if line]
    assert seconds == sorted(seconds) and seconds[-1] > seconds[0], seen


def test_a_question_stopped_while_waiting_its_turn_leaves_the_queue(
    taking_turns: ScriptedModel, held: threading.Event
) -> None:
    """Two questions wait behind another user's; the first is stopped while it waits.
    The second then has one question ahead of it, not two, and once the other user's
    is done it is answered at once: the stopped question's prompt is never read."""
    taking_turns.enqueue("The second answer.")
    first = ChatSession().ask("The first question?", SETTINGS)
    threading.Thread(target=lambda: "".join(first), daemon=True).start()
    assert until(lambda: (status := first.waited()) is not None and status.text("en").startswith("1 "))
    seen: list[str] = []
    second = ChatSession().ask("The second question?", SETTINGS, waiting=lambda s: seen.append(s.text("en")))
    answered: list[str] = []
    threading.Thread(target=lambda: answered.append("".join(second)), daemon=True).start()
    assert until(lambda: any(line.startswith("2 questions ahead") for line in seen)), seen
    first.request_stop()  # the first one's Stop
    assert until(lambda: seen[-1].startswith("1 question ahead")), seen[-3:]
    held.set()  # the other user's question is done
    assert until(lambda: bool(answered)) and answered == ["The second answer."]
    assert len(taking_turns.prompts) == 1 and "The second question?" in taking_turns.prompts[0]
    assert first.exchange.state is State.UNANSWERED


def test_the_wait_says_what_the_model_is_doing_in_both_languages(scripted: ScriptedModel) -> None:
    """With nothing ahead, the wait says what the model is doing; the Korean reads the same."""
    scripted.token_s = 0.8  # the first token comes after two looks at the wait
    seen: list[Text] = []
    reply = ChatSession().ask("Hello?", SETTINGS, waiting=lambda status: seen.append(status))
    "".join(itertools.islice(iter(reply), 1))
    reply.stop()
    assert seen and seen[0].text("en") == "The model is reading the question · 0 s"
    assert seen[0].text("ko") == "모델이 질문을 읽는 중 · 0초"


def test_an_answer_repeating_one_span_is_stopped_and_marked(scripted: ScriptedModel) -> None:
    """A small model caught in a loop ("the answer is: 2. " over and over until max
    tokens) is stopped once the span has come many times; the text so far is kept,
    marked, and says why."""
    scripted.enqueue("Here is what I found. " + "The error code is E42 again. " * 80)
    chat = ChatSession()
    text = "".join(chat.ask("What does error E42 mean?", SETTINGS))
    last = chat.exchanges[-1]
    assert last.state is State.STOPPED
    assert text.startswith("Here is what I found. The error code is E42 again.")
    assert text.count("E42 again") < 20  # stopped well before max tokens
    assert last.reason is not None and "repeat" in last.reason.text("en")
    assert "반복" in last.reason.text("ko")


def test_a_looping_answer_reopened_is_still_marked(tmp_path) -> None:
    """The mark of an answer stopped for repeating is saved with it: the conversation
    opened again (another session, a reload) says why it was stopped."""
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    chat = ChatSession(store)
    scripted_loop = "Here is what I found. " + "The error code is E42 again. " * 80
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime.ENDPOINT, "complete", ScriptedModel(token_ms=0).enqueue(scripted_loop).complete)
        "".join(chat.ask("What does error E42 mean?", SETTINGS))
    reopened = ChatSession(store)
    reopened.open(chat.conversation_id or "")
    last = reopened.exchanges[-1]
    assert last.state is State.STOPPED
    assert last.reason is not None and "kept repeating" in last.reason.text("en")
    assert "반복" in last.reason.text("ko")


def test_an_empty_piece_of_text_is_never_passed_on() -> None:
    """An empty piece of text from a model would read as "still waiting" in a compared
    column (``Comparison.__iter__``), which clears the column's text.  LangChain's
    SagemakerEndpoint drops empty text today; the reply must not depend on it: a model
    of our own (a LangChain runnable sending its tokens to the relay, as an LLM does)
    sends one after its first words."""

    def model(inputs: dict[str, str], config: RunnableConfig) -> str:
        for token in ("Seoul", " has", "", " the", " Han."):
            for handler in config["callbacks"].handlers:
                handler.on_llm_new_token(token)
        return ""

    exchange = Exchange("Which river?")
    relay = TokenRelay(RunnableLambda(model), {}, ChatClient(None), owner="ana")
    reply = Reply(exchange, relay, SETTINGS, time.perf_counter(), None, 0, 60.0, save=lambda done: None)
    assert list(reply) == ["Seoul", " has", " the", " Han."]
    assert exchange.answer == "Seoul has the Han."


def test_an_answer_with_some_repetition_is_left_alone(scripted: ScriptedModel) -> None:
    """A list whose lines share words, or a word said a few times, is no loop."""
    answer = " ".join(f"- Step {n}: open the door." for n in range(30)) + " Done, done, done."
    scripted.enqueue(answer)
    chat = ChatSession()
    assert "".join(chat.ask("How do I open the doors?", SETTINGS)) == answer
    assert chat.exchanges[-1].state is State.ANSWERED


def test_a_stop_leaves_no_error_in_the_log(scripted: ScriptedModel, caplog: pytest.LogCaptureFixture) -> None:
    """Stopping an answer is no error: the server's log stays clean (LangChain logs a
    warning for any Exception a callback raises, before raising it on)."""
    scripted.token_s = 0.05
    scripted.enqueue(" ".join(f"word{n}" for n in range(200)))
    chat = ChatSession()
    with caplog.at_level(logging.WARNING):
        reply = chat.ask("Tell me a long story.", SETTINGS)
        "".join(itertools.islice(iter(reply), 3))
        reply.stop()
    assert chat.exchanges[-1].state is State.STOPPED
    assert [r.getMessage() for r in caplog.records if "Error in" in r.getMessage()] == []


def test_a_compared_model_waiting_its_turn_says_so_while_the_other_streams(
    taking_turns: ScriptedModel,
) -> None:
    """Two compared answers from the bundled model take turns: the second column
    says that one question is ahead of it while the first one's text streams."""
    taking_turns.token_s = 0.3
    taking_turns.enqueue(" ".join(f"word{n}" for n in range(8)), "The second answer.")
    warm = Settings(LOCAL, GenerationParams(max_new_tokens=40, temperature=0.7, top_p=1.0))
    comparison = ChatSession().compare("Which river?", [SETTINGS, warm])
    waits: dict[int, list[str]] = {0: [], 1: []}
    for index, text in comparison:
        reply = comparison.candidates[index].reply
        if text == "" and reply and (status := reply.waited()):
            waits[index].append(status.text("en"))
    assert all(c.exchange.state is State.ANSWERED for c in comparison.candidates)
    queued = [line for waited in waits.values() for line in waited if line.startswith("1 question ahead")]
    assert queued, waits


def test_a_stop_of_a_remote_answer_leaves_no_error_in_the_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The same through boto3 and HTTP, against the endpoint server on 127.0.0.1:
    shutting the stream mid-answer is no error either."""
    long = " ".join(f"word{n}" for n in range(200))
    endpoint = LocalEndpoint({"falcon-a": "tgi"}, complete=ScriptedModel(token_ms=50).enqueue(long).complete)
    server = EndpointServer(endpoint, port=0, quiet=True).start()
    for name, value in {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": server.url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }.items():
        monkeypatch.setenv(name, value)
    falcon = custom_model("falcon-a", "tgi", 2048, "us-east-1")
    chat = ChatSession()
    try:
        with caplog.at_level(logging.WARNING):
            reply = chat.ask("Tell me a long story.", Settings(falcon, SETTINGS.params))
            "".join(itertools.islice(iter(reply), 3))
            reply.stop()
    finally:
        server.shutdown()
        server.server_close()
    assert chat.exchanges[-1].state is State.STOPPED
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.real_model
def test_the_bundled_model_caught_in_a_loop_is_stopped_and_marked() -> None:
    """SmolLM2, greedy, asked to count a word said twenty times, writes it on and on
    until max new tokens; the guard ends it, marked."""
    chat = ChatSession()
    greedy = Settings(LOCAL, GenerationParams(max_new_tokens=200, temperature=0.0, top_p=1.0, seed=1))
    text = "".join(chat.ask("Count the words: " + " ".join(["cat"] * 20), greedy))
    last = chat.exchanges[-1]
    assert last.state is State.STOPPED and last.reason is not None
    assert "repeating" in last.reason.text("en")
    assert text.count("cat") < 120  # well before the 200 tokens it would have written
