"""Embeddings through the SageMaker runtime contract, like chat models.

``embedder()`` gives the ``Embedder`` of this deployment: the bundled
multilingual-e5-small behind the in-process runtime client unless
``EMBEDDING_ENDPOINT`` names a SageMaker endpoint (``embedding_spec``).  Both go
through ``SagemakerEndpointEmbeddings`` and a content handler of
``retrieval.payloads``, with the same runtime clients as chat models
(``models.endpoint.runtime_client``), and fail with the same user-facing errors
(``errors.explain``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field

import chat_core.local.runtime  # noqa: F401  (registers the bundled models with the model path)
from chat_core.errors import ChatError, EndpointNotConfigured, EndpointNotFound, MalformedResponse, explain
from chat_core.local import embedding as local_embedding
from chat_core.models.endpoint import runtime_client
from chat_core.retrieval.payloads import EMBEDDING_PAYLOADS, EmbeddingHandler

__all__ = [
    "EMBEDDING_PAYLOADS",
    "LOCAL_EMBEDDING",
    "Embedder",
    "EmbeddingSpec",
    "SagemakerEndpointEmbeddings",
    "embedder",
    "embedding_spec",
]

# Texts per request: the most a TEI endpoint takes by default (its
# --max-client-batch-size), and enough for the bundled engine's threads to share.
CHUNK_SIZE = 32
# EMBEDDING_PREFIXES: what an endpoint's model needs before a query and a passage.
PREFIXES = {"e5": (local_embedding.QUERY, local_embedding.PASSAGE), "none": ("", "")}

T = TypeVar("T")


class InvalidEmbeddingSetting(EndpointNotConfigured):
    en = "{name} is '{value}'; it must be one of {choices}."
    ko = "{name}의 값 '{value}'는 쓸 수 없습니다. {choices} 중 하나여야 합니다."


class EmbeddingEndpointNotFound(EndpointNotFound):
    """The advice names the embedding setting rather than a chat model's."""

    en = (
        "Embedding endpoint '{endpoint}' does not exist in this account and region. Deploy it, "
        "set EMBEDDING_ENDPOINT to the name of one that does, or unset it to use the bundled model."
    )
    ko = (
        "임베딩 엔드포인트 '{endpoint}'가 이 계정과 리전에 없습니다. 배포하거나 EMBEDDING_ENDPOINT를 "
        "있는 엔드포인트 이름으로 설정하거나, 설정을 지워 내장 모델을 쓰세요."
    )


class SagemakerEndpointEmbeddings(BaseModel, Embeddings):
    """LangChain embeddings from a SageMaker endpoint, modelled on langchain-community's
    class of this name (which langchain-aws lacks, and this project does not use
    langchain-community): the client is injected, the content handler owns the
    payload, and documents go in requests of ``chunk_size`` texts.  Unlike that
    class it adds the model's query and passage prefixes (e5 needs them)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: Any  # a sagemaker-runtime client: boto3's, or local.runtime.LocalRuntimeClient
    endpoint_name: str
    content_handler: EmbeddingHandler
    query_prefix: str = ""
    passage_prefix: str = ""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    endpoint_kwargs: dict[str, Any] = Field(default_factory=dict)

    def _embedding_func(self, texts: list[str]) -> list[list[float]]:
        response = self.client.invoke_endpoint(
            EndpointName=self.endpoint_name,
            Body=self.content_handler.transform_input(texts, self.model_kwargs),
            ContentType=self.content_handler.content_type,
            Accept=self.content_handler.accepts,
            **self.endpoint_kwargs,
        )
        vectors = self.content_handler.transform_output(response["Body"])
        if len(vectors) != len(texts):
            raise MalformedResponse(f"{len(vectors)} vectors for {len(texts)} texts")
        return vectors

    def embed_documents(self, texts: list[str], chunk_size: int = CHUNK_SIZE) -> list[list[float]]:
        prefixed = [self.passage_prefix + text for text in texts]
        return [
            vector
            for start in range(0, len(prefixed), chunk_size)
            for vector in self._embedding_func(prefixed[start : start + chunk_size])
        ]

    def embed_query(self, text: str) -> list[float]:
        return self._embedding_func([self.query_prefix + text])[0]


@dataclass(frozen=True)
class EmbeddingSpec:
    id: str
    endpoint_name: str
    payload: str  # a name in EMBEDDING_PAYLOADS
    query_prefix: str
    passage_prefix: str
    region: str | None = None  # None: the deployment's region (see models.endpoint.runtime_client)

    @property
    def is_local(self) -> bool:
        return self.endpoint_name == local_embedding.ENDPOINT


LOCAL_EMBEDDING = EmbeddingSpec(
    id="local-e5-small",
    endpoint_name=local_embedding.ENDPOINT,
    payload="jumpstart",
    query_prefix=local_embedding.QUERY,
    passage_prefix=local_embedding.PASSAGE,
)


def _setting(env: Mapping[str, str], name: str, default: str, allowed: Mapping[str, object]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in allowed:
        raise InvalidEmbeddingSetting(name=name, value=value, choices=", ".join(allowed))
    return value


def embedding_spec(env: Mapping[str, str] | None = None) -> EmbeddingSpec:
    """The bundled model, unless ``EMBEDDING_ENDPOINT`` names a SageMaker endpoint:
    then ``EMBEDDING_FORMAT`` (jumpstart or tei) is its payload format and
    ``EMBEDDING_PREFIXES`` (e5 or none) says whether its model needs e5's prefixes."""
    env = os.environ if env is None else env
    name = env.get("EMBEDDING_ENDPOINT", "").strip()
    if not name or name == LOCAL_EMBEDDING.endpoint_name:
        return LOCAL_EMBEDDING
    payload = _setting(env, "EMBEDDING_FORMAT", "jumpstart", EMBEDDING_PAYLOADS)
    query_prefix, passage_prefix = PREFIXES[_setting(env, "EMBEDDING_PREFIXES", "e5", PREFIXES)]
    return EmbeddingSpec(
        id=f"{payload}:{name}",
        endpoint_name=name,
        payload=payload,
        query_prefix=query_prefix,
        passage_prefix=passage_prefix,
        region=(env.get("SAGEMAKER_REGION") or env.get("AWS_REGION") or "").strip() or None,
    )


class Embedder:
    """Vectors for passages and queries: float32, rows L2-normalized here (not every
    endpoint normalizes), so that a dot product is the cosine similarity.  Every
    failure is a ``ChatError``."""

    def __init__(self, spec: EmbeddingSpec) -> None:
        self.spec = spec
        self._dim: int | None = None

    @functools.cached_property
    def _embeddings(self) -> SagemakerEndpointEmbeddings:
        return SagemakerEndpointEmbeddings(
            client=runtime_client(self.spec),
            endpoint_name=self.spec.endpoint_name,
            content_handler=EMBEDDING_PAYLOADS[self.spec.payload](),
            query_prefix=self.spec.query_prefix,
            passage_prefix=self.spec.passage_prefix,
        )

    @property
    def id(self) -> str:
        """The model the vectors come from, to key stored indexes: vectors of
        different ids cannot be compared."""
        if self.spec.is_local:
            return self.spec.id
        region = self.spec.region or self._explained(lambda: self._embeddings.client.meta.region_name)
        prefixes = "" if self.spec.query_prefix or self.spec.passage_prefix else "+no-prefixes"
        return f"{self.spec.payload}:{region}/{self.spec.endpoint_name}{prefixes}"

    def passages(self, texts: list[str]) -> np.ndarray:
        """One row per text, shape (len(texts), dim)."""
        if not texts:
            dim = self._dim or len(self.query(""))
            return np.empty((0, dim), dtype=np.float32)
        return self._vectors(lambda: self._embeddings.embed_documents(texts))

    def query(self, text: str) -> np.ndarray:
        """Shape (dim,)."""
        return self._vectors(lambda: [self._embeddings.embed_query(text)])[0]

    def _vectors(self, call: Callable[[], list[list[float]]]) -> np.ndarray:
        vectors = self._explained(lambda: _normalized(call()))
        self._dim = vectors.shape[1]
        return vectors

    def _explained(self, call: Callable[[], T]) -> T:
        """``call``'s result, or its failure as the user-facing error."""
        try:
            return call()
        except Exception as error:
            explained: ChatError = explain(error, self.spec.endpoint_name)
            if isinstance(explained, EndpointNotFound):
                explained = EmbeddingEndpointNotFound(endpoint=self.spec.endpoint_name)
            raise explained from error


def _normalized(vectors: list[list[float]]) -> np.ndarray:
    try:
        array = np.asarray(vectors, dtype=np.float32)
    except ValueError as error:  # one request's vectors longer than another's
        raise MalformedResponse("vectors of different lengths") from error
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if not norms.all():
        raise MalformedResponse("a vector of zeros")
    return array / norms


def embedder(spec: EmbeddingSpec | None = None) -> Embedder:
    return Embedder(spec or embedding_spec())
