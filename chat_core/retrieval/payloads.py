"""Embedding payload formats: the JSON an embedding endpoint takes and gives back, both ways.

``EMBEDDING_PAYLOADS`` is the registry, like ``models.handlers.PAYLOADS`` for chat:
each format is one handler class declaring how a client writes a request and
reads the answer (the content handler of ``SagemakerEndpointEmbeddings``), and
how a server reads that request and writes the answer (``local.endpoint``
serves the bundled embedding model in every format this way).

The handlers build on langchain-aws's ``ContentHandlerBase``: langchain-aws has
no embeddings content handler of its own (that one lives in
langchain-community, which this project does not use).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
from langchain_aws.llms.sagemaker_endpoint import ContentHandlerBase

from chat_core.errors import MalformedResponse


def _texts(inputs: Any) -> list[str]:
    """A request's texts: one string, or a non-empty list of strings (both formats accept either)."""
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts or not all(isinstance(text, str) for text in texts):
        raise TypeError("the inputs must be a string or a non-empty list of strings")
    return texts


class EmbeddingHandler(ContentHandlerBase[list[str], list[list[float]]]):
    """One embedding payload format.  Client side: ``request`` and ``vectors`` (with
    LangChain's ``transform_*``).  Server side: ``read`` and ``response``."""

    name: ClassVar[str]
    content_type = "application/json"
    accepts = "application/json"

    def request(self, texts: list[str], model_kwargs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def vectors(self, response: Any) -> Any:
        """The list of vectors in a parsed answer."""
        raise NotImplementedError

    @classmethod
    def read(cls, request: Any) -> list[str]:
        raise NotImplementedError

    @classmethod
    def response(cls, vectors: list[list[float]]) -> Any:
        raise NotImplementedError

    def transform_input(self, prompt: list[str], model_kwargs: dict[str, Any]) -> bytes:
        return json.dumps(self.request(prompt, model_kwargs)).encode("utf-8")

    def transform_output(self, output: Any) -> list[list[float]]:
        try:
            response = json.loads(output.read().decode("utf-8"))
        except ValueError as error:
            raise MalformedResponse(f"the response is not JSON: {error}") from error
        try:
            vectors = np.asarray(self.vectors(response))
        except (KeyError, IndexError, TypeError, ValueError) as error:  # ValueError: rows of unequal length
            raise MalformedResponse(f"unexpected answer shape: {str(response)[:200]}") from error
        if vectors.ndim != 2 or not vectors.shape[1] or vectors.dtype.kind not in "fi":
            raise MalformedResponse(f"the answer holds no list of vectors: {str(response)[:200]}")
        if not np.isfinite(vectors).all():
            raise MalformedResponse("the answer holds a vector with a NaN or infinite value")
        return vectors.tolist()


class JumpStartEmbeddingHandler(EmbeddingHandler):
    """JumpStart text-embedding models (E5, GTE, BGE, ... on the Hugging Face containers)."""

    name = "jumpstart"

    def request(self, texts: list[str], model_kwargs: dict[str, Any]) -> dict[str, Any]:
        return {"text_inputs": texts, **model_kwargs}

    def vectors(self, response: Any) -> Any:
        return response["embedding"]

    @classmethod
    def read(cls, request: Any) -> list[str]:
        return _texts(request["text_inputs"])

    @classmethod
    def response(cls, vectors: list[list[float]]) -> Any:
        return {"embedding": vectors}


class TEIHandler(EmbeddingHandler):
    """Hugging Face Text Embeddings Inference (its ``/embed`` route, which SageMaker's
    TEI container serves as invocations)."""

    name = "tei"

    def request(self, texts: list[str], model_kwargs: dict[str, Any]) -> dict[str, Any]:
        # TEI refuses an input longer than the model's window unless told to truncate:
        # one long passage would otherwise fail a whole document's indexing.
        return {"inputs": texts, "truncate": True, **model_kwargs}

    def vectors(self, response: Any) -> Any:
        if not isinstance(response, list):  # an error object: {"error": ..., "error_type": ...}
            raise TypeError("the answer is not a list")
        return response

    @classmethod
    def read(cls, request: Any) -> list[str]:
        return _texts(request["inputs"])

    @classmethod
    def response(cls, vectors: list[list[float]]) -> Any:
        return vectors


EMBEDDING_PAYLOADS: dict[str, type[EmbeddingHandler]] = {
    handler.name: handler for handler in (JumpStartEmbeddingHandler, TEIHandler)
}
