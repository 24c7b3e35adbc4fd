"""The bundled models served in any of the JumpStart payload formats.

A ``LocalEndpoint`` maps endpoint names to payload formats and answers a request
body the way a real SageMaker endpoint of that kind would: the same JSON, the
same streamed events, and the same faults (``EndpointFault`` carries SageMaker's
error code and HTTP status).  An endpoint may instead host inference components,
each a model in its own payload format, called by name (``InferenceComponentName``).
A chat format (``models.handlers.PAYLOADS``) is answered by the bundled chat
model, an embedding format (``retrieval.payloads.EMBEDDING_PAYLOADS``) by the
bundled embedding model.  It
is shared by the in-process client (``runtime.py``) and the HTTP server
(``server.py``), so that developing against the SageMaker contract costs no instance.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from chat_core.local import embedding as local_embedding
from chat_core.local import model as local_model
from chat_core.local.scripted import DEFAULT_TOKEN_MS, ScriptedModel
from chat_core.models.budget import estimate_tokens
from chat_core.models.catalog import BUILT_IN
from chat_core.models.handlers import PAYLOADS, Generation, PayloadHandler, Request
from chat_core.models.prompts import CHATML, Turn
from chat_core.retrieval.payloads import EMBEDDING_PAYLOADS, EmbeddingHandler

# The JumpStart endpoints of the catalog, each in its payload format, and the
# bundled embedding model in both embedding formats.
DEFAULT_ENDPOINTS = {
    **{spec.endpoint_name: spec.payload for spec in BUILT_IN if not spec.is_local},
    local_embedding.ENDPOINT: "jumpstart",
    f"{local_embedding.ENDPOINT}-tei": "tei",
}
# Texts one embedding request may hold, beside the body's size limit (server.py):
# without it, 6 MB of one-letter texts would ask for gigabytes of vectors.  Clients
# here send 32 at a time (retrieval.embeddings.CHUNK_SIZE).
MAX_EMBEDDING_INPUTS = 256


class EndpointFault(Exception):
    """An error response, as SageMaker's runtime API gives it."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _validation(message: str) -> EndpointFault:
    return EndpointFault("ValidationError", message, 400)


# What reading a request body may raise, each a malformed request (ValidationError):
# besides bad JSON and a wrong shape, JSON nested deeper than the parser's recursion
# limit (RecursionError) and a number no integer holds (1e999, infinity: OverflowError).
_UNREADABLE = (ValueError, KeyError, TypeError, AttributeError, RecursionError, OverflowError)


# SageMaker's answers to a component named where none is hosted, and to none named
# where components are (ValidationError, 400); the text of its answer to a component
# the endpoint does not host is not published: this one names the component.
COMPONENT_REQUIRED = (
    "Inference Component Name header is required for endpoints to which you plan to deploy "
    "inference components. Please include Inference Component Name header or consider using "
    "SageMaker models."
)
COMPONENT_NOT_ALLOWED = (
    "Inference Component Name header is not allowed for endpoints to which you dont plan to deploy "
    "inference components. Please remove the Inference Component Name header and try again."
)


# SageMaker's answer to a call to a component with no copies (ValidationError, 400;
# AWS ML blog "scale down to zero", Dec 2024, matched on by public samples).
NO_CAPACITY = (
    "Inference Component has no capacity to process this request. ApplicationAutoScaling may be "
    "in-progress (if configured) or try to increase the capacity by invoking "
    "UpdateInferenceComponentRuntimeConfig API."
)
# Seconds from a component's copy count raised above zero to its new copy serving.
WAKE_S = 5.0
# SageMaker's answer to a call to a serverless endpoint whose resources are being
# provisioned: ModelNotReadyException (429), in the words of botocore's
# sagemaker-runtime model; and how long that cold start lasts here, and how long
# without calls brings the next one.
NOT_READY = (
    "Either a serverless endpoint variant's resources are still being provisioned, or a multi-model "
    "endpoint is still downloading or loading the target model. Wait and try your request again."
)
COLD_START_S = 3.0
SERVERLESS_IDLE_S = 600.0
# The calls a serverless endpoint serves at once (its MaxConcurrency); one more is
# throttled: ThrottlingException (400), since botocore's sagemaker-runtime model has
# no error of its own for it, and botocore retries that code as throttling.
SERVERLESS_MAX_CONCURRENCY = 5


@dataclass
class Copies:
    """An inference component's copies: those asked for and those serving.  A raise
    serves ``wake_s`` after it was asked for (``ready_at``, on the monotonic clock);
    a lowering takes effect at once, as SageMaker stops a copy's traffic first."""

    desired: int
    current: int
    ready_at: float | None = None
    modified: float = field(default_factory=time.time)  # when they were last asked for (epoch seconds)

    def settled(self, now: float) -> Copies:
        if self.ready_at is not None and now >= self.ready_at:
            self.current, self.ready_at = self.desired, None
        return self

    def ask(self, count: int, now: float, wake_s: float) -> None:
        """Ask for ``count`` copies (settled at ``now``)."""
        self.modified = time.time()
        if count <= self.current:
            self.desired, self.current, self.ready_at = count, count, None
        else:  # a wake under way keeps its time: asking again does not delay it
            self.desired = count
            if self.ready_at is None:
                self.ready_at = now + wake_s


@dataclass
class Warmth:
    """A serverless endpoint's resources, on the monotonic clock: provisioned until
    ``warm_until`` (renewed by each call served), or being provisioned until ``ready_at``."""

    warm_until: float = -math.inf  # cold until its first call
    ready_at: float | None = None


def _throttled(message: str = "Rate exceeded: too many requests wait.") -> EndpointFault:
    return EndpointFault("ThrottlingException", message, 400)


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
    ChatML: given plain text, it ends its answer at once).  Messages are its turns;
    a text prompt is taken as it is when it is ChatML (the in-process model's every
    call), else asked as one user turn: the Falcon demo's plain question, and
    another family's layout, which is not parsed back into turns."""
    if request.messages is not None:
        return _chatml(request.messages)
    prompt = request.prompt or ""
    return prompt if prompt.startswith("<|im_start|>") else CHATML.render("", [], prompt)


def chosen_model(component: str | None = None, *, concurrent: bool = False) -> Callable[..., Iterator[str]]:
    """SmolLM2, or with ``LOCAL_MODEL=scripted[:MS]`` the scripted stand-in (local/scripted.py).

    An inference component's scripted model says the component's name in its
    answers, as the different models of real components would differ: which one
    answered shows on the page.  SmolLM2 is loaded once and serves them all, one
    call at a time: the scripted model takes the same turns (``local_model.TURNS``),
    unless ``concurrent``: then it answers every call at once, as a GPU endpoint that
    batches its requests does (bench/load.py stands in for one)."""
    name, _, token_ms = os.environ.get("LOCAL_MODEL", "smollm2").partition(":")
    if name == "scripted":
        scripted = ScriptedModel(float(token_ms or DEFAULT_TOKEN_MS), name=component).complete
        return scripted if concurrent else local_model.in_turn(scripted)
    if concurrent:
        raise ValueError("only the scripted model (LOCAL_MODEL=scripted) answers calls concurrently")
    return local_model.complete


def _prompt_tokens(complete: Callable[..., Iterator[str]], prompt: str) -> int:
    """The prompt's length in tokens, as TGI reports it: counted by the bundled model's
    tokenizer when it answers, estimated for the scripted model and the bench's stand-ins."""
    return local_model.count_tokens(prompt) if complete is local_model.complete else estimate_tokens(prompt)


def _accepted_eula(custom_attributes: str | None) -> bool:
    # "key=value; key=value", the last value of a key wins (JumpStart's Llama notebooks).
    values = dict(pair.strip().split("=", 1) for pair in (custom_attributes or "").split(";") if "=" in pair)
    return values.get("accept_eula", "").lower() == "true"


@dataclass
class Response:
    content_type: str
    body: bytes | None = None  # a plain answer
    events: Iterator[bytes] | None = None  # a streamed one: one PayloadPart per item
    # Stops a streamed answer and gives its place in the queue back, whether its
    # events were read to the end, in part, or not at all (a client gone before
    # the first): call it on every path once the response is done with.
    close: Callable[[], None] = lambda: None


class LocalEndpoint:
    def __init__(
        self,
        endpoints: dict[str, str] | None = None,
        *,
        components: Mapping[str, Mapping[str, str]] | None = None,
        latency_s: float = 0.0,
        max_queue: int = 16,
        complete: Callable[..., Iterator[str]] | None = None,
        asleep: Iterable[tuple[str, str]] = (),
        wake_s: float = WAKE_S,
        autoscale: bool = False,
        serverless: Mapping[str, str] | None = None,
        cold_start_s: float = COLD_START_S,
        serverless_idle_s: float = SERVERLESS_IDLE_S,
    ) -> None:
        """``endpoints`` maps a name to its payload format; ``components`` maps
        the name of an endpoint that hosts inference components to each component's
        name and format.  Each component has one copy, those ``asleep`` (endpoint,
        component) none: a call to it is refused for no capacity until a raise of
        its copies (``set_copies``) has taken ``wake_s``; with ``autoscale``, such a
        refused call asks for one copy itself, as a team's scaling policy on the
        NoCapacityInvocationFailures alarm would.  ``serverless`` maps the names of
        serverless endpoints to their formats: a call after ``serverless_idle_s``
        without one served (or the first) starts a cold start of ``cold_start_s``,
        and calls until it ends are refused (ModelNotReadyException); past
        ``SERVERLESS_MAX_CONCURRENCY`` calls at once, the next is throttled.
        ``complete`` generates the text (``local_model.complete``'s signature), for
        every model; by default the model ``LOCAL_MODEL`` names (``chosen_model``).
        bench/ gives a stand-in that answers at once, to time clients against a
        fast remote endpoint, which this machine cannot run."""
        self.endpoints = dict(DEFAULT_ENDPOINTS if endpoints is None else endpoints)
        self.components = {name: dict(hosted) for name, hosted in (components or {}).items()}
        self.serverless = dict(serverless or {})
        twice = sorted(set(self.endpoints) & set(self.serverless))
        if twice:
            raise ValueError(f"endpoints {twice} are given twice, once as serverless")
        self.endpoints |= self.serverless
        both = sorted(set(self.endpoints) & set(self.components))
        if both:  # a SageMaker endpoint's variants hold either a model or components
            raise ValueError(f"endpoints {both} cannot serve a model and inference components at once")
        formats = {
            *self.endpoints.values(),
            *(f for hosted in self.components.values() for f in hosted.values()),
        }
        unknown = formats - set(PAYLOADS) - set(EMBEDDING_PAYLOADS)
        if unknown:
            known = [*PAYLOADS, *EMBEDDING_PAYLOADS]
            raise ValueError(f"unknown payload formats {sorted(unknown)}; known: {known}")
        self.latency_s = latency_s
        self.max_queue = max_queue
        self.complete = complete or chosen_model()
        self._component_models = {
            (name, component): complete or chosen_model(component)
            for name, hosted in self.components.items()
            for component in hosted
        }
        sleepers = set(asleep)
        unknown_sleepers = sleepers - set(self._component_models)
        if unknown_sleepers:
            raise ValueError(f"components {sorted(unknown_sleepers)} are not served")
        self._copies = {
            hosted: Copies(0, 0) if hosted in sleepers else Copies(1, 1) for hosted in self._component_models
        }
        self.wake_s = wake_s
        self.autoscale = autoscale
        self._warmth = {name: Warmth() for name in self.serverless}
        self.cold_start_s, self.serverless_idle_s = cold_start_s, serverless_idle_s
        # Runtime calls by (endpoint, component or None), refused ones too: what a
        # client's waiting costs, read by tests and the bench.
        self.calls: Counter[tuple[str, str | None]] = Counter()
        self._in_flight = 0
        self._embeddings_in_flight = 0  # the other model's queue: indexing never throttles a chat
        self._serving: Counter[str] = Counter()  # calls being answered, by endpoint
        self._lock = threading.Lock()

    @property
    def served(self) -> list[str]:
        """What is served: each endpoint's name, and ``endpoint/component`` for each component."""
        hosted = [f"{name}/{component}" for name, models in self.components.items() for component in models]
        return [*self.endpoints, *hosted]

    def copies(self, endpoint: str, component: str) -> Copies:
        """A snapshot of the component's copies now (KeyError for one not served)."""
        with self._lock:
            return replace(self._copies[endpoint, component].settled(time.monotonic()))

    def set_copies(self, endpoint: str, component: str, count: int) -> None:
        """Ask for ``count`` copies of the component: UpdateInferenceComponentRuntimeConfig."""
        if count < 0:
            raise ValueError("a component's copy count is at least 0")
        now = time.monotonic()
        with self._lock:
            self._copies[endpoint, component].settled(now).ask(count, now, self.wake_s)

    def _check_capacity(self, endpoint: str, component: str) -> None:
        """SageMaker's refusal when the component has no copy serving."""
        now = time.monotonic()
        with self._lock:
            copies = self._copies[endpoint, component].settled(now)
            if copies.current:
                return
            if self.autoscale and not copies.desired:  # a wake asked for meanwhile is kept
                copies.ask(1, now, self.wake_s)
        raise _validation(NO_CAPACITY)

    def _check_warm(self, endpoint: str) -> None:
        """SageMaker's refusal while the serverless endpoint's resources are being provisioned."""
        now = time.monotonic()
        with self._lock:
            warmth = self._warmth[endpoint]
            if warmth.ready_at is None and now >= warmth.warm_until:
                warmth.ready_at = now + self.cold_start_s
            if warmth.ready_at is not None:
                if now < warmth.ready_at:
                    raise EndpointFault("ModelNotReadyException", NOT_READY, 429)
                warmth.ready_at = None
            warmth.warm_until = now + self.serverless_idle_s

    def _format(self, endpoint: str, component: str | None) -> str:
        """The payload format of the model called, or SageMaker's refusal."""
        if endpoint in self.components:
            if component is None:
                raise _validation(COMPONENT_REQUIRED)
            if component not in self.components[endpoint]:
                raise _validation(f"Inference component {component} of endpoint {endpoint} not found.")
            return self.components[endpoint][component]
        if endpoint not in self.endpoints:
            raise _validation(f"Endpoint {endpoint} of account local not found.")
        if component is not None:
            raise _validation(COMPONENT_NOT_ALLOWED)
        return self.endpoints[endpoint]

    def invoke(
        self,
        endpoint: str,
        body: bytes | str,
        *,
        stream: bool,
        custom_attributes: str | None = None,
        component: str | None = None,
    ) -> Response:
        """The answer of ``endpoint``'s model, or of its inference ``component``."""
        with self._lock:
            self.calls[endpoint, component] += 1
        served = self._format(endpoint, component)
        if component is not None:
            self._check_capacity(endpoint, component)
        if endpoint in self._warmth:
            self._check_warm(endpoint)
        if served in EMBEDDING_PAYLOADS:
            return self._embed(endpoint, EMBEDDING_PAYLOADS[served], body, stream=stream)
        payload: type[PayloadHandler] = PAYLOADS[served]
        try:
            request = payload.read(json.loads(body))
            prompt = _as_chatml(request)
        except EndpointFault:
            raise
        except _UNREADABLE as error:
            raise _validation(f"Malformed {payload.name} request: {error}") from error
        if payload.custom_attributes and not _accepted_eula(custom_attributes):
            raise EndpointFault(
                "ModelError",
                "Need to pass custom_attributes='accept_eula=true' as part of header. This means you "
                "have read and accept the end-user-license-agreement (EULA) of the model.",
                424,
            )
        if request.max_new_tokens < 1:
            raise _validation("max_new_tokens must be at least 1")
        complete = self._component_models[endpoint, component] if component else self.complete
        prompt_tokens = _prompt_tokens(complete, prompt)
        first, generation = self._admitted(endpoint, complete, prompt, request)
        answer = Generation(itertools.chain([first], generation), request, prompt_tokens)
        if stream:
            return Response("text/event-stream", events=payload.events(answer), close=generation.close)
        try:
            return Response("application/json", body=json.dumps(payload.response(answer)).encode())
        finally:  # an answer cut at max_new_tokens may leave the model's generator unfinished
            generation.close()

    def _embed(
        self, endpoint: str, payload: type[EmbeddingHandler], body: bytes | str, *, stream: bool
    ) -> Response:
        if stream:
            raise _validation("This endpoint's model does not stream its answers: call InvokeEndpoint.")
        try:
            texts = payload.read(json.loads(body))
        except _UNREADABLE as error:
            raise _validation(f"Malformed {payload.name} request: {error}") from error
        if len(texts) > MAX_EMBEDDING_INPUTS:
            raise _validation(
                f"A request may hold at most {MAX_EMBEDDING_INPUTS} texts to embed; "
                f"this one holds {len(texts)}."
            )
        with self._embedding_admitted(endpoint):
            if self.latency_s:
                time.sleep(self.latency_s)
            vectors = local_embedding.embed(texts)
        return Response("application/json", body=json.dumps(payload.response(vectors.tolist())).encode())

    @contextlib.contextmanager
    def _embedding_admitted(self, endpoint: str) -> Iterator[None]:
        """A place in the embedding model's queue while it embeds, or a refusal when
        more requests already wait than allowed."""
        with self._lock:
            if self._embeddings_in_flight > self.max_queue:
                raise _throttled()
            self._serve(endpoint)
            self._embeddings_in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._embeddings_in_flight -= 1
                self._serving[endpoint] -= 1

    def _serve(self, endpoint: str) -> None:
        """Count a call to ``endpoint`` as being answered (``self._lock`` held), or
        throttle it when the endpoint is serverless and at its max concurrency."""
        if endpoint in self.serverless and self._serving[endpoint] >= SERVERLESS_MAX_CONCURRENCY:
            raise _throttled(
                f"Rate exceeded: serverless endpoint {endpoint} answers at most "
                f"{SERVERLESS_MAX_CONCURRENCY} requests at once (MaxConcurrency)."
            )
        self._serving[endpoint] += 1

    def _admitted(
        self, endpoint: str, complete: Callable[..., Iterator[str]], prompt: str, request: Request
    ) -> tuple[str, Generator[str, None, None]]:
        """Start generating, or refuse when more requests already wait than allowed.

        The answer's first text is produced before this returns, so that a prompt
        the model rejects, or an answer with no text, fails the call itself, as on
        SageMaker.  The generator returned has started: it holds its place in the
        queue until it ends or is closed, read any further or not."""
        with self._lock:
            if self._in_flight > self.max_queue:  # one is generating, the rest wait
                raise _throttled()
            self._serve(endpoint)
            self._in_flight += 1
        generation = self._generate(endpoint, complete, prompt, request)
        return next(generation), generation

    def _generate(
        self, endpoint: str, complete: Callable[..., Iterator[str]], prompt: str, request: Request
    ) -> Generator[str, None, None]:
        """The answer: its first text (leading whitespace and all), then each token."""
        try:
            if self.latency_s:
                time.sleep(self.latency_s)
            tokens = complete(
                prompt,
                max_new_tokens=request.max_new_tokens,
                temperature=request.temperature,
                top_p=request.top_p,
                stop=request.stop,
                seed=request.seed,
            )
            first = ""
            try:
                for token in tokens:
                    first += token
                    if first.strip():
                        break
            except ValueError as error:  # llama.cpp: "Requested tokens (n) exceed context window of m"
                message = f"Received client error (400) from primary: {error}"
                raise EndpointFault("ModelError", message, 424) from error
            if not first.strip():
                # Not a success: an empty answer on the page would leave its reader guessing.
                message = "The model generated no text for this prompt. Rephrase it and resend."
                raise EndpointFault("ModelError", message, 424)
            yield first
            yield from tokens
        finally:
            with self._lock:
                self._in_flight -= 1
                self._serving[endpoint] -= 1
