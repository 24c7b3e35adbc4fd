"""The bundled model served in any of the JumpStart payload formats.

A ``LocalEndpoint`` maps endpoint names to payload formats and answers a request
body the way a real SageMaker endpoint of that kind would: the same JSON, the
same streamed events, and the same faults (``EndpointFault`` carries SageMaker's
error code and HTTP status).  It is shared by the in-process client
(``local_runtime.py``) and the HTTP server (``endpoint_server.py``), so that
developing against the SageMaker contract costs no instance.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from chat_core.local import model as local_model
from chat_core.models.prompts import CHATML, FORMATS, Turn

PAYLOAD_FORMATS = ("llama2-chat", "llama3", "tgi", "messages")
EULA_FORMATS = ("llama2-chat", "llama3")
DEFAULT_ENDPOINTS = {
    "jumpstart-dft-meta-textgeneration-llama-2-7b-f": "llama2-chat",
    "jumpstart-dft-hf-llm-falcon-7b-instruct-bf16": "tgi",
}
DEFAULT_MAX_NEW_TOKENS = 256


class EndpointFault(Exception):
    """An error response, as SageMaker's runtime API gives it."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _validation(message: str) -> EndpointFault:
    return EndpointFault("ValidationError", message, 400)


@dataclass
class Generation:
    """What a request asks the model for, whatever its payload format."""

    prompt: str
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


def _chatml(messages: list[dict[str, Any]]) -> str:
    """Messages as a prompt in the bundled model's own chat format."""
    system = ""
    if messages and messages[0].get("role") == "system":
        system, messages = str(messages[0].get("content", "")), messages[1:]
    roles = [m.get("role") for m in messages]
    if not roles or len(roles) % 2 == 0 or roles != ["user", "assistant"] * (len(roles) // 2) + ["user"]:
        raise _validation(
            "messages must be an optional system message, then user and assistant "
            "messages alternating, ending with a user message"
        )
    texts = [str(m.get("content", "")) for m in messages]
    turns = [Turn(q, a) for q, a in zip(texts[:-1:2], texts[1::2], strict=True)]
    return CHATML.render(system, turns, texts[-1])


def _as_chatml(prompt: str) -> str:
    """A prompt written for another chat format, rewritten for the bundled model
    (it only follows ChatML); a prompt in no known format goes through as it is."""
    if prompt.startswith("<|im_start|>"):  # ChatML already: the in-process model's every call
        return prompt
    for fmt in FORMATS.values():
        try:
            return _chatml(fmt.messages(prompt))
        except (ValueError, EndpointFault):
            continue
    return prompt


def _sampling(parameters: dict[str, Any], prompt: str) -> Generation:
    sampling = parameters.get("do_sample", "temperature" in parameters)
    return Generation(
        prompt=prompt,
        max_new_tokens=int(parameters.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
        temperature=float(parameters.get("temperature", 1.0)) if sampling else 0.0,
        top_p=float(parameters.get("top_p", 1.0)),
        stop=_stops(parameters.get("stop")),
        seed=parameters.get("seed"),
    )


def _stops(stop: str | list[str] | None) -> list[str]:
    return [stop] if isinstance(stop, str) else [str(s) for s in stop or []]


def _parse(payload: str, request: dict[str, Any]) -> Generation:
    if payload == "messages":
        return Generation(
            prompt=_chatml(request["messages"]),
            max_new_tokens=int(request.get("max_tokens", DEFAULT_MAX_NEW_TOKENS)),
            temperature=float(request.get("temperature", 0.0)),
            top_p=float(request.get("top_p", 1.0)),
            stop=_stops(request.get("stop")),
            seed=request.get("seed"),
        )
    parameters = request.get("parameters", {})
    if not isinstance(parameters, dict):
        raise TypeError("parameters must be an object")
    if payload == "llama2-chat":
        dialogs = request["inputs"]
        if not isinstance(dialogs, list) or len(dialogs) != 1:
            raise _validation("inputs must be a list holding exactly one dialog")
        return _sampling(parameters, _chatml(dialogs[0]))
    if not isinstance(request["inputs"], str):
        raise TypeError("inputs must be a string")
    return _sampling(parameters, _as_chatml(request["inputs"]))


def _accepted_eula(custom_attributes: str | None) -> bool:
    # "key=value; key=value", the last value of a key wins (JumpStart's Llama notebooks).
    values = dict(pair.strip().split("=", 1) for pair in (custom_attributes or "").split(";") if "=" in pair)
    return values.get("accept_eula", "").lower() == "true"


def _plain(payload: str, text: str) -> dict[str, Any] | list[dict[str, Any]]:
    if payload == "llama2-chat":
        return [{"generation": {"role": "assistant", "content": text}}]
    if payload == "llama3":
        return {"generated_text": text}
    if payload == "messages":
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "SmolLM2-135M-Instruct",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
        }
    return [{"generated_text": text}]


def _events(payload: str, tokens: Iterator[str]) -> Generator[bytes, None, None]:
    """Server-sent events, one per token: TGI's ``data:{"token": ...}`` for the
    text formats, OpenAI-style chunks ending ``data: [DONE]`` for messages."""
    text = ""
    for index, token in enumerate(tokens):
        text += token
        if payload == "messages":
            delta = {"choices": [{"index": 0, "delta": {"content": token}, "finish_reason": None}]}
            yield b"data: " + json.dumps(delta).encode() + b"\n\n"
        else:
            event = {
                "index": index,
                "token": {"id": None, "text": token, "special": False},
                "generated_text": None,
                "details": None,
            }
            yield b"data:" + json.dumps(event).encode() + b"\n\n"
    if payload == "messages":
        done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield b"data: " + json.dumps(done).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"
    else:
        end = {"token": {"id": None, "text": "", "special": True}, "generated_text": text, "details": None}
        yield b"data:" + json.dumps(end).encode() + b"\n\n"


@dataclass
class Response:
    content_type: str
    body: bytes | None = None  # a plain answer
    events: Generator[bytes, None, None] | None = None  # a streamed one: one PayloadPart per item


class LocalEndpoint:
    def __init__(
        self,
        endpoints: dict[str, str] | None = None,
        *,
        latency_s: float = 0.0,
        max_queue: int = 16,
        complete: Callable[..., Iterator[str]] = local_model.complete,
    ) -> None:
        """``complete`` generates the text (``local_model.complete``'s signature).
        bench/ gives a stand-in that answers at once, to time clients against a
        fast remote endpoint, which this machine cannot run."""
        self.endpoints = dict(DEFAULT_ENDPOINTS if endpoints is None else endpoints)
        unknown = set(self.endpoints.values()) - set(PAYLOAD_FORMATS)
        if unknown:
            raise ValueError(f"unknown payload formats {sorted(unknown)}; known: {PAYLOAD_FORMATS}")
        self.latency_s = latency_s
        self.max_queue = max_queue
        self.complete = complete
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        """Requests being answered or waiting for the model."""
        return self._in_flight

    def invoke(
        self, endpoint: str, body: bytes | str, *, stream: bool, custom_attributes: str | None = None
    ) -> Response:
        payload = self.endpoints.get(endpoint)
        if payload is None:
            raise _validation(f"Endpoint {endpoint} of account local not found.")
        try:
            generation = _parse(payload, json.loads(body))
        except EndpointFault:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise _validation(f"Malformed {payload} request: {error}") from error
        if payload in EULA_FORMATS and not _accepted_eula(custom_attributes):
            raise EndpointFault(
                "ModelError",
                "Need to pass custom_attributes='accept_eula=true' as part of header. This means you "
                "have read and accept the end-user-license-agreement (EULA) of the model.",
                424,
            )
        tokens = self._admitted(generation)
        if stream:
            return Response("text/event-stream", events=_events(payload, tokens))
        return Response("application/json", body=json.dumps(_plain(payload, "".join(tokens))).encode())

    def _admitted(self, generation: Generation) -> Iterator[str]:
        """Start generating, or refuse when more requests already wait than allowed.
        The first token is produced before returning, so that a prompt the model
        rejects fails the call itself, as it does on SageMaker."""
        with self._lock:
            if self._in_flight > self.max_queue:  # one is generating, the rest wait
                raise EndpointFault("ThrottlingException", "Rate exceeded: too many requests wait.", 400)
            self._in_flight += 1
        try:
            if self.latency_s:
                time.sleep(self.latency_s)
            tokens = self.complete(
                generation.prompt,
                max_new_tokens=generation.max_new_tokens,
                temperature=generation.temperature,
                top_p=generation.top_p,
                stop=generation.stop,
                seed=generation.seed,
            )
            first = next(tokens, "")
        except ValueError as error:  # llama.cpp: "Requested tokens (n) exceed context window of m"
            self._leave()
            message = f"Received client error (400) from primary: {error}"
            raise EndpointFault("ModelError", message, 424) from error
        except BaseException:
            self._leave()
            raise
        return self._until_done(first, tokens)

    def _until_done(self, first: str, tokens: Iterator[str]) -> Iterator[str]:
        try:
            if first:
                yield first
            yield from tokens
        finally:
            self._leave()

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
