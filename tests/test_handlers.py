"""Content handlers: request bodies against golden files taken from AWS's JumpStart
samples, and the streamed answers they read."""

import io
import json
from typing import Any

import pytest
from langchain_aws.llms.sagemaker_endpoint import LineIterator
from shared import golden

from chat_core.models.handlers import PAYLOADS, TGIHandler

SYSTEM, QUESTION = "Always answer with Haiku", "I am going to Paris, what should I see?"


def kwargs(temperature: float = 0.6, stop: tuple[str, ...] = ()) -> dict:
    return {"max_new_tokens": 512, "temperature": temperature, "top_p": 0.9, "seed": None, "stop": stop}


@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_requests_match_the_jumpstart_samples(payload: str) -> None:
    fmt = PAYLOADS[payload].prompt_format
    handler = PAYLOADS[payload](stream=True)
    prompt = handler.chat_format(fmt).render(SYSTEM, [], QUESTION)
    body = json.loads(handler.transform_input(prompt, kwargs(stop=fmt.stop)))
    assert body == golden(payload)


def test_llama_requests_carry_the_eula_and_the_others_do_not() -> None:
    assert {p: h.custom_attributes for p, h in PAYLOADS.items()} == {
        "llama2-chat": "accept_eula=true",
        "llama3": "accept_eula=true",
        "tgi": None,
        "messages": None,
    }


def test_temperature_zero_is_sent_as_greedy() -> None:
    body = json.loads(TGIHandler().transform_input("User: hi\nAssistant:", kwargs(temperature=0.0)))
    assert body["parameters"]["do_sample"] is False
    assert "temperature" not in body["parameters"] and "top_p" not in body["parameters"]
    assert "stream" not in body


TGI_STREAM = (
    b'data:{"index":0,"token":{"id":9,"text":" Bonjour","logprob":-0.1,"special":false},'
    b'"generated_text":null,"details":null}\n\n'
    b'data:{"index":1,"token":{"id":10,"text":" \xc3\xa0 \xec\x84\x9c\xec\x9a\xb8","special":false},'
    b'"generated_text":null,"details":null}\n\n'
    b'data:{"index":2,"token":{"id":2,"text":"</s>","special":true},'
    b'"generated_text":" Bonjour \xc3\xa0 \xec\x84\x9c\xec\x9a\xb8","details":null}\n\n'
)


def streamed_text(parts: list[bytes]) -> str:
    handler = TGIHandler(stream=True)
    events = ({"PayloadPart": {"Bytes": part}} for part in parts)
    return "".join(handler.transform_output(line) for line in LineIterator(events))


def test_a_tgi_stream_cut_at_every_byte_offset_reads_the_same() -> None:
    expected = " Bonjour à 서울"
    assert streamed_text([TGI_STREAM]) == expected
    for cut in range(1, len(TGI_STREAM)):
        assert streamed_text([TGI_STREAM[:cut], TGI_STREAM[cut:]]) == expected, cut


def test_a_stream_cut_into_single_bytes_reads_the_same() -> None:
    assert streamed_text([TGI_STREAM[i : i + 1] for i in range(len(TGI_STREAM))]) == " Bonjour à 서울"


def test_messages_api_stream_lines() -> None:
    handler = PAYLOADS["messages"](stream=True)
    lines = [
        b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}',
        b'data: {"choices":[{"index":0,"delta":{"content":" there"},"finish_reason":null}]}',
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
        b"data: [DONE]",
    ]
    assert "".join(handler.transform_output(line) for line in lines) == "Hi there"


@pytest.mark.parametrize(
    "output",
    [
        io.BytesIO(b'[{"generated_text": "Seoul \\ud800is big"}]'),
        b'data:{"token": {"id": 0, "text": "Seoul \\ud800is big", "special": false}}\n',
    ],
    ids=["plain", "streamed"],
)
def test_half_a_character_from_an_endpoint_is_a_replacement_character(output: Any) -> None:
    """JSON may escape a lone surrogate, which no store can keep and no page can
    send: the answer shows U+FFFD in its place, as a broken character always does."""
    handler = PAYLOADS["tgi"](stream=isinstance(output, bytes))
    assert handler.transform_output(output) == "Seoul \ufffdis big"
