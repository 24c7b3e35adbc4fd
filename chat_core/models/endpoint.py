"""LangChain's ``SagemakerEndpoint`` for a catalog model: the one path to every model.

Remote models get a real boto3 sagemaker-runtime client (``aws.client``); the
bundled models get the client ``chat_core.local`` registered (``bundled``), which
answers the same two calls in-process.  Either is called through ``ChatClient``, which
mends the streams LangChain reads and can end them.  Embedding models get their
client here too (``runtime_client``, used by ``retrieval.embeddings``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from langchain_aws import SagemakerEndpoint

from chat_core import aws
from chat_core.models import budget, calls, wake
from chat_core.models.bundled import bundled
from chat_core.models.catalog import GenerationParams, ModelSpec
from chat_core.models.handlers import PAYLOADS

# SagemakerEndpoint logs every error it re-raises, traceback included, to stderr
# (a command line's output, the app's log); every one reaches a caller that
# explains it (errors.explain), so the log would only repeat it as a traceback.
logging.getLogger("langchain_aws.llms.sagemaker_endpoint").setLevel(logging.CRITICAL)


class Deployment(Protocol):
    """Where a model is served: what a chat model's spec and an embedding model's spec share."""

    @property
    def is_local(self) -> bool: ...

    @property
    def region(self) -> str | None: ...


def runtime_client(spec: Deployment) -> Any:
    if spec.is_local:
        return bundled().client()
    return _shared_runtime_client(spec.region, aws.aws_environment())


@functools.lru_cache(maxsize=8)
def _shared_runtime_client(region: str | None, environment: tuple[tuple[str, str], ...]) -> Any:
    """One client per region and state of the AWS settings, shared by every answer
    (boto3's clients are thread-safe).  A client per answer cost ~13 ms of CPU under the
    GIL, and kept its pooled connection open until the garbage collector found it: with
    many sessions at once they ran the endpoint out of connections (bench/load.py)."""
    client = aws.client("sagemaker-runtime", region)
    raised_asleep = functools.partial(_raised_asleep, client)
    client.meta.events.register_first("needs-retry.sagemaker-runtime", raised_asleep)
    client.meta.events.register("before-parameter-build.sagemaker-runtime", _marked)
    return client


def _marked(params: dict[str, Any], **_: Any) -> None:
    """Every call to a remote model, before it is sent: marked (``calls``)."""
    calls.note_call(params["EndpointName"], params.get("InferenceComponentName"))


def _raised_asleep(
    client: Any, response: tuple[Any, dict[str, Any]] | None = None, operation: Any = None, **_: Any
) -> None:
    """A serverless cold start's refusal (ModelNotReadyException, 429) is raised here,
    before botocore's own retry handlers see it: ``wake`` waits for it instead.  botocore
    calls every handler of this event, whatever the first answers, and the streaming
    call's model does not name the error: its retry handler would take it for throttling,
    retrying where no stop reaches, and drawing on the retry quota (and, in adaptive mode,
    slowing the rate) that this client shares with every answer, of every model."""
    code = response[1].get("Error", {}).get("Code", "") if response is not None else ""
    if wake.asleep_code(code):
        raise client.exceptions.from_code(code)(response[1], operation.name)


class ChatClient:
    """A sagemaker-runtime client as chat models call it: a call to a model that sleeps
    waits for it to wake (``wake``), its response streams always end their last line,
    and ``close`` ends them, and a wait, from any thread.

    LangChain's ``LineIterator`` (langchain_aws.llms.sagemaker_endpoint) passes on
    only lines that end in a newline; when a stream ends with bytes after its last
    newline (a container that answers the streaming call with plain JSON sends
    that), it asks the finished stream for more for ever, at 100% of a core, and
    nothing can stop it.  No setting avoids it and ``SagemakerEndpoint._stream``
    makes the iterator itself, so the stream it reads is mended here, in one place:
    such a stream gets a newline after its last part, and its last line is read like
    any other (``handlers.PayloadHandler.transform_output``)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        # Held weakly: a stream is not kept open by being listed here (the in-process
        # one holds the bundled model's lock until it is let go).
        self._streams: weakref.WeakSet[Any] = weakref.WeakSet()
        self._closed = False
        self._lock = threading.Lock()
        self._waits: list[wake.Wake] = []  # the wake each call waiting now waits for
        self._waking_since = 0.0  # since when one of its calls or more have waited
        self._waited_s = 0.0  # time its calls waited, before that

    def invoke_endpoint(self, **call: Any) -> Any:
        return self._awake(self._client.invoke_endpoint, call)

    def invoke_endpoint_with_response_stream(self, **call: Any) -> dict[str, Any]:
        response = self._awake(self._client.invoke_endpoint_with_response_stream, call)
        with self._lock:
            self._streams.add(response["Body"])
            closed = self._closed
        if closed:
            _shut(response["Body"])
        return {**response, "Body": _last_line_ended(response["Body"])}

    @property
    def waking(self) -> wake.Wake | None:
        """The wake a call waits for now."""
        with self._lock:
            return self._waits[0] if self._waits else None

    def waking_s(self) -> float:
        """How long the wait under way has lasted (its calls, with several at once)."""
        with self._lock:
            return time.monotonic() - self._waking_since if self._waits else 0.0

    def asleep_s(self) -> float:
        """How long this client's calls have waited for the model to wake, so far
        (time when one or more waited, counted once)."""
        return self._waited_s + self.waking_s()

    def close(self) -> None:
        """End every stream opened through this client, and any opened from now on: a
        read waiting on the endpoint in another thread ends at once, not at the read
        timeout, and so does a wait for the model to wake."""
        with self._lock:
            self._closed = True
            streams = list(self._streams)
            waits = list(self._waits)
        for stream in streams:
            _shut(stream)
        for waiting in waits:
            waiting.poke()

    def _awake(self, invoke: Callable[..., Any], call: dict[str, Any]) -> Any:
        meta = getattr(self._client, "meta", None)
        target = wake.Target(
            getattr(meta, "region_name", None), call["EndpointName"], call.get("InferenceComponentName")
        )
        closed = lambda: self._closed  # noqa: E731
        return wake.call_awake(lambda: invoke(**call), target, stopped=closed, waiting=self._waiting)

    def _waiting(self, waking: wake.Wake, began: bool) -> None:
        with self._lock:
            if began:
                if not self._waits:
                    self._waking_since = time.monotonic()
                self._waits.append(waking)
            else:
                self._waits.remove(waking)
                if not self._waits:
                    self._waited_s += time.monotonic() - self._waking_since


def _last_line_ended(events: Any) -> Iterator[dict[str, Any]]:
    ended = True
    for event in events:
        if part := event.get("PayloadPart", {}).get("Bytes"):
            ended = part.endswith(b"\n")
        yield event
    if not ended:
        yield {"PayloadPart": {"Bytes": b"\n"}}


def _shut(stream: Any) -> None:
    """botocore's event stream reads a urllib3 response, whose ``shutdown`` (unlike
    ``close``) wakes a read blocked in another thread; it has no public way to it.
    The in-process client's stream is a generator, which cannot be shut from another
    thread: the thread reading it stops at its next token."""
    response = getattr(stream, "_raw_stream", None)
    if response is not None and hasattr(response, "shutdown"):
        with contextlib.suppress(ValueError, RuntimeError, OSError):  # finished or closed already
            response.shutdown()


def _token_ids(spec: ModelSpec) -> Callable[[str], list[int]]:
    """LangChain counts tokens with GPT-2 from a hub unless told otherwise; it only
    counts the ids, so they are placeholders of ``budget``'s count."""
    return lambda text: [0] * budget.count_tokens(spec, text)


def endpoint_llm(spec: ModelSpec, params: GenerationParams, *, streaming: bool = True) -> SagemakerEndpoint:
    handler = PAYLOADS[spec.payload](stream=streaming)
    attributes = handler.custom_attributes
    called_with = {"CustomAttributes": attributes} if attributes else {}
    if spec.inference_component:
        called_with["InferenceComponentName"] = spec.inference_component
    return SagemakerEndpoint(
        endpoint_name=spec.endpoint_name,
        client=ChatClient(runtime_client(spec)),
        content_handler=handler,
        streaming=streaming,
        model_kwargs={
            "max_new_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
            "stop": list(spec.stop),
        },
        endpoint_kwargs=called_with or None,
        custom_get_token_ids=_token_ids(spec),
    )
