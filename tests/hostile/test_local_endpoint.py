"""The local endpoint server against callers that misbehave: a plain TGI prompt,
clients that reset, stall or lie about their bodies, and a browser page whose
DNS name was rebound to 127.0.0.1.  Real boto3 or raw sockets against the real
server on 127.0.0.1; the model is the scripted one (or one held until the test
lets it go), except in the test marked ``real_model``."""

import contextlib
import json
import queue
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import MAX_BODY_BYTES, EndpointServer
from chat_core.models.prompts import CHATML

FALCON = "jumpstart-dft-hf-llm-falcon-7b-instruct-bf16"
# The original Falcon project's own demo call.
DEMO = {"inputs": "Guide me how to travel from New York to LA.", "parameters": {"max_new_tokens": 200}}
BODY = json.dumps(DEMO).encode()
DEADLINE_S = 5.0  # how long a condition may take before the test fails; met in milliseconds when fixed


@contextlib.contextmanager
def serving(endpoint: LocalEndpoint, **options: float) -> Iterator[EndpointServer]:
    running = EndpointServer(endpoint, port=0, quiet=True, **options).start()
    try:
        yield running
    finally:
        running.shutdown()
        running.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[EndpointServer]:
    """One server for the tests that need no particular model (a server takes
    half a second to stop)."""
    with serving(LocalEndpoint(complete=ScriptedModel(token_ms=0).complete)) as running:
        yield running


def runtime(server: EndpointServer, config: Config | None = None):
    return boto3.client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def ask(server: EndpointServer, *, stream: bool) -> str:
    """The demo call through boto3; the answer's text."""
    client = runtime(server)
    if not stream:
        response = client.invoke_endpoint(EndpointName=FALCON, Body=BODY)
        (answer,) = json.loads(response["Body"].read())
        return answer["generated_text"]
    response = client.invoke_endpoint_with_response_stream(EndpointName=FALCON, Body=BODY)
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    return json.loads(parts[-1][len(b"data:") :])["generated_text"]  # TGI's last event holds it all


def raw(server: EndpointServer, request: bytes, *, timeout: float = DEADLINE_S) -> socket.socket:
    """A connection to the server that has sent ``request`` as it is."""
    connection = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=timeout)
    connection.sendall(request)
    return connection


def post(
    server: EndpointServer, *, host: str | None = None, length: str | None = None, body: bytes = BODY
) -> bytes:
    """A streaming-free InvokeEndpoint request, byte for byte, with the Host and
    Content-Length headers given (the right ones by default; ``""`` leaves one out)."""
    host = f"127.0.0.1:{server.server_address[1]}" if host is None else host
    length = str(len(body)) if length is None else length
    headers = [f"POST /endpoints/{FALCON}/invocations HTTP/1.1", "Content-Type: application/json"]
    headers += [f"Host: {host}"] if host else []
    headers += [f"Content-Length: {length}"] if length else []
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


def status_of(connection: socket.socket) -> tuple[int, dict[str, str]]:
    """The status and headers of the response the server sends on ``connection``."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {received!r}")
        received += chunk
    head = received.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:])
    return int(head[0].split()[1]), {name.lower(): value for name, value in headers.items()}


def closed_by_server(connection: socket.socket) -> bool:
    """Whether the server closes ``connection`` before the deadline, once it has
    sent whatever it had to say."""
    try:
        while connection.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


# The local endpoint answers a plain TGI prompt with nothing.


def test_a_plain_tgi_prompt_is_answered_as_one_user_turn() -> None:
    model = ScriptedModel(token_ms=0).enqueue("Fly, or drive for four days.", "Fly, or drive for four days.")
    with serving(LocalEndpoint(complete=model.complete)) as server:
        assert ask(server, stream=False) == "Fly, or drive for four days."
        assert ask(server, stream=True) == "Fly, or drive for four days."
    # The bundled model only follows ChatML: a prompt in no chat format is a user's question.
    assert model.prompts == [CHATML.render("", [], DEMO["inputs"])] * 2


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_an_answer_with_no_text_is_an_error_that_says_so(stream: bool) -> None:
    model = ScriptedModel(token_ms=0).enqueue(" \n ")  # only whitespace: nothing to read
    with serving(LocalEndpoint(complete=model.complete)) as server, pytest.raises(ClientError) as failure:
        ask(server, stream=stream)
    error = failure.value.response["Error"]
    assert error["Code"] == "ModelError" and "no text" in error["Message"]


@pytest.mark.real_model
def test_the_bundled_model_answers_the_falcon_demo_call() -> None:
    with serving(LocalEndpoint()) as server:
        assert ask(server, stream=False).strip()


# A client that resets a streaming connection leaks its slot.


class HeldModel:
    """A model that waits before its first token until the test lets it go."""

    def __init__(self) -> None:
        self.holding = True
        self.asked: queue.Queue[threading.Event] = queue.Queue()

    def complete(self, prompt: str, *, max_new_tokens: int, **sampling: object) -> Iterator[str]:
        if self.holding:
            go = threading.Event()
            self.asked.put(go)
            go.wait(DEADLINE_S)
        yield "Hello"
        yield " there."


def reset(connection: socket.socket) -> None:
    """Close with a TCP reset, as a killed client or a dropped network does."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def test_streams_reset_by_their_clients_give_their_places_back() -> None:
    model = HeldModel()
    with serving(LocalEndpoint(max_queue=2, complete=model.complete)) as server:
        streaming = post(server).replace(b"/invocations", b"/invocations-response-stream")
        for _ in range(3):  # each holds a place while the model starts, then its client is gone
            connection = raw(server, streaming)
            go = model.asked.get(timeout=DEADLINE_S)
            reset(connection)
            go.set()
        model.holding = False
        deadline = time.monotonic() + DEADLINE_S
        while True:  # the server may still be noticing the last reset
            with contextlib.closing(raw(server, post(server))) as connection:
                status, headers = status_of(connection)
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert (status, headers.get("x-amzn-errortype")) == (200, None)
        assert ask(server, stream=True) == "Hello there."


# Idle connections have no timeout.


def test_idle_and_half_sent_requests_are_dropped_and_slow_answers_are_not() -> None:
    slow = ScriptedModel(token_ms=150)  # longer between tokens than the timeout
    with serving(LocalEndpoint(complete=slow.complete), timeout_s=0.1) as server:
        stalled = [raw(server, b"") for _ in range(5)] + [raw(server, post(server)[:60])]
        assert all(closed_by_server(connection) for connection in stalled)  # idle, then half-sent
        for connection in stalled:
            connection.close()
        slow.enqueue("One two three.")
        assert ask(server, stream=True) == "One two three."


def test_connections_past_the_cap_are_refused_and_the_cap_frees_as_they_close() -> None:
    """300 half-open connections held 300 threads, each able to buffer a body."""
    endpoint = LocalEndpoint(complete=ScriptedModel(token_ms=0).complete)
    server = EndpointServer(endpoint, port=0, quiet=True, max_connections=2).start()
    try:
        held = [raw(server, b"POST /endpoints/") for _ in range(2)]
        assert closed_by_server(raw(server, b""))  # the third, at once
        for connection in held:
            connection.close()
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:  # until the server has seen both close
            with contextlib.suppress(ConnectionError), contextlib.closing(raw(server, post(server))) as again:
                if status_of(again)[0] == 200:
                    break
            time.sleep(0.01)
        else:
            pytest.fail("no connection was served after the held ones closed")
    finally:
        server.shutdown()
        server.server_close()


# Content-Length: -1 blocks a thread.


@pytest.mark.parametrize(
    ("length", "status"),
    [("-1", 400), ("x", 400), ("+5", 400), ("5, 5", 400), ("", 411)],
    ids=["negative", "not-a-number", "signed", "two-values", "missing"],
)
def test_a_request_without_a_valid_length_is_refused_at_once(
    length: str, status: int, server: EndpointServer
) -> None:
    with contextlib.closing(raw(server, post(server, length=length))) as connection:
        assert status_of(connection)[0] == status
        assert closed_by_server(connection)  # what follows cannot be told apart from a next request


# Bodies have no size limit.


def test_a_body_over_sagemakers_limit_is_refused_before_it_is_read(server: EndpointServer) -> None:
    # Only the headers are sent: the answer must not wait for the body.
    with contextlib.closing(
        raw(server, post(server, length=str(MAX_BODY_BYTES + 1), body=b""))
    ) as connection:
        status, headers = status_of(connection)
    assert (status, headers["x-amzn-errortype"]) == (413, "ValidationError")
    with pytest.raises(ClientError, match="larger than"):  # what a boto3 caller is told
        runtime(server).invoke_endpoint(EndpointName=FALCON, Body=b" " * (MAX_BODY_BYTES + 1))


# Requests whose Host is not the loopback address are accepted (DNS rebinding).


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("evil.example", 403),
        ("evil.example:{port}", 403),
        ("127.0.0.1.evil.example", 403),
        ("", 403),
        ("127.0.0.1:{port}", 200),
        ("localhost:{port}", 200),
        ("LOCALHOST", 200),
        ("[::1]:{port}", 200),
    ],
)
def test_only_requests_for_a_loopback_host_are_served(host: str, status: int, server: EndpointServer) -> None:
    request = post(server, host=host.format(port=server.server_address[1]))
    with contextlib.closing(raw(server, request)) as connection:
        assert status_of(connection)[0] == status


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:8501", "null"])
def test_a_request_sent_by_a_web_page_is_refused(origin: str, server: EndpointServer) -> None:
    """A page on any site can POST to 127.0.0.1 (its Host is right, it only cannot
    read the answer) and make the model work; browsers name the page in Origin,
    boto3 never sends one."""
    request = post(server).replace(b"Content-Type:", f"Origin: {origin}\r\nContent-Type:".encode(), 1)
    with contextlib.closing(raw(server, request)) as connection:
        assert status_of(connection)[0] == 403


# A body nested 2,000 deep closed the connection without a reply (a RecursionError).

UNREADABLE = {
    "nested-2000-deep": b"[" * 2000 + b"]" * 2000,
    "nested-in-inputs": b'{"inputs": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    "objects-nested-2000-deep": b'{"a": ' * 2000 + b"1" + b"}" * 2000,
    "not-json": b"{inputs",
    "not-utf-8": b'{"inputs": "\xff\xfe"}',
    "a-list": b"[]",
    "endless-max-new-tokens": b'{"inputs": "Hi", "parameters": {"max_new_tokens": 1e999}}',
}


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_a_body_that_cannot_be_read_is_a_validation_error(body: bytes, server: EndpointServer) -> None:
    with contextlib.closing(raw(server, post(server, body=body))) as connection:
        status, headers = status_of(connection)
    assert (status, headers["x-amzn-errortype"]) == (400, "ValidationError")
    with pytest.raises(ClientError) as refused:  # and what a boto3 caller is told
        runtime(server).invoke_endpoint(EndpointName=FALCON, Body=body)
    assert refused.value.response["Error"]["Code"] == "ValidationError"


def test_an_unexpected_failure_is_answered_as_sagemakers_internal_failure() -> None:
    working = ScriptedModel(token_ms=0)
    calls = []

    def broken_once(prompt: str, **options: Any) -> Iterator[str]:
        calls.append(prompt)
        if len(calls) == 1:
            raise RuntimeError("the model's library broke")
        return working.complete(prompt, **options)

    with serving(LocalEndpoint(complete=broken_once)) as server:
        client = runtime(server, Config(retries={"total_max_attempts": 1}))  # the answer itself, not retried
        with pytest.raises(ClientError) as failed:
            client.invoke_endpoint(EndpointName=FALCON, Body=BODY)
        assert ask(server, stream=False)  # and it serves the next call
    error = failed.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (500, "InternalFailure")
    assert "RuntimeError" in error["Error"]["Message"]


def test_a_failure_after_the_stream_began_ends_it_with_sagemakers_failure_event() -> None:
    def failing_midway(prompt: str, **options: Any) -> Iterator[str]:
        yield "Hello"
        yield " there"
        raise RuntimeError("the model's library broke")

    with serving(LocalEndpoint(complete=failing_midway)) as server:
        response = runtime(server).invoke_endpoint_with_response_stream(EndpointName=FALCON, Body=BODY)
        with pytest.raises(EventStreamError) as failed:
            for _ in response["Body"]:
                pass
    error = failed.value.response["Error"]
    assert error["Code"] == "InternalStreamFailure" and "RuntimeError" in error["Message"]


# 64 clients trickling a byte a second kept every other request out: each read
# came within the idle timeout, and nothing bounded the request as a whole.


def trickle(connection: socket.socket, request: bytes, every_s: float) -> None:
    """Send ``request`` a byte at a time, until the server closes the connection."""
    with contextlib.suppress(OSError):
        for byte in request:
            connection.sendall(bytes([byte]))
            time.sleep(every_s)


def served(server: EndpointServer) -> bool:
    """Whether a request of ours is answered, rather than its connection closed."""
    with contextlib.suppress(ConnectionError), contextlib.closing(raw(server, post(server))) as ours:
        return status_of(ours)[0] == 200
    return False


def test_clients_that_trickle_their_requests_are_cut_off_and_others_are_served() -> None:
    slow = ScriptedModel(token_ms=300)  # an answer that takes longer than the request deadline
    with serving(LocalEndpoint(complete=slow.complete), max_connections=4, request_deadline_s=0.5) as server:
        tricklers = [raw(server, b"") for _ in range(4)]  # every connection the server allows
        for connection in tricklers:  # a byte every 0.1 s: the 30 s idle timeout never fires
            threading.Thread(target=trickle, args=(connection, post(server), 0.1), daemon=True).start()
        try:
            slow.enqueue("Served.")
            deadline = time.monotonic() + DEADLINE_S
            while not served(server):  # refused at once while the tricklers hold every place
                if time.monotonic() > deadline:
                    pytest.fail("the trickling clients kept every other request out")
                time.sleep(0.05)
            assert all(closed_by_server(connection) for connection in tricklers)
            slow.enqueue("One two three four.")  # the deadline bounds the request, not its answer
            assert ask(server, stream=True) == "One two three four."
        finally:
            for connection in tricklers:
                connection.close()
