"""Real boto3 and langchain-aws against the local endpoint server on 127.0.0.1.

The server ignores SigV4 signatures; the test keys only let botocore sign.  It
answers with the scripted model (exact answers, and the prompts it was given),
except in tests marked ``real_model``, which run the bundled SmolLM2 itself."""

import contextlib
import json
import threading
from collections.abc import Generator, Iterator
from dataclasses import replace

import boto3
import pytest
from botocore.eventstream import EventStreamBuffer
from shared import answered, point_at, serving

from chat_core.conversations.exchange import MODES, Exchange, Settings, State
from chat_core.conversations.session import ChatSession
from chat_core.errors import (
    ChatError,
    EndpointNotFound,
    EndpointTimeout,
    MalformedResponse,
    MissingCredentials,
    ModelFailed,
    PromptTooLong,
    RequestRejected,
    Throttled,
    explain,
)
from chat_core.local.endpoint import LocalEndpoint, Response
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import EndpointServer, event_message
from chat_core.models.catalog import GenerationParams, custom_model, load_catalog
from chat_core.models.endpoint import endpoint_llm
from chat_core.models.handlers import PAYLOADS
from chat_core.models.prompts import CHATML, Turn

GREEDY = GenerationParams(max_new_tokens=24, temperature=0.0, top_p=1.0, seed=0)
SERVED = {f"test-{payload}": payload for payload in PAYLOADS}


@pytest.fixture
def script() -> ScriptedModel:
    """The model behind ``server``: ``script.enqueue`` sets its answers."""
    return ScriptedModel(token_ms=0)


@pytest.fixture
def server(script: ScriptedModel) -> Iterator[EndpointServer]:
    with serving(LocalEndpoint(SERVED, complete=script.complete)) as running:
        yield running


@pytest.fixture(scope="module")
def real_server() -> Iterator[EndpointServer]:
    """The endpoint server with the bundled model behind it."""
    with serving(LocalEndpoint(SERVED)) as running:
        yield running


class HeldModel:
    """A model that, once asked, holds on (a long generation) until released."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.released = threading.Event()

    def complete(self, prompt: str, *, max_new_tokens: int, **sampling: object) -> Iterator[str]:
        self.asked.set()
        self.released.wait(60)  # released by the test when it ends; the bound only guards a hang
        yield "Done."


def model(payload: str, endpoint: str | None = None):
    return custom_model(endpoint or f"test-{payload}", payload, 8192, None)


CONVERSATION = ("Be brief.", [Turn("Hi", "Hello!")], "Name a colour.")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_format_reaches_the_model_as_the_same_conversation(
    payload: str, server: EndpointServer, script: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model only follows ChatML: messages become its turns, and a text prompt
    is given as written, in its layout (the in-process model's every call)."""
    point_at(monkeypatch, server)
    spec = replace(model(payload), prompt_format=CHATML)
    prompt = spec.chat_format.render(*CONVERSATION)
    answer = "Red, like a ripe tomato."
    script.enqueue(answer, answer)
    whole = endpoint_llm(spec, GREEDY, streaming=False).invoke(prompt)
    streamed = list(endpoint_llm(spec, GREEDY, streaming=True).stream(prompt))
    assert whole == answer
    assert streamed == ["Red,", " like", " a", " ripe", " tomato."]
    assert script.prompts == [CHATML.render(*CONVERSATION)] * 2


@pytest.mark.parametrize("payload", ["tgi", "llama3"])
def test_another_familys_text_prompt_is_asked_as_one_user_turn(
    payload: str, server: EndpointServer, script: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Falcon's or Llama 3's layout is not parsed back into turns: the model reads it
    as the one question it was given, its control tokens text."""
    point_at(monkeypatch, server)
    spec = model(payload)
    prompt = spec.chat_format.render(*CONVERSATION)
    endpoint_llm(spec, GREEDY, streaming=False).invoke(prompt)
    assert script.prompts == [CHATML.render("", [], prompt)]


@pytest.mark.real_model
@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_format_answers_the_same_streamed_and_not(
    payload: str, real_server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, real_server)
    spec = replace(model(payload), prompt_format=CHATML)  # the model's own layout, as text or messages
    prompt = spec.chat_format.render(*CONVERSATION)
    whole = endpoint_llm(spec, GREEDY, streaming=False).invoke(prompt)
    streamed = list(endpoint_llm(spec, GREEDY, streaming=True).stream(prompt))
    assert whole.strip()
    assert len(streamed) > 1 and "".join(streamed) == whole


@pytest.mark.real_model
@pytest.mark.parametrize("mode", MODES)
def test_the_built_in_jumpstart_models_chat_through_the_server(
    mode: str, real_server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, real_server)
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_LLAMA2_7B_CHAT", "test-llama2-chat")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_FALCON_7B_INSTRUCT", "test-tgi")
    for spec in list(load_catalog().values())[1:]:
        session = ChatSession()
        settings = Settings(spec, GREEDY, mode)
        first = "".join(session.ask("I live in Seoul, Korea.", settings))
        second = "".join(session.ask("Tell me how to travel the city.", settings))
        assert first.strip() and second.strip()
        assert answered(session) == [
            ("I live in Seoul, Korea.", first),
            ("Tell me how to travel the city.", second),
        ]
        assert [e.state for e in session.exchanges] == [State.ANSWERED, State.ANSWERED]


def test_the_default_endpoint_names_are_served() -> None:
    assert LocalEndpoint().endpoints == {
        "jumpstart-dft-meta-textgeneration-llama-2-7b-f": "llama2-chat",
        "jumpstart-dft-hf-llm-falcon-7b-instruct-bf16": "tgi",
        "local-e5-small": "jumpstart",
        "local-e5-small-tei": "tei",
    }


def test_streams_are_aws_event_stream_payload_parts(server: EndpointServer, script: ScriptedModel) -> None:
    decoder = EventStreamBuffer()
    decoder.add_data(event_message(b"data: hello\n\n"))
    (message,) = list(decoder)
    assert message.headers[":event-type"] == "PayloadPart" and message.payload == b"data: hello\n\n"

    client = boto3.client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    script.enqueue("One two three four five six.")
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="test-tgi", Body=b'{"inputs": "Hi", "parameters": {"max_new_tokens": 4}}'
    )
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    # 4 tokens, the last one carrying the text: TGI ends an answer cut at max_new_tokens on its last token
    assert len(parts) == 4 and all(part.startswith(b"data:") for part in parts)
    assert json.loads(parts[-1][len(b"data:") :])["generated_text"] == "One two three four"


def ask_and_fail(spec, question: str = "Are you there?") -> pytest.ExceptionInfo[ChatError]:
    """Ask, one exchange into a chat; the answer must fail with a ChatError, leave
    the history as it was, and show the question as failed, saying why."""
    session = ChatSession()
    session.exchanges.append(Exchange("Hi", answer="Hello!", state=State.ANSWERED))
    with pytest.raises(ChatError) as failure:
        list(session.ask(question, Settings(spec, GREEDY)))
    assert answered(session) == [("Hi", "Hello!")]
    last = session.exchanges[-1]
    assert (last.question, last.state, last.reason) == (question, State.FAILED, failure.value.message)
    return failure


def test_fault_no_credentials(server: EndpointServer, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(monkeypatch, server, keys=False)
    failure = ask_and_fail(model("tgi"))
    assert failure.type is MissingCredentials and "aws configure" in str(failure.value)


def test_fault_unknown_endpoint(server: EndpointServer, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(monkeypatch, server)
    failure = ask_and_fail(model("tgi", "no-such-endpoint"))
    assert failure.type is EndpointNotFound and "does not exist" in str(failure.value)


def test_fault_validation_error(server: EndpointServer, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(monkeypatch, server)  # a TGI request sent to a Llama 2 chat endpoint
    failure = ask_and_fail(model("tgi", "test-llama2-chat"))
    assert failure.type is RequestRejected and "payload format" in str(failure.value)


def test_fault_model_error_without_the_eula(server: EndpointServer, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(monkeypatch, server)  # a TGI request, which carries no EULA, to a Llama 3 endpoint
    failure = ask_and_fail(model("tgi", "test-llama3"))
    assert issubclass(failure.type, ModelFailed) and "accept_eula=true" in str(failure.value)


@pytest.mark.real_model
def test_fault_prompt_over_the_context_window(
    real_server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, real_server)  # llama.cpp itself refuses the prompt
    liar = replace(model("tgi"), context_window=100_000)
    failure = ask_and_fail(liar, "Seoul " * 9000)
    assert failure.type is PromptTooLong


class GarblingEndpoint(LocalEndpoint):
    """An endpoint whose stream is not what it claims: no real endpoint can be made
    to misbehave on purpose, so this one replaces the answer with garbage."""

    def invoke(self, endpoint: str, body: bytes | str, **options: object) -> Response:
        def garbage() -> Generator[bytes, None, None]:
            yield b'data:{"token": {"text": " Hel'
            yield b'lo", "special": false}}\n\ndata: <html>502 Bad Gateway</html>\n\n'

        return Response("text/event-stream", events=garbage())


def test_fault_malformed_response(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(GarblingEndpoint(SERVED, complete=ScriptedModel(token_ms=0).complete)) as garbling:
        point_at(monkeypatch, garbling)
        failure = ask_and_fail(model("tgi"))
        assert issubclass(failure.type, ModelFailed) and "cannot read" in str(failure.value)


def test_a_plain_answer_of_the_wrong_shape_is_malformed(
    server: EndpointServer, script: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, server)  # a Llama 3 reader given TGI's list-shaped answer
    script.enqueue("Hello there.")
    spec = model("llama3", "test-tgi")
    with pytest.raises(MalformedResponse) as failure:
        endpoint_llm(spec, GREEDY, streaming=False).invoke(spec.chat_format.render("", [], "Hi"))
    assert "cannot read" in str(explain(failure.value, spec.endpoint_name))


def test_fault_throttled_after_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    held = HeldModel()
    with serving(LocalEndpoint(SERVED, max_queue=0, complete=held.complete)) as busy:
        point_at(monkeypatch, busy)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # one retry, after a backoff of up to 1 s

        def hold_the_model() -> None:
            with contextlib.suppress(Exception):
                endpoint_llm(model("tgi"), GREEDY).invoke("Hi")

        blocker = threading.Thread(target=hold_the_model, daemon=True)
        blocker.start()
        try:
            assert held.asked.wait(30)  # the blocker holds the model: every other request waits
            failure = ask_and_fail(model("tgi"))
            assert failure.type is Throttled and "Wait a few seconds" in str(failure.value)
        finally:
            held.released.set()
            blocker.join(30)


def test_fault_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    held = HeldModel()  # answers only after the test, far past the read timeout
    with serving(LocalEndpoint(SERVED, complete=held.complete)) as slow:
        point_at(monkeypatch, slow)
        monkeypatch.setenv("SAGEMAKER_READ_TIMEOUT", "0.25")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        try:
            failure = ask_and_fail(model("tgi"))
            assert failure.type is EndpointTimeout and "did not answer in time" in str(failure.value)
        finally:
            held.released.set()
