"""LangChain's ``SagemakerEndpoint`` for a catalog model: the one path to every model.

Remote models get a real boto3 sagemaker-runtime client with timeouts and
adaptive retries; the bundled models get ``LocalRuntimeClient``, which answers
the same two calls in-process.  Embedding models get their client here too
(``runtime_client``, used by ``retrieval.embeddings``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

import boto3
from botocore.config import Config
from langchain_aws import SagemakerEndpoint

from chat_core.local import model as local_model
from chat_core.local.runtime import LocalRuntimeClient
from chat_core.models import budget
from chat_core.models.catalog import GenerationParams, ModelSpec
from chat_core.models.handlers import PAYLOADS

# SagemakerEndpoint logs every error it re-raises, traceback included, to stderr
# (a command line's output, the app's log); every one reaches a caller that
# explains it (errors.explain), so the log would only repeat it as a traceback.
logging.getLogger("langchain_aws.llms.sagemaker_endpoint").setLevel(logging.CRITICAL)


def _config() -> Config:
    """Timeouts and retries: adaptive mode backs off and rate-limits itself when an
    endpoint throttles.  SAGEMAKER_READ_TIMEOUT (seconds) suits slow models;
    AWS_MAX_ATTEMPTS is botocore's own setting, which an explicit Config would hide."""
    return Config(
        connect_timeout=5,
        read_timeout=float(os.environ.get("SAGEMAKER_READ_TIMEOUT", 120)),
        retries={"mode": "adaptive", "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS", 4))},
    )


@functools.lru_cache(maxsize=8)
def _session(aws_environment: tuple[tuple[str, str], ...]) -> boto3.session.Session:
    return boto3.session.Session()


class Deployment(Protocol):
    """Where a model is served: what a chat model's spec and an embedding model's spec share."""

    @property
    def is_local(self) -> bool: ...

    @property
    def region(self) -> str | None: ...


def runtime_client(spec: Deployment) -> Any:
    if spec.is_local:
        return LocalRuntimeClient()
    return aws_client("sagemaker-runtime", spec.region)


def aws_client(service: str, region: str | None = None) -> Any:
    """A boto3 client for ``service`` in ``region`` (None: the deployment's region).

    boto3 resolves profile, credentials and the ``AWS_ENDPOINT_URL_<SERVICE>`` override.
    A session reads them once, so one is kept per state of the AWS_* variables: a
    new client per call stays cheap (13 ms against 100 ms for a new session)."""
    session = _session(aws_environment())
    return session.client(service, region_name=deployment_region(region), config=_config())


def deployment_region(region: str | None = None) -> str | None:
    """``region``, else SAGEMAKER_REGION, else AWS_REGION, else None (boto3's own
    resolution: AWS_DEFAULT_REGION, the profile).  botocore reads AWS_DEFAULT_REGION
    and profiles but not AWS_REGION, which Lambda, SageMaker Studio and most AWS
    tooling set: honour it here."""
    return region or os.environ.get("SAGEMAKER_REGION") or os.environ.get("AWS_REGION") or None


def resolved_region() -> str | None:
    """The region a client would be made for, read locally (environment and AWS
    config file, never the network); None when none is set."""
    return deployment_region() or _session(aws_environment()).region_name


def aws_environment() -> tuple[tuple[str, str], ...]:
    """The settings an AWS call depends on (boto3's AWS_* and our SAGEMAKER_*), as a
    key for what is kept per state of them: a boto3 session, the account's listing."""
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(("AWS_", "SAGEMAKER_"))))


def _token_ids(spec: ModelSpec) -> Callable[[str], list[int]]:
    """LangChain counts tokens with GPT-2 from a hub unless told otherwise; remote
    tokenizers are not available here, so their ids are placeholders of the
    estimated count."""
    if spec.is_local:
        return lambda text: local_model.model().tokenize(text.encode(), add_bos=False, special=True)
    return lambda text: [0] * budget.estimate_tokens(text)


def endpoint_llm(spec: ModelSpec, params: GenerationParams, *, streaming: bool = True) -> SagemakerEndpoint:
    handler = PAYLOADS[spec.payload](stream=streaming)
    attributes = handler.custom_attributes
    called_with = {"CustomAttributes": attributes} if attributes else {}
    if spec.inference_component:
        called_with["InferenceComponentName"] = spec.inference_component
    return SagemakerEndpoint(
        endpoint_name=spec.endpoint_name,
        client=runtime_client(spec),
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
