"""Every AWS client the app makes is made one way and read one way: the SageMaker
runtime (answers), the SageMaker API (the account's endpoints), DynamoDB
(conversations) and S3 (uploads) get the same timeouts and retries, and the same
failure reads the same in each place that reports it.

Real boto3 against servers on 127.0.0.1 run here: one that answers every request
with a given error (AWS's own wire format for it), one that takes each request
and says nothing, then hangs up."""

from __future__ import annotations

import ast
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chat_core.conversations.backends import open_store
from chat_core.documents.uploads import open_uploads
from chat_core.errors import ChatError, explain
from chat_core.models.catalog import load_catalog
from chat_core.models.discovery import list_endpoints
from chat_core.models.endpoint import endpoint_llm

BUCKET = "uploads"  # the server answers requests under /uploads as S3 does, the others as JSON APIs
HANG_UP = 5  # seconds the silent server holds a request: past every read timeout set here


def ask_the_store() -> None:
    open_store("dynamodb://chat")


def ask_the_uploads() -> None:
    open_uploads(f"s3://{BUCKET}/pdfs").record("0" * 64)


def ask_the_listing() -> None:
    list_endpoints()


def ask_the_model() -> None:
    falcon = load_catalog()["falcon-7b-instruct"]
    try:
        endpoint_llm(falcon, falcon.defaults, streaming=False).invoke("Hi")
    except Exception as error:  # as the chat page gets it
        raise explain(error, falcon.endpoint_name) from error


CALLERS: dict[str, Callable[[], None]] = {
    "dynamodb": ask_the_store,
    "s3": ask_the_uploads,
    "sagemaker": ask_the_listing,
    "sagemaker-runtime": ask_the_model,
}


def pointed_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for service in ("DYNAMODB", "S3", "SAGEMAKER", "SAGEMAKER_RUNTIME"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # the keys only get requests past signing
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


class Failing(ThreadingHTTPServer):
    """Answers every request with one AWS error, and counts the requests."""

    def __init__(self, status: int, json_code: str, s3_code: str) -> None:
        super().__init__(("127.0.0.1", 0), _Answer)
        self.status, self.json_code, self.s3_code = status, json_code, s3_code
        self.requests = 0


class _Answer(BaseHTTPRequestHandler):
    server: Failing

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests += 1
        if self.path.startswith(f"/{BUCKET}"):
            body = f"<Error><Code>{self.server.s3_code}</Code><Message>No.</Message></Error>".encode()
            headers = {"Content-Type": "application/xml"}
        else:
            code = self.server.json_code
            body = json.dumps({"__type": code, "message": "No."}).encode()
            headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}
        self.send_response(self.server.status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # S3's GetObject
        self._answer()

    def do_POST(self) -> None:  # every other call here
        self._answer()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int, str, str], Failing]]:
    servers: list[Failing] = []

    def start(status: int, json_code: str, s3_code: str) -> Failing:
        server = Failing(status, json_code, s3_code)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        pointed_at(monkeypatch, f"http://127.0.0.1:{server.server_address[1]}")
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A server that takes each request and answers nothing until it hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def hold(connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            stop.wait(HANG_UP)

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            threading.Thread(target=hold, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    pointed_at(monkeypatch, f"http://127.0.0.1:{listener.getsockname()[1]}")
    yield
    stop.set()
    listener.close()


def failure_of(caller: str) -> ChatError:
    with pytest.raises(ChatError) as raised:
        CALLERS[caller]()
    return raised.value


def in_both_languages(error: ChatError) -> tuple[str, str]:
    english, korean = error.text("en"), error.text("ko")
    assert re.search("[\uac00-\ud7a3]", korean), korean
    for text in (english, korean):
        assert "127.0.0.1" not in text and "http" not in text
    return english, korean


@pytest.mark.parametrize("caller", CALLERS)
def test_every_client_makes_four_attempts_by_default(caller: str, failing: Callable[..., Failing]) -> None:
    """A server error is tried again by every client alike, four attempts in all
    (README: AWS_MAX_ATTEMPTS), then reported."""
    server = failing(500, "InternalFailure", "InternalError")
    failure_of(caller)
    assert server.requests == 4


@pytest.mark.parametrize("caller", CALLERS)
def test_every_client_honours_aws_max_attempts(
    caller: str, failing: Callable[..., Failing], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    server = failing(500, "InternalFailure", "InternalError")
    failure_of(caller)
    assert server.requests == 2


@pytest.mark.parametrize("caller", CALLERS)
def test_a_server_that_says_nothing_is_reported_as_not_answering_in_time(
    caller: str, silent: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_READ_TIMEOUT", "0.5")
    monkeypatch.setenv("SAGEMAKER_READ_TIMEOUT", "0.5")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    english, korean = in_both_languages(failure_of(caller))
    assert "did not answer in time" in english and "제때 응답하지 않았습니다" in korean


# An AWS answer (status, JSON APIs' code, S3's code), and what each caller says of it.
ANSWERS = {
    "throttled": ((400, "ThrottlingException", "SlowDown"), "is busy", "바쁩니다"),
    "credentials refused": (
        (403, "UnrecognizedClientException", "InvalidAccessKeyId"),
        "AWS refused the credentials",
        "자격 증명",
    ),
}


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize("caller", CALLERS)
def test_an_aws_error_reads_the_same_wherever_it_happens(
    caller: str, answer: str, failing: Callable[..., Failing], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    error, said, said_in_korean = ANSWERS[answer]
    failing(*error)
    english, korean = in_both_languages(failure_of(caller))
    assert said in english and said_in_korean in korean


@pytest.mark.parametrize("caller", CALLERS)
def test_no_credentials_read_as_such_wherever_they_are_missing(
    caller: str, failing: Callable[..., Failing], monkeypatch: pytest.MonkeyPatch
) -> None:
    failing(500, "InternalFailure", "InternalError")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    english, korean = in_both_languages(failure_of(caller))
    assert "no aws credentials were found" in english.lower() and "자격 증명이 없습니다" in korean


def test_boto3_is_imported_by_the_client_factory_alone() -> None:
    """Any other module making a client of its own would escape the settings above."""
    package = Path(__file__).resolve().parents[1] / "chat_core"
    importers = set()
    for module in package.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "boto3" for name in names):
                importers.add(module.relative_to(package).as_posix())
    assert importers == {"aws.py"}
