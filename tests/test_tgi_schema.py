"""The endpoint server's answers as Hugging Face's TGI container sends them, field by field.

tests/golden/tgi-schema.json holds TGI's own response schemas, read from
huggingface/text-generation-inference at commit db931fcf42da018a3657580c64bf2720f167f9ab
(router/src/lib.rs, chat.rs, server.rs, sagemaker.rs and docs/openapi.json; the golden file
says which struct each entry is).  Real boto3 calls ``python -m chat_core endpoint``, run in
its own process as it is deployed with the scripted model (exact answers), and every event
of every stream, and every plain answer, must have exactly TGI's fields with TGI's types,
and the values TGI gives them: token events numbered from 1, the generated text and the
details on the last event only, the Messages API's chunk objects ending ``data:[DONE]``
with the usage chunk when ``stream_options.include_usage`` asks for it.  The Messages API's
chunks and answers are also read by the ``openai`` package's own models, as a third-party
client reads them.  The app's own content handlers must still read every format."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import openai.types.chat
import pytest
from botocore.exceptions import ClientError
from langchain_aws.llms.sagemaker_endpoint import LineIterator
from shared import endpoint_server_process, golden

from chat_core.local.scripted import answer_for
from chat_core.models.handlers import PAYLOADS
from chat_core.models.prompts import CHATML

SCHEMA = golden("tgi-schema")
QUESTION = "Name a colour."
ANSWER = answer_for(CHATML.render("", [], QUESTION))
WORDS = ANSWER.split(" ")
# The formats whose streams are TGI's token events (the JumpStart Llama containers stream as TGI does).
TOKEN_EVENT_FORMATS = ["tgi", "llama2-chat", "llama3"]


def mismatches(value: Any, kind: str, where: str = "$") -> list[str]:
    """Where ``value`` differs from ``kind``, a type of the golden schema: none when it conforms."""
    found: list[str] = []
    for alternative in kind.split("|"):
        wrong = _mismatches(value, alternative, where)
        if not wrong:
            return []
        found += wrong
    return found


def _mismatches(value: Any, kind: str, where: str) -> list[str]:
    primitive = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }
    if kind in primitive:
        return [] if primitive[kind] else [f"{where}: {value!r} is not {kind}"]
    if kind.startswith("["):
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        items = enumerate(value)
        return [wrong for i, item in items for wrong in mismatches(item, kind[1:-1], f"{where}[{i}]")]
    definition = SCHEMA[kind]
    if isinstance(definition, str):
        return mismatches(value, definition, where)
    if "enum" in definition:
        values = definition["enum"]
        return [] if value in values else [f"{where}: {value!r} is not one of {values}"]
    if not isinstance(value, dict):
        return [f"{where}: {value!r} is not a {kind} object"]
    fields = {name.rstrip("?"): field for name, field in definition.items()}
    required = {name for name in definition if not name.endswith("?")}
    wrong = [f"{where}: {kind} has no field {name!r}" for name in sorted(set(value) - set(fields))]
    wrong += [f"{where}: {kind} lacks {name!r}" for name in sorted(required - set(value))]
    for name, field in fields.items():
        if name in value:
            wrong += mismatches(value[name], field, f"{where}.{name}")
    return wrong


def test_the_schema_check_can_fail() -> None:
    token = {"id": 1, "text": "a", "logprob": -0.5, "special": False}
    assert mismatches(token, "Token") == []
    assert mismatches({**token, "id": None}, "Token")
    assert mismatches({**token, "extra": 1}, "Token")
    assert mismatches({k: v for k, v in token.items() if k != "special"}, "Token")
    event = {"index": 1, "token": token, "generated_text": None, "details": None}
    assert mismatches(event, "StreamResponse") == []
    assert mismatches({**event, "details": {}}, "StreamResponse")


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    served = tuple(f"golden-{payload}={payload}" for payload in PAYLOADS)
    with endpoint_server_process(None, "scripted:0", endpoints=served) as url:
        yield url


@pytest.fixture(scope="module")
def client(server_url: str):
    return boto3.client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=server_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def request(payload: str, *, stream: bool, max_new_tokens: int = 256, **extra: Any) -> dict[str, Any]:
    """The app's own request for ``payload``, with ``extra`` added to its parameters
    (``details``) or, for the Messages API, to the request (``stream_options``)."""
    handler = PAYLOADS[payload](stream=stream)
    prompt = handler.chat_format(CHATML).render("", [], QUESTION)  # the bundled model's layout
    body = handler.request(prompt, {"max_new_tokens": max_new_tokens, "stop": []})
    (body if payload == "messages" else body["parameters"]).update(extra)
    return body


def call(client, payload: str, body: dict[str, Any], *, stream: bool) -> Any:
    """The answer's body: boto3's event stream, or its StreamingBody."""
    arguments = {"EndpointName": f"golden-{payload}", "Body": json.dumps(body).encode()}
    if PAYLOADS[payload].custom_attributes:
        arguments["CustomAttributes"] = PAYLOADS[payload].custom_attributes
    if stream:
        return client.invoke_endpoint_with_response_stream(**arguments)["Body"]
    return client.invoke_endpoint(**arguments)["Body"]


def events(client, payload: str, max_new_tokens: int, **extra: Any) -> list[bytes]:
    """Each server-sent event's data: TGI (axum) writes ``data:`` then the JSON, no space."""
    body = request(payload, stream=True, max_new_tokens=max_new_tokens, **extra)
    stream = b"".join(event["PayloadPart"]["Bytes"] for event in call(client, payload, body, stream=True))
    assert stream.endswith(b"\n\n")
    raw = stream[:-2].split(b"\n\n")
    assert all(event.startswith(b"data:") and b"\n" not in event for event in raw), raw
    return [event[len(b"data:") :] for event in raw]


def answer(client, payload: str, max_new_tokens: int, **extra: Any) -> Any:
    body = request(payload, stream=False, max_new_tokens=max_new_tokens, **extra)
    return json.loads(call(client, payload, body, stream=False).read())


def expected(max_new_tokens: int) -> str:
    """The scripted answer, cut at ``max_new_tokens`` (each word is a token)."""
    return " ".join(WORDS[:max_new_tokens])


def asked(details: bool) -> dict[str, bool]:
    """TGI's ``details`` parameter, sent only when asked for, as the app's requests leave it out."""
    return {"details": True} if details else {}


ENDINGS = pytest.mark.parametrize(
    ("details", "max_new_tokens"), [(False, 256), (True, 256), (True, 5)], ids=["plain", "details", "length"]
)


@pytest.mark.parametrize("payload", TOKEN_EVENT_FORMATS)
@ENDINGS
def test_token_events_are_tgis_stream_responses(
    client, payload: str, details: bool, max_new_tokens: int
) -> None:
    stream = [json.loads(data) for data in events(client, payload, max_new_tokens, **asked(details))]
    for event in stream:
        assert mismatches(event, "StreamResponse") == []
    assert [event["index"] for event in stream] == list(range(1, len(stream) + 1))
    *tokens, last = stream
    assert all(event["generated_text"] is None and event["details"] is None for event in tokens)
    assert not any(event["token"]["special"] for event in tokens)
    assert not any("top_tokens" in event for event in stream)  # sent only when top_n_tokens asks
    text = "".join(event["token"]["text"] for event in stream if not event["token"]["special"])
    assert last["generated_text"] == text == expected(max_new_tokens)
    ended = max_new_tokens > len(WORDS)
    if ended:  # the model ended its answer: the end-of-sequence token comes last
        assert last["token"]["special"] and len(stream) == len(WORDS) + 1
    else:  # cut at max_new_tokens: the last token is text
        assert not last["token"]["special"] and len(stream) == max_new_tokens
    if not details:
        assert last["details"] is None
    else:
        assert last["details"]["finish_reason"] == ("eos_token" if ended else "length")
        assert last["details"]["generated_tokens"] == len(stream)
        assert last["details"]["seed"] is None  # greedy: TGI reports a seed only when sampling
        assert last["details"]["input_length"] > 0


@ENDINGS
def test_a_plain_tgi_answer_is_tgis_generate_response(client, details: bool, max_new_tokens: int) -> None:
    whole = answer(client, "tgi", max_new_tokens, **asked(details))
    assert mismatches(whole, "CompatGenerateResponse") == []
    (generation,) = whole
    assert generation["generated_text"] == expected(max_new_tokens)
    if not details:
        assert "details" not in generation
        return
    details_ = generation["details"]
    tokens = details_["tokens"]
    assert "".join(t["text"] for t in tokens if not t["special"]) == expected(max_new_tokens)
    assert details_["generated_tokens"] == len(tokens)
    assert details_["finish_reason"] == ("eos_token" if max_new_tokens > len(WORDS) else "length")
    assert details_["prefill"] == []  # decoder_input_details was not asked


@pytest.mark.parametrize("usage", [False, True], ids=["no-usage", "usage"])
@pytest.mark.parametrize("max_tokens", [256, 5], ids=["stop", "length"])
def test_messages_api_chunks_are_tgis_chat_completion_chunks(client, usage: bool, max_tokens: int) -> None:
    extra = {"stream_options": {"include_usage": True}} if usage else {}
    *data, done = events(client, "messages", max_tokens, **extra)
    chunks = [json.loads(chunk) for chunk in data]
    for chunk in chunks:
        assert mismatches(chunk, "ChatCompletionChunk") == []
        openai.types.chat.ChatCompletionChunk.model_validate(chunk)
    assert done == b"[DONE]"
    assert len({(chunk["id"], chunk["model"], chunk["system_fingerprint"]) for chunk in chunks}) == 1
    if usage:  # one more chunk, with no choices, before [DONE]
        *chunks, last = chunks
        assert last["choices"] == []
        counts = last["usage"]
        assert counts["prompt_tokens"] > 0 and counts["completion_tokens"] == len(chunks)
        assert counts["total_tokens"] == counts["prompt_tokens"] + counts["completion_tokens"]
    assert all(chunk["usage"] is None for chunk in chunks)
    choices = [choice for chunk in chunks for choice in chunk["choices"]]
    assert len(choices) == len(chunks)
    assert all(
        c["index"] == 0 and c["delta"]["role"] == "assistant" and c["logprobs"] is None for c in choices
    )
    ending = "stop" if max_tokens > len(WORDS) else "length"
    assert [c["finish_reason"] for c in choices] == [None] * (len(choices) - 1) + [ending]
    assert "".join(c["delta"]["content"] for c in choices) == expected(max_tokens)


@pytest.mark.parametrize("max_tokens", [256, 5], ids=["stop", "length"])
def test_a_plain_messages_api_answer_is_tgis_chat_completion(client, max_tokens: int) -> None:
    completion = answer(client, "messages", max_tokens)
    assert mismatches(completion, "ChatCompletion") == []
    openai.types.chat.ChatCompletion.model_validate(completion)
    (choice,) = completion["choices"]
    ended = max_tokens > len(WORDS)
    assert choice["message"] == {"role": "assistant", "content": expected(max_tokens)}
    assert choice["finish_reason"] == ("stop" if ended else "length")
    usage = completion["usage"]
    assert usage["completion_tokens"] == (len(WORDS) + 1 if ended else max_tokens)  # the end token counts
    assert usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_apps_handlers_read_every_format_streamed_and_plain(client, payload: str) -> None:
    handler = PAYLOADS[payload](stream=True)
    lines = LineIterator(call(client, payload, request(payload, stream=True), stream=True))
    assert "".join(handler.transform_output(line) for line in lines) == ANSWER
    plain = call(client, payload, request(payload, stream=False), stream=False)
    assert PAYLOADS[payload](stream=False).transform_output(plain) == ANSWER


@pytest.mark.parametrize(
    ("payload", "asked"),
    [
        ("tgi", {"top_n_tokens": 5}),
        ("tgi", {"decoder_input_details": True}),
        ("llama3", {"top_n_tokens": 5}),
        ("messages", {"logprobs": True}),
        ("messages", {"top_logprobs": 2}),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_log_probabilities_asked_for_are_refused(client, payload: str, asked: dict, stream: bool) -> None:
    """TGI answers these with log-probabilities; silently leaving them out would be a
    different answer, so the server says it cannot."""
    with pytest.raises(ClientError) as refused:
        call(client, payload, request(payload, stream=stream, **asked), stream=stream)
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert next(iter(asked)) in error["Message"] and "log-probabilities" in error["Message"]
