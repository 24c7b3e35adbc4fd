"""Content handlers: the JSON each endpoint kind takes and gives back.

``SagemakerEndpoint`` hands ``transform_output`` a ``StreamingBody`` for a plain
call and one raw line (bytes, newline removed) per event-stream line when
streaming; the handlers accept both.  Stop sequences travel in the request's
parameters, where the endpoint enforces them: LangChain's own ``stop`` argument
is not used because it splits text with the stop strings as regular
expressions, and ``<|im_end|>`` is not a safe one.

Request shapes follow AWS's JumpStart sample notebooks; tests/golden/ holds one
request per format with the notebook it comes from.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_aws.llms.sagemaker_endpoint import LLMContentHandler

from chat_core.errors import MalformedResponse
from chat_core.models.prompts import PromptFormat


def _sampling(model_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Temperature 0 means greedy; TGI and JumpStart reject a zero temperature, so
    it is expressed by leaving temperature and top_p out."""
    temperature = model_kwargs.get("temperature", 0.0)
    if temperature <= 0:
        return {}
    sampling = {"temperature": temperature}
    if 0 < model_kwargs.get("top_p", 1.0) < 1:
        sampling["top_p"] = model_kwargs["top_p"]
    return sampling


def _seed(model_kwargs: dict[str, Any]) -> dict[str, Any]:
    return {} if model_kwargs.get("seed") is None else {"seed": model_kwargs["seed"]}


def _token_line(line: bytes) -> str:
    """The text of one streamed server-sent-event line, for either kind of stream:
    TGI's ``data:{"token": {...}}`` (special tokens such as the end-of-sequence
    marker are skipped) and the Messages API's ``data: {"choices": [{"delta"}]}``
    ending ``data: [DONE]``.  Blank lines and other SSE fields carry no text."""
    line = line.strip()
    if not line.startswith(b"data:"):
        return ""
    data = line[len(b"data:") :].strip()
    if data == b"[DONE]":
        return ""
    try:
        event = json.loads(data)
    except ValueError as error:
        raise MalformedResponse(f"a streamed event is not JSON: {data[:200]!r}") from error
    if "error" in event:
        raise MalformedResponse(f"the endpoint reported an error: {event['error']}")
    if "choices" in event:
        return (event["choices"][0].get("delta") or {}).get("content") or ""
    token = event.get("token") or {}
    return "" if token.get("special") else token.get("text", "")


def _read_json(output: Any) -> Any:
    try:
        return json.loads(output.read().decode("utf-8"))
    except ValueError as error:
        raise MalformedResponse(f"the response is not JSON: {error}") from error


class _Handler(LLMContentHandler):
    content_type = "application/json"
    accepts = "application/json"
    custom_attributes: str | None = None

    def __init__(self, prompt_format: PromptFormat, stream: bool = False) -> None:
        self.prompt_format = prompt_format
        self.stream = stream

    def request(self, prompt: str, model_kwargs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def answer(self, response: Any) -> str:
        raise NotImplementedError

    def transform_input(self, prompt: str, model_kwargs: dict[str, Any]) -> bytes:
        return json.dumps(self.request(prompt, model_kwargs)).encode("utf-8")

    def transform_output(self, output: Any) -> str:
        if isinstance(output, bytes):
            return _token_line(output)
        response = _read_json(output)
        try:
            return self.answer(response)
        except (KeyError, IndexError, TypeError) as error:
            raise MalformedResponse(f"unexpected answer shape: {str(response)[:200]}") from error


class TGIHandler(_Handler):
    """Hugging Face Text Generation Inference (Falcon, and the bundled model)."""

    def request(self, prompt: str, model_kwargs: dict[str, Any]) -> dict[str, Any]:
        parameters = {
            "max_new_tokens": model_kwargs["max_new_tokens"],
            "do_sample": model_kwargs.get("temperature", 0.0) > 0,
            **_sampling(model_kwargs),
            "stop": list(model_kwargs.get("stop", ())),
            "return_full_text": False,
            **_seed(model_kwargs),
        }
        return {"inputs": prompt, "parameters": parameters, **({"stream": True} if self.stream else {})}

    def answer(self, response: Any) -> str:
        return response[0]["generated_text"]


class Llama2ChatHandler(_Handler):
    """JumpStart Llama 2 chat: the conversation goes as a dialog (a message list);
    the endpoint applies the chat template itself."""

    custom_attributes = "accept_eula=true"

    def request(self, prompt: str, model_kwargs: dict[str, Any]) -> dict[str, Any]:
        parameters = {"max_new_tokens": model_kwargs["max_new_tokens"], **_sampling(model_kwargs)}
        return {"inputs": [self.prompt_format.messages(prompt)], "parameters": parameters}

    def answer(self, response: Any) -> str:
        return response[0]["generation"]["content"]


class Llama3Handler(_Handler):
    """JumpStart Llama 3: a prompt in Llama 3's own format; the answer is a dict."""

    custom_attributes = "accept_eula=true"

    def request(self, prompt: str, model_kwargs: dict[str, Any]) -> dict[str, Any]:
        # JumpStart's Llama 3 samples pass their one stop sequence as a string.
        stop = list(model_kwargs.get("stop", ()))
        parameters = {
            "max_new_tokens": model_kwargs["max_new_tokens"],
            **_sampling(model_kwargs),
            **({"stop": stop[0] if len(stop) == 1 else stop} if stop else {}),
        }
        return {"inputs": prompt, "parameters": parameters}

    def answer(self, response: Any) -> str:
        return response["generated_text"]


class MessagesHandler(_Handler):
    """TGI's Messages API, OpenAI-style: the conversation goes as messages."""

    def request(self, prompt: str, model_kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "messages": self.prompt_format.messages(prompt),
            "max_tokens": model_kwargs["max_new_tokens"],
            **_sampling(model_kwargs),
            "stop": list(model_kwargs.get("stop", ())),
            **_seed(model_kwargs),
            "stream": self.stream,
        }

    def answer(self, response: Any) -> str:
        return response["choices"][0]["message"]["content"]


HANDLERS: dict[str, type[_Handler]] = {
    "llama2-chat": Llama2ChatHandler,
    "llama3": Llama3Handler,
    "tgi": TGIHandler,
    "messages": MessagesHandler,
}
