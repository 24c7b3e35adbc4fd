"""Many answers at once to a remote endpoint: the stand-in for a GPU endpoint that
batches its requests (``python -m chat_core endpoint --concurrent``, which bench/load.py
runs) answers two requests at once, and the app's one shared sagemaker-runtime client
keeps a connection for each answer streaming at once, rather than opening and
dropping one per answer past botocore's default pool of 10 (urllib3 logs each drop:
"Connection pool is full, discarding connection")."""

import json
import logging
import threading
import time

import pytest
from shared import endpoint_server_process

from chat_core import aws

# A question of many words: the scripted answer quotes it, so it streams for a while.
QUESTION = " ".join(f"word{number}" for number in range(40))
STREAMS = 12  # answers streaming at once: more than botocore's default pool


def _stream(client: object, events: list[tuple[str, str]], name: str) -> None:
    """Ask ``QUESTION`` and note, in order with the other streams, its first and its last part."""
    body = json.dumps({"inputs": QUESTION, "parameters": {"max_new_tokens": 100}}).encode()
    response = client.invoke_endpoint_with_response_stream(EndpointName="stand-in", Body=body)  # type: ignore[attr-defined]
    for number, _ in enumerate(response["Body"]):
        if number == 0:
            events.append((name, "first"))
    events.append((name, "last"))


def _until(condition: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> object:
    with endpoint_server_process("stand-in", "scripted:20", options=("--concurrent",)) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", url)
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        yield aws.client("sagemaker-runtime")


def test_the_stand_in_answers_a_second_request_while_the_first_streams(stand_in: object) -> None:
    events: list[tuple[str, str]] = []
    first = threading.Thread(target=_stream, args=(stand_in, events, "first"))
    first.start()
    _until(lambda: ("first", "first") in events)
    second = threading.Thread(target=_stream, args=(stand_in, events, "second"))
    second.start()
    first.join(60)
    second.join(60)
    assert ("second", "last") in events  # both answered
    # Taking turns, the second answer would start only after the first had ended.
    assert events.index(("second", "first")) < events.index(("first", "last")), events


def test_answers_streaming_at_once_each_keep_their_connection(
    stand_in: object, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[tuple[str, str]] = []
    streams = [threading.Thread(target=_stream, args=(stand_in, events, str(n))) for n in range(STREAMS)]
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        for stream in streams:
            stream.start()
        for stream in streams:
            stream.join(60)
    assert sum(event == "last" for _, event in events) == STREAMS
    assert not [record.getMessage() for record in caplog.records if "pool is full" in record.getMessage()]
