"""The bundled model behind the SageMaker runtime contract, in this process.

``LocalRuntimeClient`` answers ``invoke_endpoint`` and
``invoke_endpoint_with_response_stream`` with what boto3's sagemaker-runtime
client returns (a ``StreamingBody``; an event stream of ``PayloadPart`` events;
``ClientError`` with SageMaker's error codes), speaking the Hugging Face TGI
payload format.  So the local model goes through exactly the same
``SagemakerEndpoint`` and content handler as a remote TGI endpoint does.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from chat_core import local_model
from chat_core.catalog import LOCAL_ENDPOINT

DEFAULT_MAX_NEW_TOKENS = 256


def _client_error(code: str, message: str, operation: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


class LocalRuntimeClient:
    """An in-process sagemaker-runtime client serving the bundled model."""

    def invoke_endpoint(self, EndpointName: str, Body: bytes | str, **_: Any) -> dict[str, Any]:
        tokens = self._start(EndpointName, Body, "InvokeEndpoint")
        payload = json.dumps([{"generated_text": "".join(tokens)}]).encode()
        return {
            "Body": StreamingBody(io.BytesIO(payload), len(payload)),
            "ContentType": "application/json",
            "InvokedProductionVariant": "AllTraffic",
        }

    def invoke_endpoint_with_response_stream(
        self,
        EndpointName: str,
        Body: bytes | str,
        **_: Any,
    ) -> dict[str, Any]:
        tokens = self._start(EndpointName, Body, "InvokeEndpointWithResponseStream")
        return {
            "Body": _tgi_events(tokens),
            "ContentType": "text/event-stream",
            "InvokedProductionVariant": "AllTraffic",
        }

    def _start(self, endpoint: str, body: bytes | str, operation: str) -> Iterator[str]:
        """Validate the request and generate its first token before returning, so
        that errors surface from the call itself, as they do from a real endpoint."""
        if endpoint != LOCAL_ENDPOINT:
            raise _client_error(
                "ValidationError", f"Endpoint {endpoint} of account local not found.", operation, 400
            )
        try:
            request = json.loads(body)
            prompt = request["inputs"]
            parameters = request.get("parameters", {})
            if not isinstance(prompt, str) or not isinstance(parameters, dict):
                raise TypeError("inputs must be a string and parameters an object")
        except (ValueError, KeyError, TypeError) as error:
            message = f"Malformed TGI request: {error}"
            raise _client_error("ValidationError", message, operation, 400) from error
        sampling = parameters.get("do_sample", "temperature" in parameters)
        tokens = local_model.complete(
            prompt,
            max_new_tokens=int(parameters.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
            temperature=float(parameters.get("temperature", 1.0)) if sampling else 0.0,
            top_p=float(parameters.get("top_p", 1.0)),
            stop=list(parameters.get("stop", [])),
            seed=parameters.get("seed"),
        )
        try:
            first = next(tokens, "")
        except ValueError as error:  # llama.cpp: "Requested tokens (n) exceed context window of m"
            raise _client_error("ModelError", str(error), operation, 424) from error
        return _prepend(first, tokens)


def _prepend(first: str, rest: Iterator[str]) -> Iterator[str]:
    if first:
        yield first
    yield from rest


def _tgi_events(tokens: Iterator[str]) -> Iterator[dict[str, dict[str, bytes]]]:
    """TGI's server-sent events, one ``PayloadPart`` per token, the last carrying
    the whole ``generated_text`` as TGI sends it."""
    text = ""
    for index, token in enumerate(tokens):
        text += token
        event = {
            "index": index,
            "token": {"id": None, "text": token, "special": False},
            "generated_text": None,
            "details": None,
        }
        yield {"PayloadPart": {"Bytes": b"data:" + json.dumps(event).encode() + b"\n\n"}}
    done = {"token": {"id": None, "text": "", "special": True}, "generated_text": text, "details": None}
    yield {"PayloadPart": {"Bytes": b"data:" + json.dumps(done).encode() + b"\n\n"}}
