"""Payload formats: the JSON each endpoint kind takes and gives back, both ways.

``PAYLOADS`` is the registry: each format is one handler class declaring its
name, the prompt format its models use, whether it takes the conversation as text
or as messages (``chat_format``), its EULA attribute, how a client writes
a request and reads the answer (``SagemakerEndpoint``'s content handler), and how
a server reads that request and writes the answer (``local.endpoint`` serves the
bundled model in every format this way).  Adding a format is one class here.

``SagemakerEndpoint`` hands ``transform_output`` a ``StreamingBody`` for a plain
call and one raw line (bytes, newline removed) per event-stream line when
streaming; the handlers accept both.  Stop sequences travel in the request's
parameters, where the endpoint enforces them: LangChain's own ``stop`` argument
is not used because it splits text with the stop strings as regular
expressions, and ``<|im_end|>`` is not a safe one.

The message payloads (llama2-chat, messages) carry roles as structure: their
prompt is a ``MessagesFormat``'s, the conversation's messages, each the user's own
text with only the special tokens broken that the endpoint's chat template would parse.

Request shapes follow AWS's JumpStart sample notebooks; tests/golden/ holds one
request per format with the notebook it comes from.  The server side answers as
Hugging Face's TGI container does, field by field (tests/golden/tgi-schema.json).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from langchain_aws.llms.sagemaker_endpoint import LLMContentHandler

from chat_core.errors import MalformedResponse
from chat_core.models.prompts import (
    CHATML,
    FALCON,
    LLAMA2,
    LLAMA3,
    ChatFormat,
    MessagesFormat,
    PromptFormat,
    messages_of,
)

DEFAULT_MAX_NEW_TOKENS = 256


@dataclass
class Request:
    """What a request asks the model for, whatever its payload format: a prompt
    string, or a conversation as messages."""

    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    details: bool = False  # TGI: how the generation ended, on the last event and in the answer
    include_usage: bool = False  # Messages API: a usage chunk ends the stream


@dataclass
class Generation:
    """An answer as the server writes it: the model's tokens as they come, the request
    they answer, and the prompt's length in tokens (TGI's ``input_length``, the
    Messages API's ``prompt_tokens``)."""

    tokens: Iterator[str]
    request: Request
    prompt_tokens: int


def _stops(stop: str | list[str] | None) -> list[str]:
    return [stop] if isinstance(stop, str) else [str(s) for s in stop or []]


def _refuse_log_probabilities(asked: dict[str, Any], *names: str) -> None:
    """TGI answers these options with log-probabilities, which the local models do not give
    (see ``UNKNOWN_ID``): refused, rather than answered without them."""
    refused = [name for name in names if asked.get(name)]
    if refused:
        raise ValueError(f"{', '.join(refused)} cannot be answered: this model gives no log-probabilities")


def _read_parameters(request: dict[str, Any], **what: Any) -> Request:
    """TGI-style ``parameters``: sampling only when asked for (``do_sample`` or a temperature)."""
    parameters = request.get("parameters", {})
    if not isinstance(parameters, dict):
        raise TypeError("parameters must be an object")
    _refuse_log_probabilities(parameters, "top_n_tokens", "decoder_input_details")
    sampling = parameters.get("do_sample", "temperature" in parameters)
    return Request(
        **what,
        max_new_tokens=int(parameters.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
        temperature=float(parameters.get("temperature", 1.0)) if sampling else 0.0,
        top_p=float(parameters.get("top_p", 1.0)),
        stop=_stops(parameters.get("stop")),
        seed=parameters.get("seed"),
        details=bool(parameters.get("details", False)),
    )


def _prompt(request: dict[str, Any]) -> str:
    if not isinstance(request["inputs"], str):
        raise TypeError("inputs must be a string")
    return request["inputs"]


# TGI's server side, written as its router writes it (huggingface/text-generation-inference,
# router/src/server.rs and chat.rs; tests/golden/tgi-schema.json has the schemas and the commit).
# A token's id and log-probability are not known here: the models yield text (llama.cpp gives
# log-probabilities only when it keeps every logit, hundreds of MB more).  TGI's schema allows a
# null logprob (serde writes NaN so); the id must be an integer, so it is 0.
UNKNOWN_ID = 0
# The token TGI's last event carries when the model ends its answer: the bundled model's
# end of turn, which is also its end of sequence.
END_OF_SEQUENCE = {"id": 2, "text": "<|im_end|>", "logprob": None, "special": True}
MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # TGI names the model by its Hub id
SYSTEM_FINGERPRINT = "chat_core-native"  # TGI's is "{version}-{docker label, or native}"


def _stream_responses(generation: Generation) -> Iterator[dict[str, Any]]:
    """TGI's ``StreamResponse`` per token, numbered from 1: the last one carries the
    generated text and, when asked, the details.  The model ending its answer is an
    end-of-sequence token of its own; an answer cut at ``max_new_tokens`` ends on its
    last text token."""
    request = generation.request
    text: list[str] = []
    index = 0
    for index, piece in enumerate(generation.tokens, 1):
        text.append(piece)
        token = {"id": UNKNOWN_ID, "text": piece, "logprob": None, "special": False}
        if index == request.max_new_tokens:
            yield _last_response(generation, index, token, "length", text)
            return
        yield {"index": index, "token": token, "generated_text": None, "details": None}
    yield _last_response(generation, index + 1, END_OF_SEQUENCE, "eos_token", text)


def _last_response(
    generation: Generation, index: int, token: dict[str, Any], finish_reason: str, text: list[str]
) -> dict[str, Any]:
    request = generation.request
    details = {
        "finish_reason": finish_reason,
        "generated_tokens": index,
        "seed": request.seed if request.temperature > 0 else None,  # TGI reports it when sampling
        "input_length": generation.prompt_tokens,
    }
    return {
        "index": index,
        "token": token,
        "generated_text": "".join(text),
        "details": details if request.details else None,
    }


# Made once: json.dumps with separators builds an encoder per call, a per-token cost.
_COMPACT = json.JSONEncoder(separators=(",", ":")).encode


def _sse(event: Any) -> bytes:
    """One server-sent event as TGI's router writes it (axum, serde_json): ``data:``, no
    space, and compact JSON."""
    return b"data:" + _COMPACT(event).encode() + b"\n\n"


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


class PayloadHandler(LLMContentHandler):
    """One payload format.  Client side: ``request`` and ``answer`` (with LangChain's
    ``transform_*``).  Server side: ``read``, ``response`` and ``events``."""

    name: ClassVar[str]
    prompt_format: ClassVar[PromptFormat]  # its models' own; for message formats, to count and window
    takes_messages: ClassVar[bool] = False  # the endpoint applies the chat template itself
    content_type = "application/json"
    accepts = "application/json"
    custom_attributes: str | None = None  # "accept_eula=true" for the formats that need it

    def __init__(self, stream: bool = False) -> None:
        self.stream = stream

    @classmethod
    def chat_format(cls, fmt: PromptFormat) -> ChatFormat:
        """How a conversation is written for ``request``, for models whose layout is ``fmt``."""
        return MessagesFormat(fmt) if cls.takes_messages else fmt

    def request(self, prompt: str, model_kwargs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def answer(self, response: Any) -> str:
        raise NotImplementedError

    @classmethod
    def read(cls, request: dict[str, Any]) -> Request:
        raise NotImplementedError

    @classmethod
    def response(cls, generation: Generation) -> Any:
        raise NotImplementedError

    @classmethod
    def events(cls, generation: Generation) -> Iterator[bytes]:
        """TGI's token events (``/generate_stream``), which the JumpStart containers stream."""
        return map(_sse, _stream_responses(generation))

    def transform_input(self, prompt: str, model_kwargs: dict[str, Any]) -> bytes:
        return json.dumps(self.request(prompt, model_kwargs)).encode("utf-8")

    def transform_output(self, output: Any) -> str:
        return _whole_characters(self._text(output))

    def _text(self, output: Any) -> str:
        if isinstance(output, bytes):
            if not output.lstrip().startswith((b"{", b"[")):
                return _token_line(output)
            # JSON on a line of its own is no server-sent event: a container that
            # answers the streaming call as a plain one sends its whole answer so.
            output = io.BytesIO(output)
        response = _read_json(output)
        try:
            return self.answer(response)
        except (KeyError, IndexError, TypeError) as error:
            raise MalformedResponse(f"unexpected answer shape: {str(response)[:200]}") from error


def _whole_characters(text: str) -> str:
    """``text`` with each lone surrogate (half a character, which JSON can escape as
    ``\\ud800``) replaced by U+FFFD: no store can keep it and no page can send it, so
    an answer holding one could never be saved.  Python's UTF-16 codec does it; most
    tokens are ASCII, which holds none (this runs once a token)."""
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class TGIHandler(PayloadHandler):
    """Hugging Face Text Generation Inference (Falcon, and the bundled model)."""

    name = "tgi"
    prompt_format = FALCON

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

    @classmethod
    def read(cls, request: dict[str, Any]) -> Request:
        return _read_parameters(request, prompt=_prompt(request))

    @classmethod
    def response(cls, generation: Generation) -> Any:
        """TGI's ``/generate`` answer in a list (``compat_generate``), with the details when asked."""
        *responses, last = _stream_responses(generation)
        if last["details"] is None:
            return [{"generated_text": last["generated_text"]}]
        details = {key: value for key, value in last["details"].items() if key != "input_length"}
        tokens = [response["token"] for response in (*responses, last)]
        return [
            {
                "generated_text": last["generated_text"],
                "details": {**details, "prefill": [], "tokens": tokens},
            }
        ]


class Llama2ChatHandler(PayloadHandler):
    """JumpStart Llama 2 chat: the conversation goes as a dialog (a message list);
    the endpoint applies the chat template itself."""

    name = "llama2-chat"
    prompt_format = LLAMA2
    takes_messages = True
    custom_attributes = "accept_eula=true"

    def request(self, prompt: str, model_kwargs: dict[str, Any]) -> dict[str, Any]:
        parameters = {"max_new_tokens": model_kwargs["max_new_tokens"], **_sampling(model_kwargs)}
        return {"inputs": [messages_of(prompt)], "parameters": parameters}

    def answer(self, response: Any) -> str:
        return response[0]["generation"]["content"]

    @classmethod
    def read(cls, request: dict[str, Any]) -> Request:
        dialogs = request["inputs"]
        if not isinstance(dialogs, list) or len(dialogs) != 1:
            raise ValueError("inputs must be a list holding exactly one dialog")
        return _read_parameters(request, messages=dialogs[0])

    @classmethod
    def response(cls, generation: Generation) -> Any:
        return [{"generation": {"role": "assistant", "content": "".join(generation.tokens)}}]


class Llama3Handler(PayloadHandler):
    """JumpStart Llama 3: a prompt in Llama 3's own format; the answer is a dict."""

    name = "llama3"
    prompt_format = LLAMA3
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

    @classmethod
    def read(cls, request: dict[str, Any]) -> Request:
        return _read_parameters(request, prompt=_prompt(request))

    @classmethod
    def response(cls, generation: Generation) -> Any:
        return {"generated_text": "".join(generation.tokens)}


class MessagesHandler(PayloadHandler):
    """TGI's Messages API, OpenAI-style: the conversation goes as messages."""

    name = "messages"
    prompt_format = CHATML
    takes_messages = True

    def request(self, prompt: str, model_kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "messages": messages_of(prompt),
            "max_tokens": model_kwargs["max_new_tokens"],
            **_sampling(model_kwargs),
            "stop": list(model_kwargs.get("stop", ())),
            **_seed(model_kwargs),
            "stream": self.stream,
        }

    def answer(self, response: Any) -> str:
        return response["choices"][0]["message"]["content"]

    @classmethod
    def read(cls, request: dict[str, Any]) -> Request:
        stream_options = request.get("stream_options") or {}
        if not isinstance(stream_options, dict):
            raise TypeError("stream_options must be an object")
        _refuse_log_probabilities(request, "logprobs", "top_logprobs")
        return Request(
            messages=request["messages"],
            max_new_tokens=int(request.get("max_tokens", DEFAULT_MAX_NEW_TOKENS)),
            temperature=float(request.get("temperature", 0.0)),
            top_p=float(request.get("top_p", 1.0)),
            stop=_stops(request.get("stop")),
            seed=request.get("seed"),
            details=True,  # TGI's chat route always asks its generation for them
            include_usage=bool(stream_options.get("include_usage", False)),
        )

    @classmethod
    def response(cls, generation: Generation) -> Any:
        """TGI's ``ChatCompletion`` (``chat_completions``, not streamed)."""
        *_, last = _stream_responses(generation)
        message = {"role": "assistant", "content": last["generated_text"]}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(last)}
        return {"object": "chat.completion", **_chat_fields(), "choices": [choice], "usage": _usage(last)}

    @classmethod
    def events(cls, generation: Generation) -> Iterator[bytes]:
        """TGI's ``ChatCompletionChunk`` per token event (chat.rs), the usage chunk when
        ``stream_options.include_usage`` asks, then ``data:[DONE]``."""
        for response in _stream_responses(generation):
            token = response["token"]
            delta = {"role": "assistant", "content": "" if token["special"] else token["text"]}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": _finish(response)}
            yield _sse(_chunk([choice], None))
            if response["details"] and generation.request.include_usage:
                yield _sse(_chunk([], _usage(response)))
        yield b"data:[DONE]\n\n"


def _chat_fields() -> dict[str, Any]:
    # TGI's ids are empty (ChatCompletion::new, ChatCompletionChunk::new).
    return {
        "id": "",
        "created": int(time.time()),
        "model": MODEL_ID,
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def _chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", **_chat_fields(), "choices": choices, "usage": usage}


def _finish(response: dict[str, Any]) -> str | None:
    """The Messages API's finish reason: TGI's, with the end of sequence said as OpenAI does."""
    details = response["details"]
    if details is None:
        return None
    return "stop" if details["finish_reason"] == "eos_token" else details["finish_reason"]


def _usage(response: dict[str, Any]) -> dict[str, int]:
    prompt, completion = response["details"]["input_length"], response["details"]["generated_tokens"]
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


PAYLOADS: dict[str, type[PayloadHandler]] = {
    handler.name: handler for handler in (Llama2ChatHandler, Llama3Handler, TGIHandler, MessagesHandler)
}
