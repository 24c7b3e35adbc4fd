"""The account's SageMaker endpoints: what is deployed in the region, on which
instances, and in which payload format each model speaks.

SageMaker records no payload format, so it is inferred, surest first: the
JumpStart model id tag (``JUMPSTART``, a table of id prefixes), else the serving
container's image (``_by_image``), else it is left to the user (format None).

Each endpoint costs one chain of control-plane calls (DescribeEndpoint,
DescribeEndpointConfig, DescribeModel, ListTags); inference components cost one
ListInferenceComponents for the whole region (rather than one per endpoint) and
then one DescribeInferenceComponent and its model's chain each.  Endpoints are
described eight at a time.  Nothing is
cached here: the page caches a listing for a short while, the command line asks
afresh.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chat_core import aws
from chat_core.errors import ChatError, redacted
from chat_core.i18n import Message, Text
from chat_core.markdown import plain
from chat_core.models.catalog import ModelSpec, remote_model, served_name

SERVERLESS_TYPE = "serverless"  # the instance type a serverless endpoint is listed with
EMBEDDING = "embedding"  # a format that is no chat format: listed, never offered as a chat model
JUMPSTART_TAG = "sagemaker-sdk:jumpstart-model-id"
# SageMaker does not report a model's context window; 4096 tokens fits the chat
# models JumpStart has deployed since Llama 2, and a user who knows better adds
# the endpoint with its own window ("Add a SageMaker endpoint").
DEFAULT_CONTEXT_WINDOW = 4096

# JumpStart model ids by prefix, first match wins: the payload format their
# JumpStart container serves, and the context window where the model fixes it.
# Ids not here (Mistral, Qwen... on TGI) are told by their container image.
JUMPSTART: tuple[tuple[str, str, int], ...] = (
    ("meta-textgeneration-llama-2-7b-f", "llama2-chat", 4096),  # "-f": the chat models
    ("meta-textgeneration-llama-2-13b-f", "llama2-chat", 4096),
    ("meta-textgeneration-llama-2-70b-f", "llama2-chat", 4096),
    ("meta-textgeneration-llama-3-", "llama3", 8192),  # Llama 3's window; 3.1 and later have more
    ("huggingface-llm-falcon", "tgi", 2048),
    ("huggingface-textembedding-", EMBEDDING, DEFAULT_CONTEXT_WINDOW),
    ("huggingface-sentencesimilarity-", EMBEDDING, DEFAULT_CONTEXT_WINDOW),
)


class ListingUnavailable(ChatError):
    """The account's endpoints cannot be listed; the configured models still work."""

    en = "The account's SageMaker endpoints are not listed: {reason}. The configured models still work."
    ko = "계정의 SageMaker 엔드포인트를 표시하지 않습니다. {reason}. 설정된 모델은 그대로 쓸 수 있습니다."


# Why, when the app's role may not make one of the listing's calls.
LACKS = Message(
    "the app's AWS credentials lack {action} (listing needs sagemaker:ListEndpoints, DescribeEndpoint, "
    "DescribeEndpointConfig, DescribeModel and ListTags)",
    "앱의 AWS 자격 증명에 {action} 권한이 없습니다(목록에는 sagemaker:ListEndpoints, DescribeEndpoint, "
    "DescribeEndpointConfig, DescribeModel, ListTags가 필요합니다)",
)
COMPONENTS_DENIED = Message(
    "Inference components are not listed: that needs sagemaker:ListInferenceComponents and "
    "sagemaker:DescribeInferenceComponent.",
    "추론 컴포넌트는 표시하지 않습니다. sagemaker:ListInferenceComponents와 "
    "sagemaker:DescribeInferenceComponent 권한이 필요합니다.",
)
COMPONENTS_FAILED = Message(
    "Inference components are not listed: SageMaker answered {code} when asked for them.",
    "추론 컴포넌트는 표시하지 않습니다. 요청에 SageMaker가 {code}(으)로 답했습니다.",
)


@dataclass(frozen=True)
class Detection:
    format: str | None  # a name in handlers.PAYLOADS, EMBEDDING, or None: the user says
    detected_by: str
    context_window: int = DEFAULT_CONTEXT_WINDOW


@dataclass(frozen=True)
class Component:
    """An inference component: one of the models an endpoint hosts."""

    name: str
    status: str
    copies: int  # serving now: 0 while it sleeps (scaled to zero)
    desired: int  # asked for: more than ``copies`` while it wakes
    detection: Detection
    created: float | None = None  # seconds since the epoch: none of its hours before were idle


@dataclass(frozen=True)
class Serverless:
    """A serverless endpoint's capacity: billed per request's compute, nothing while idle,
    and its first call after a while without any waits for a cold start."""

    memory_mb: int
    max_concurrency: int


@dataclass(frozen=True)
class AccountEndpoint:
    name: str
    status: str
    instance_type: str
    instance_count: int
    detection: Detection
    has_model: bool  # False: it hosts inference components and is called through them
    components: tuple[Component, ...] = ()
    serverless: Serverless | None = None  # instance_type SERVERLESS_TYPE and no instances then
    created: float | None = None  # seconds since the epoch

    @property
    def instances(self) -> str:
        if self.serverless:
            return f"serverless {self.serverless.memory_mb:,} MB, {self.serverless.max_concurrency} at once"
        return f"{self.instance_type} × {self.instance_count}"


@dataclass(frozen=True)
class Listing:
    endpoints: tuple[AccountEndpoint, ...]
    notice: Text | None = None  # why inference components could not be listed

    @property
    def instances(self) -> dict[str, tuple[str, int]]:
        """Each endpoint's instance type and count, by name: what its cost is counted from."""
        return {found.name: (found.instance_type, found.instance_count) for found in self.endpoints}


def listing_wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the app lists the account's endpoints: when a region is set (read
    locally, so a machine set up for nothing but the bundled model makes no AWS
    call at all), unless the operator sets ACCOUNT_ENDPOINTS=false."""
    return environ.get("ACCOUNT_ENDPOINTS", "").lower() != "false" and aws.resolved_region() is not None


def list_endpoints(region: str | None = None) -> Listing:
    """The region's InService endpoints, with their inference components."""
    try:  # making the client can fail too: botocore finds no region
        client = aws.client("sagemaker", region)
        pages = client.get_paginator("list_endpoints").paginate(StatusEquals="InService")
        names = [summary["EndpointName"] for page in pages for summary in page["Endpoints"]]
        components, notice = _components(client, set(names))
        # Each endpoint's chain waits on four round trips: eight run at once (boto3
        # clients are thread-safe), well under SageMaker's Describe* rate limits.
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = list(pool.map(lambda name: _endpoint(client, name, components.get(name, ())), names))
        return Listing(tuple(endpoint for endpoint in found if endpoint), notice)
    except (BotoCoreError, ClientError) as error:
        raise _unavailable(error) from error


def chat_targets(listing: Listing) -> Iterator[tuple[AccountEndpoint, Component | None]]:
    """What a user can chat with: each endpoint with its own model and each
    component, embedding models left out (their format may still be unknown)."""
    for endpoint in listing.endpoints:
        if endpoint.has_model and endpoint.detection.format != EMBEDDING:
            yield endpoint, None
        for component in endpoint.components:
            if component.detection.format != EMBEDDING:
                yield endpoint, component


def account_model(
    endpoint: AccountEndpoint, component: Component | None = None, payload: str | None = None
) -> ModelSpec:
    """The model to chat with on ``endpoint`` (or its ``component``), in its detected
    format or ``payload``, the one the user chose when it is unknown."""
    detection = component.detection if component else endpoint.detection
    name = served_name(endpoint.name, component.name if component else None)
    return remote_model(
        f"account-{name}",
        f"{name} ({endpoint.instances})",
        payload or detection.format or "",
        endpoint.name,
        detection.context_window,
        inference_component=component.name if component else None,
    )


def _endpoint(client: Any, name: str, components: tuple[Component, ...]) -> AccountEndpoint | None:
    try:
        endpoint = client.describe_endpoint(EndpointName=name)
        config = client.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    except ClientError as error:
        if _gone(error):  # deleted since it was listed
            return None
        raise
    variants = config["ProductionVariants"]
    running = {v["VariantName"]: v for v in endpoint.get("ProductionVariants", ())}
    # The instances running now (0 for an endpoint whose instances scaled to zero), else
    # those it was created with (an endpoint not yet reporting its variants).
    now = {name: variant.get("CurrentInstanceCount") for name, variant in running.items()}
    count = sum(_first_known(now.get(v["VariantName"]), v.get("InitialInstanceCount")) for v in variants)
    first = variants[0]
    serverless = running.get(first["VariantName"], {}).get("CurrentServerlessConfig") or first.get(
        "ServerlessConfig"
    )
    instance_type = first.get("InstanceType") or (SERVERLESS_TYPE if serverless else "unknown")
    model = next((v["ModelName"] for v in variants if v.get("ModelName")), None)
    detection = _model_detection(client, model) if model else Detection(None, "hosts inference components")
    return AccountEndpoint(
        name,
        endpoint["EndpointStatus"],
        instance_type,
        count,
        detection,
        model is not None,
        components,
        Serverless(serverless["MemorySizeInMB"], serverless["MaxConcurrency"]) if serverless else None,
        _epoch(endpoint.get("CreationTime")),
    )


def _first_known(*counts: int | None) -> int:
    return next((count for count in counts if count is not None), 0)


def _components(client: Any, endpoints: set[str]) -> tuple[dict[str, tuple[Component, ...]], Text | None]:
    """The InService components of ``endpoints``, or none and why: a role without the
    inference-component permissions (granted later than the others) still lists endpoints."""
    found: dict[str, list[Component]] = defaultdict(list)
    try:
        pages = client.get_paginator("list_inference_components").paginate(StatusEquals="InService")
        for summary in (summary for page in pages for summary in page["InferenceComponents"]):
            if summary["EndpointName"] in endpoints:
                found[summary["EndpointName"]].append(_component(client, summary["InferenceComponentName"]))
    except ClientError as error:
        return {}, _components_notice(error)
    return {name: tuple(components) for name, components in found.items()}, None


def _component(client: Any, name: str) -> Component:
    component = client.describe_inference_component(InferenceComponentName=name)
    specification = component.get("Specification", {})
    if specification.get("ModelName"):
        detection = _model_detection(client, specification["ModelName"])
    else:  # a container given in the component itself, described with the image it deployed
        container = specification.get("Container", {})
        image = container.get("DeployedImage", {}).get("SpecifiedImage", "")
        tags = _tags(client, component["InferenceComponentArn"])
        detection = _detect(tags, {"Image": image, "Environment": container.get("Environment", {})})
    runtime = component.get("RuntimeConfig", {})
    copies = runtime.get("CurrentCopyCount", 0)
    desired = runtime.get("DesiredCopyCount", copies)
    status = component["InferenceComponentStatus"]
    return Component(name, status, copies, desired, detection, _epoch(component.get("CreationTime")))


def _epoch(when: datetime | None) -> float | None:
    return when.timestamp() if isinstance(when, datetime) else None


def _model_detection(client: Any, model_name: str) -> Detection:
    try:
        model = client.describe_model(ModelName=model_name)
    except ClientError as error:
        if _gone(error):  # a model can be deleted while its endpoint runs on
            return Detection(None, f"unknown: ask the user (model {model_name} no longer exists)")
        raise
    container = model.get("PrimaryContainer") or next(iter(model.get("Containers") or []), {})
    return _detect(_tags(client, model["ModelArn"]), container)


def _tags(client: Any, arn: str) -> dict[str, str]:
    pages = client.get_paginator("list_tags").paginate(ResourceArn=arn)
    return {tag["Key"]: tag["Value"] for page in pages for tag in page["Tags"]}


def _detect(tags: Mapping[str, str], container: Mapping[str, Any]) -> Detection:
    """The format of the model with ``tags`` served by ``container``."""
    jumpstart_id = tags.get(JUMPSTART_TAG, "")
    for prefix, payload, window in JUMPSTART:
        if jumpstart_id.startswith(prefix):
            return Detection(payload, f"JumpStart model id {jumpstart_id}", window)
    return _by_image(container.get("Image", ""), container.get("Environment", {}))


def _by_image(image: str, environment: Mapping[str, str]) -> Detection:
    """The format the serving container speaks, from its image's repository and tag.

    - TGI serves its Messages API on SageMaker's /invocations from 2.3 on (earlier
      with MESSAGES_API_ENABLED=true): messages then, since the endpoint applies the
      model's own chat template; older TGI serves text generation only (``tgi``).
    - LMI (djl-inference) answers a request holding "messages" with the chat
      completions schema from LMI 10 on, again with the model's chat template:
      messages.  Older DJL images run a handler of the deployer's choosing: unknown.
    - TEI serves embeddings."""
    shown = image.rsplit("/", 1)[-1]  # repository:tag; the registry's host names an account
    repository, _, tag = shown.partition(":")
    if re.search(r"(^|-)tei(-|$)|text-embeddings-inference", repository):
        return Detection(EMBEDDING, f"image {shown}: Text Embeddings Inference")
    if re.search(r"(^|-)tgi(-|$)|text-generation-inference", repository):
        version = _version(r"tgi(\d+)\.(\d+)", tag)
        if environment.get("MESSAGES_API_ENABLED", "").lower() == "true" or version >= (2, 3):
            return Detection("messages", f"image {shown}: TGI with the Messages API")
        return Detection("tgi", f"image {shown}: TGI before 2.3, text generation")
    if repository.startswith("djl-inference") and _version(r"lmi(\d+)", tag) >= (10,):
        return Detection("messages", f"image {shown}: LMI 10+, chat completions")
    return Detection(None, f"unknown: ask the user (image {shown or 'not given'})")


def _version(pattern: str, tag: str) -> tuple[int, ...]:
    """The version ``pattern`` finds in an image tag, () when it finds none."""
    found = re.search(pattern, tag)
    return tuple(int(part) for part in found.groups()) if found else ()


def _gone(error: ClientError) -> bool:
    return aws.code(error) in aws.VALIDATION and "not find" in str(error).lower()


def _denied(error: BaseException) -> bool:
    return aws.code(error) in ("AccessDeniedException", "AccessDenied")


def _components_notice(error: ClientError) -> Text:
    if _denied(error):
        return COMPONENTS_DENIED.format()
    # A notice is a Text, which the page renders as Markdown: the code made plain.
    return COMPONENTS_FAILED.format(code=plain(redacted(aws.code(error))))


def _unavailable(error: BaseException) -> ListingUnavailable:
    """Why the account's endpoints cannot be listed: a denied call names its permission."""
    if _denied(error):
        action = f"sagemaker:{error.operation_name}"  # type: ignore[attr-defined]
        return ListingUnavailable(reason=LACKS.format(action=action))
    return ListingUnavailable(reason=aws.reason(error, "sagemaker"))
