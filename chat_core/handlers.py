"""Content handlers: the JSON each endpoint kind takes and gives back.

``SagemakerEndpoint`` hands ``transform_output`` a ``StreamingBody`` for a plain
call and one raw line (bytes, newline removed) per event-stream line when
streaming; the handlers accept both.  Stop sequences travel in the request's
parameters, where the endpoint enforces them: LangChain's own ``stop`` argument
is not used because it splits text with the stop strings as regular
expressions, and ``<|im_end|>`` is not a safe one.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_aws.llms.sagemaker_endpoint import LLMContentHandler

from chat_core.prompts import LLAMA2


class MalformedResponse(ValueError):
    """The endpoint answered with JSON of a shape this handler does not know."""


def _tgi_parameters(model_kwargs: dict[str, Any]) -> dict[str, Any]:
    """TGI rejects temperature 0 and top_p 1: express those as greedy / no top_p."""
    parameters: dict[str, Any] = {
        "max_new_tokens": model_kwargs["max_new_tokens"],
        "stop": list(model_kwargs.get("stop", ())),
        "return_full_text": False,
    }
    temperature = model_kwargs.get("temperature", 0.0)
    parameters["do_sample"] = temperature > 0
    if temperature > 0:
        parameters["temperature"] = temperature
        if 0 < model_kwargs.get("top_p", 1.0) < 1:
            parameters["top_p"] = model_kwargs["top_p"]
    if model_kwargs.get("seed") is not None:
        parameters["seed"] = model_kwargs["seed"]
    return parameters


def _stream_token(line: bytes) -> str:
    """The text of one TGI server-sent-event line; '' for blank lines, other SSE
    fields and special tokens (such as the end-of-sequence marker)."""
    line = line.strip()
    if not line.startswith(b"data:"):
        return ""
    event = json.loads(line[len(b"data:") :])
    if "error" in event:
        raise MalformedResponse(f"endpoint error: {event['error']}")
    token = event.get("token") or {}
    return "" if token.get("special") else token.get("text", "")


def _read_json(output: Any) -> Any:
    try:
        return json.loads(output.read().decode("utf-8"))
    except ValueError as error:
        raise MalformedResponse(f"response is not JSON: {error}") from error


class TGIHandler(LLMContentHandler):
    """Hugging Face Text Generation Inference (Falcon, and the local model)."""

    content_type = "application/json"
    accepts = "application/json"

    def __init__(self, stream: bool = False) -> None:
        self.stream = stream

    def transform_input(self, prompt: str, model_kwargs: dict[str, Any]) -> bytes:
        body = {"inputs": prompt, "parameters": _tgi_parameters(model_kwargs)}
        if self.stream:
            body["stream"] = True
        return json.dumps(body).encode("utf-8")

    def transform_output(self, output: Any) -> str:
        if isinstance(output, bytes):
            return _stream_token(output)
        answer = _read_json(output)
        try:
            return answer[0]["generated_text"]
        except (KeyError, IndexError, TypeError) as error:
            raise MalformedResponse(f"no generated_text in {str(answer)[:200]}") from error


class Llama2ChatHandler(LLMContentHandler):
    """JumpStart Llama 2 chat: the prompt goes as a message list; the endpoint
    applies the chat template itself."""

    content_type = "application/json"
    accepts = "application/json"
    custom_attributes = "accept_eula=true"

    def __init__(self, stream: bool = False) -> None:
        self.stream = stream

    def transform_input(self, prompt: str, model_kwargs: dict[str, Any]) -> bytes:
        parameters = {
            "max_new_tokens": model_kwargs["max_new_tokens"],
            "temperature": model_kwargs.get("temperature", 0.6),
            "top_p": model_kwargs.get("top_p", 0.9),
        }
        return json.dumps({"inputs": [LLAMA2.messages(prompt)], "parameters": parameters}).encode()

    def transform_output(self, output: Any) -> str:
        if isinstance(output, bytes):
            return _stream_token(output)
        answer = _read_json(output)
        try:
            return answer[0]["generation"]["content"]
        except (KeyError, IndexError, TypeError) as error:
            raise MalformedResponse(f"no generation in {str(answer)[:200]}") from error


HANDLERS: dict[str, type[LLMContentHandler]] = {"tgi": TGIHandler, "llama2-chat": Llama2ChatHandler}
