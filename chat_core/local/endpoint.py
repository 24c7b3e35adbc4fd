"""The bundled model served in any of the JumpStart payload formats.

A ``LocalEndpoint`` maps endpoint names to payload formats and answers a request
body the way a real SageMaker endpoint of that kind would: the same JSON, the
same streamed events, and the same faults (``EndpointFault`` carries SageMaker's
error code and HTTP status).  It is shared by the in-process client
(``runtime.py``) and the HTTP server (``server.py``), so that
developing against the SageMaker contract costs no instance.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from chat_core.local import model as local_model
from chat_core.local.scripted import DEFAULT_TOKEN_MS, ScriptedModel
from chat_core.models.catalog import BUILT_IN
from chat_core.models.handlers import PAYLOADS, PayloadHandler, Request
from chat_core.models.prompts import CHATML, FORMATS, Turn

# The JumpStart endpoints of the catalog, each in its payload format.
DEFAULT_ENDPOINTS = {spec.endpoint_name: spec.payload for spec in BUILT_IN if not spec.is_local}


class EndpointFault(Exception):
    """An error response, as SageMaker's runtime API gives it."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _validation(message: str) -> EndpointFault:
    return EndpointFault("ValidationError", message, 400)


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


def _as_chatml(request: Request) -> str:
    """The request's prompt in the bundled model's own chat format (it only follows
    ChatML); a prompt in no known format goes through as it is."""
    if request.messages is not None:
        return _chatml(request.messages)
    prompt = request.prompt or ""
    if prompt.startswith("<|im_start|>"):  # ChatML already: the in-process model's every call
        return prompt
    for fmt in FORMATS.values():
        try:
            return _chatml(fmt.messages(prompt))
        except (ValueError, EndpointFault):
            continue
    return prompt


def chosen_model() -> Callable[..., Iterator[str]]:
    """SmolLM2, or with ``LOCAL_MODEL=scripted[:MS]`` the scripted stand-in (local/scripted.py)."""
    name, _, token_ms = os.environ.get("LOCAL_MODEL", "smollm2").partition(":")
    if name == "scripted":
        return ScriptedModel(float(token_ms or DEFAULT_TOKEN_MS)).complete
    return local_model.complete


def _accepted_eula(custom_attributes: str | None) -> bool:
    # "key=value; key=value", the last value of a key wins (JumpStart's Llama notebooks).
    values = dict(pair.strip().split("=", 1) for pair in (custom_attributes or "").split(";") if "=" in pair)
    return values.get("accept_eula", "").lower() == "true"


@dataclass
class Response:
    content_type: str
    body: bytes | None = None  # a plain answer
    events: Iterator[bytes] | None = None  # a streamed one: one PayloadPart per item


class LocalEndpoint:
    def __init__(
        self,
        endpoints: dict[str, str] | None = None,
        *,
        latency_s: float = 0.0,
        max_queue: int = 16,
        complete: Callable[..., Iterator[str]] | None = None,
    ) -> None:
        """``complete`` generates the text (``local_model.complete``'s signature);
        by default the model ``LOCAL_MODEL`` names (``chosen_model``).  bench/
        gives a stand-in that answers at once, to time clients against a fast
        remote endpoint, which this machine cannot run."""
        self.endpoints = dict(DEFAULT_ENDPOINTS if endpoints is None else endpoints)
        unknown = set(self.endpoints.values()) - set(PAYLOADS)
        if unknown:
            raise ValueError(f"unknown payload formats {sorted(unknown)}; known: {list(PAYLOADS)}")
        self.latency_s = latency_s
        self.max_queue = max_queue
        self.complete = complete or chosen_model()
        self._in_flight = 0
        self._lock = threading.Lock()

    def invoke(
        self, endpoint: str, body: bytes | str, *, stream: bool, custom_attributes: str | None = None
    ) -> Response:
        if endpoint not in self.endpoints:
            raise _validation(f"Endpoint {endpoint} of account local not found.")
        payload: type[PayloadHandler] = PAYLOADS[self.endpoints[endpoint]]
        try:
            request = payload.read(json.loads(body))
            prompt = _as_chatml(request)
        except EndpointFault:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise _validation(f"Malformed {payload.name} request: {error}") from error
        if payload.custom_attributes and not _accepted_eula(custom_attributes):
            raise EndpointFault(
                "ModelError",
                "Need to pass custom_attributes='accept_eula=true' as part of header. This means you "
                "have read and accept the end-user-license-agreement (EULA) of the model.",
                424,
            )
        tokens = self._admitted(prompt, request)
        if stream:
            return Response("text/event-stream", events=payload.events(tokens))
        return Response("application/json", body=json.dumps(payload.response("".join(tokens))).encode())

    def _admitted(self, prompt: str, request: Request) -> Iterator[str]:
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
                prompt,
                max_new_tokens=request.max_new_tokens,
                temperature=request.temperature,
                top_p=request.top_p,
                stop=request.stop,
                seed=request.seed,
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
