"""Real boto3 and langchain-aws against the local endpoint server on 127.0.0.1.

The server ignores SigV4 signatures; the test keys only let botocore sign."""

import contextlib
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import replace

import boto3
import pytest
from botocore.eventstream import EventStreamBuffer

from chat_core.conversations.session import MODES, ChatSession
from chat_core.errors import (
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
from chat_core.local.endpoint import PAYLOAD_FORMATS, LocalEndpoint, Response
from chat_core.local.server import EndpointServer, event_message
from chat_core.models.catalog import GenerationParams, custom_model, load_catalog
from chat_core.models.endpoint import endpoint_llm
from chat_core.models.prompts import Turn

GREEDY = GenerationParams(max_new_tokens=24, temperature=0.0, top_p=1.0)
SERVED = {f"test-{payload}": payload for payload in PAYLOAD_FORMATS}


def serve(**options: object) -> EndpointServer:
    return EndpointServer(LocalEndpoint(SERVED, **options), port=0, quiet=True).start()


@pytest.fixture(scope="module")
def server() -> Iterator[EndpointServer]:
    running = serve()
    yield running
    running.shutdown()


def point_at(monkeypatch: pytest.MonkeyPatch, server: EndpointServer, *, keys: bool = True) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    if keys:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def model(payload: str, endpoint: str | None = None):
    return custom_model(endpoint or f"test-{payload}", payload, 8192, None)


@pytest.mark.parametrize("payload", PAYLOAD_FORMATS)
def test_every_format_answers_the_same_streamed_and_not(
    payload: str, server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, server)
    spec = model(payload)
    prompt = spec.prompt_format.render("Be brief.", [Turn("Hi", "Hello!")], "Name a colour.")
    whole = endpoint_llm(spec, GREEDY, streaming=False).invoke(prompt)
    streamed = list(endpoint_llm(spec, GREEDY, streaming=True).stream(prompt))
    assert whole.strip()
    assert len(streamed) > 1 and "".join(streamed) == whole


@pytest.mark.parametrize("mode", MODES)
def test_the_built_in_jumpstart_models_chat_through_the_server(
    mode: str, server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, server)
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_LLAMA2_7B_CHAT", "test-llama2-chat")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_FALCON_7B_INSTRUCT", "test-tgi")
    for spec in list(load_catalog().values())[1:]:
        session = ChatSession(spec, mode=mode, params=GREEDY)
        first = "".join(session.ask("I live in Seoul, Korea."))
        second = "".join(session.ask("Tell me how to travel the city."))
        assert first.strip() and second.strip()
        assert [t.question for t in session.turns] == [
            "I live in Seoul, Korea.",
            "Tell me how to travel the city.",
        ]


def test_the_default_endpoint_names_are_served() -> None:
    assert LocalEndpoint().endpoints == {
        "jumpstart-dft-meta-textgeneration-llama-2-7b-f": "llama2-chat",
        "jumpstart-dft-hf-llm-falcon-7b-instruct-bf16": "tgi",
    }


def test_streams_are_aws_event_stream_payload_parts(server: EndpointServer) -> None:
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
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="test-tgi", Body=b'{"inputs": "Hi", "parameters": {"max_new_tokens": 4}}'
    )
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    assert len(parts) == 5 and all(part.startswith(b"data:") for part in parts)


def ask_and_fail(session: ChatSession, question: str = "Are you there?") -> str:
    """Ask; the answer must fail with a ChatError and leave the history as it was."""
    before = list(session.turns)
    with pytest.raises(Exception) as failure:
        list(session.ask(question))
    assert session.turns == before
    return failure


def chatting(spec) -> ChatSession:
    session = ChatSession(spec, params=GREEDY)
    session.turns, session.stats = [Turn("Hi", "Hello!")], [None]
    return session


def test_fault_no_credentials(server: EndpointServer, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(monkeypatch, server, keys=False)
    failure = ask_and_fail(chatting(model("tgi")))
    assert failure.type is MissingCredentials and "aws configure" in str(failure.value)


def test_fault_unknown_endpoint(server: EndpointServer, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(monkeypatch, server)
    failure = ask_and_fail(chatting(model("tgi", "no-such-endpoint")))
    assert failure.type is EndpointNotFound and "does not exist" in str(failure.value)


def test_fault_validation_error(server: EndpointServer, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(monkeypatch, server)  # a TGI request sent to a Llama 2 chat endpoint
    failure = ask_and_fail(chatting(model("tgi", "test-llama2-chat")))
    assert failure.type is RequestRejected and "payload format" in str(failure.value)


def test_fault_model_error_without_the_eula(server: EndpointServer, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(monkeypatch, server)  # a TGI request, which carries no EULA, to a Llama 3 endpoint
    failure = ask_and_fail(chatting(model("tgi", "test-llama3")))
    assert failure.type is ModelFailed and "accept_eula=true" in str(failure.value)


def test_fault_prompt_over_the_context_window(
    server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, server)
    liar = replace(model("tgi"), context_window=100_000)
    failure = ask_and_fail(chatting(liar), "Seoul " * 9000)
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
    garbling = EndpointServer(GarblingEndpoint(SERVED), port=0, quiet=True).start()
    try:
        point_at(monkeypatch, garbling)
        failure = ask_and_fail(chatting(model("tgi")))
        assert failure.type is ModelFailed and "cannot read" in str(failure.value)
    finally:
        garbling.shutdown()


def test_a_plain_answer_of_the_wrong_shape_is_malformed(
    server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, server)  # a Llama 3 reader given TGI's list-shaped answer
    spec = model("llama3", "test-tgi")
    with pytest.raises(MalformedResponse) as failure:
        endpoint_llm(spec, GREEDY, streaming=False).invoke(spec.prompt_format.render("", [], "Hi"))
    assert "cannot read" in str(explain(failure.value, spec.endpoint_name))


def test_fault_throttled_after_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = serve(max_queue=0, latency_s=60)
    try:
        point_at(monkeypatch, busy)

        def hold_the_model() -> None:
            with contextlib.suppress(Exception):  # it outlives the test, and its server
                endpoint_llm(model("tgi"), GREEDY).invoke("Hi")

        blocker = threading.Thread(target=hold_the_model, daemon=True)
        blocker.start()
        deadline = time.monotonic() + 30
        while busy.endpoint.in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the blocker holds the model
        failure = ask_and_fail(chatting(model("tgi")))
        assert failure.type is Throttled and "Wait a few seconds" in str(failure.value)
    finally:
        busy.shutdown()


def test_fault_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = serve(latency_s=3)
    try:
        point_at(monkeypatch, slow)
        monkeypatch.setenv("SAGEMAKER_READ_TIMEOUT", "1")
        failure = ask_and_fail(chatting(model("tgi")))
        assert failure.type is EndpointTimeout and "did not answer in time" in str(failure.value)
    finally:
        slow.shutdown()
