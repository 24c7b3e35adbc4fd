"""The SageMaker control plane for what the local endpoint server serves.

boto3's ``sagemaker`` client, pointed at the server
(``AWS_ENDPOINT_URL_SAGEMAKER``), sends JSON 1.1: ``POST /`` with
``X-Amz-Target: SageMaker.<Operation>`` and the parameters as a JSON object.
Answered here, in the shapes of botocore's service model, is what moto's
SageMaker server cannot hold:

- inference components (moto 5 has none): ListInferenceComponents,
  DescribeInferenceComponent, UpdateInferenceComponentRuntimeConfig;
- the endpoints that host them (moto cannot create an endpoint config whose
  variant names no model), with their configs, their components' models and
  tags: DescribeEndpoint, DescribeEndpointConfig, DescribeModel, ListTags, and
  ListEndpoints (moto's list plus these).

Every other call goes unchanged to moto's server at ``forward_to``: those about
the serverless endpoints served here too, since moto holds serverless endpoints
(they are made there like any other; only their runtime calls are answered here).
Without ``forward_to`` (offline, nothing else running) the serverless endpoints
are described here as well, and any other call is an ``UnknownOperationException``,
as AWS answers an operation it does not know.  Errors carry their code in
``__type``, where botocore's JSON parser reads it.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chat_core.local.endpoint import SERVERLESS_MAX_CONCURRENCY, EndpointFault, LocalEndpoint

TARGET_PREFIX = "SageMaker."
ACCOUNT = "123456789012"  # the account moto's server answers for, so ARNs look alike
VARIANT = "AllTraffic"  # the variant JumpStart gives the endpoints it deploys
# A component-hosting endpoint's instances: one per copy, scaled by SageMaker
# (managed instance scaling) down to none when every component has no copy.
INSTANCE_TYPE = "ml.g5.2xlarge"
MAX_INSTANCES = 4
# A serverless endpoint's size: the most memory SageMaker allows, a few calls at once.
SERVERLESS_CONFIG = {"MemorySizeInMB": 4096, "MaxConcurrency": SERVERLESS_MAX_CONCURRENCY}
# The serving container each payload format's model runs: the image discovery
# recognizes the format by (models/discovery.py ``_by_image``).
DLC = "763104351884.dkr.ecr.{region}.amazonaws.com"
TGI_1_1 = "huggingface-pytorch-tgi-inference:2.0.1-tgi1.1.0-gpu-py39-cu118-ubuntu20.04"
TEI = "huggingface-tei:2.0.1-tei1.2.3-gpu-py310-cu122-ubuntu22.04"
IMAGES = {
    "llama2-chat": TGI_1_1,
    "llama3": "djl-inference:0.29.0-lmi11.0.0-cu124",
    "tgi": TGI_1_1,
    "messages": "huggingface-pytorch-tgi-inference:2.4-tgi2.3-gpu-py311-cu124-ubuntu22.04",
    "jumpstart": TEI,
    "tei": TEI,
}
# The JumpStart model id tag, where the image alone does not tell the format (a
# Llama 2 chat model on TGI 1.1 looks like any model on TGI 1.1).
JUMPSTART_TAG = "sagemaker-sdk:jumpstart-model-id"
JUMPSTART_IDS = {
    "llama2-chat": "meta-textgeneration-llama-2-7b-f",
    "llama3": "meta-textgeneration-llama-3-8b-instruct",
}
# Request headers passed to moto: what it reads to pick its backend and operation.
FORWARDED = ("Content-Type", "X-Amz-Target", "Authorization", "X-Amz-Date", "X-Amz-Security-Token")
FORWARD_TIMEOUT_S = 30.0  # moto answers in milliseconds; a hung one must not hold the caller
_REGION = re.compile(r"Credential=[^/,]+/[0-9]+/([a-z0-9-]+)/")
_STARTED = time.time()  # every resource's creation time


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/x-amz-json-1.1"


def _validation(message: str) -> EndpointFault:
    return EndpointFault("ValidationException", message, 400)


def arn(region: str, kind: str, name: str) -> str:
    """A SageMaker resource's ARN: its kind and name in lower case, as AWS writes them."""
    return f"arn:aws:sagemaker:{region}:{ACCOUNT}:{kind}/{name.lower()}"


Operation = Callable[[Mapping[str, Any], str], dict[str, Any] | None]


class ControlPlane:
    """The control-plane calls for ``endpoint``'s components (and without
    ``forward_to``, its serverless endpoints); the rest go to moto's server at ``forward_to``."""

    def __init__(self, endpoint: LocalEndpoint, forward_to: str | None = None) -> None:
        self.endpoint = endpoint
        if forward_to and urlsplit(forward_to).scheme not in ("http", "https"):
            raise ValueError(f"the control plane to forward to must be an http(s) URL, not {forward_to!r}")
        self.forward_to = forward_to
        # Calls by operation, forwarded ones too: what a client's watching costs (tests, bench/).
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        # Each returns its answer, or None for a call about something not served here.
        self._operations: dict[str, Operation] = {
            "ListInferenceComponents": self._list_components,
            "DescribeInferenceComponent": self._describe_component,
            "UpdateInferenceComponentRuntimeConfig": self._update_runtime_config,
            "DescribeEndpoint": self._describe_endpoint,
            "DescribeEndpointConfig": self._describe_config,
            "DescribeModel": self._describe_model,
            "ListTags": self._list_tags,
        }

    def answer(self, headers: Mapping[str, str], body: bytes) -> Answer:
        """The answer to the call the ``X-Amz-Target`` header names (an EndpointFault
        for an error answered here)."""
        target = headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX)
        with self._lock:
            self.calls[operation] += 1
        found = _REGION.search(headers.get("Authorization", ""))
        region = found.group(1) if found else "us-east-1"
        if operation == "ListEndpoints":
            return self._list_endpoints(headers, body, _parameters(body), region)
        if target.startswith(TARGET_PREFIX) and operation in self._operations:
            answered = self._operations[operation](_parameters(body), region)
            if answered is not None:
                return Answer(200, json.dumps(answered).encode())
        return self._forward(headers, body)

    def _forward(self, headers: Mapping[str, str], body: bytes) -> Answer:
        """moto's answer to the call, as it gave it."""
        target = headers.get("X-Amz-Target", "")
        if not self.forward_to:
            raise EndpointFault("UnknownOperationException", f"Operation {target} is not answered here.", 400)
        url = urlsplit(self.forward_to)
        kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        connection = kind(url.netloc, timeout=FORWARD_TIMEOUT_S)
        try:
            passed = {name: headers[name] for name in FORWARDED if name in headers}
            connection.request("POST", url.path or "/", body, passed)
            response = connection.getresponse()
            content_type = response.getheader("Content-Type", "application/x-amz-json-1.1")
            return Answer(response.status, response.read(), content_type)
        except OSError as error:  # moto not running: a fault AWS clients retry
            message = f"The control plane at {self.forward_to} did not answer ({type(error).__name__})."
            raise EndpointFault("ServiceUnavailable", message, 503) from error
        finally:
            connection.close()

    # Inference components.

    def _hosting(self, name: Any) -> tuple[str, str]:
        """The endpoint that hosts component ``name``, and its format."""
        for endpoint, hosted in self.endpoint.components.items():
            if name in hosted:
                return endpoint, hosted[name]
        raise _validation(f'Could not find inference component "{name}".')

    def _list_components(self, parameters: Mapping[str, Any], region: str) -> dict[str, Any]:
        """Every component (one page), filtered by status, endpoint, variant and name."""
        wanted = {
            "InferenceComponentStatus": parameters.get("StatusEquals"),
            "EndpointName": parameters.get("EndpointNameEquals"),
            "VariantName": parameters.get("VariantNameEquals"),
        }
        described = (
            self._describe_component({"InferenceComponentName": name}, region)
            for hosted in self.endpoint.components.values()
            for name in hosted
            if parameters.get("NameContains", "") in name
        )
        summaries = [
            {key: component[key] for key in _COMPONENT_SUMMARY}
            for component in described
            if all(value is None or component[key] == value for key, value in wanted.items())
        ]
        return {"InferenceComponents": summaries}

    def _describe_component(self, parameters: Mapping[str, Any], region: str) -> dict[str, Any]:
        name = parameters.get("InferenceComponentName")
        endpoint, payload = self._hosting(name)
        copies = self.endpoint.copies(endpoint, name)
        return {
            "InferenceComponentName": name,
            "InferenceComponentArn": arn(region, "inference-component", name),
            "EndpointName": endpoint,
            "EndpointArn": arn(region, "endpoint", endpoint),
            "VariantName": VARIANT,
            # A change of copies leaves the component InService: only a change of
            # its specification makes it Updating.
            "InferenceComponentStatus": "InService",
            "Specification": {
                **_deployed(name, payload, region),
                "ComputeResourceRequirements": {
                    "NumberOfAcceleratorDevicesRequired": 1,
                    "MinMemoryRequiredInMb": 1024,
                },
            },
            "RuntimeConfig": {"DesiredCopyCount": copies.desired, "CurrentCopyCount": copies.current},
            "CreationTime": _STARTED,
            "LastModifiedTime": copies.modified,
        }

    def _update_runtime_config(self, parameters: Mapping[str, Any], region: str) -> dict[str, Any]:
        name = parameters.get("InferenceComponentName")
        endpoint, _ = self._hosting(name)
        count = (parameters.get("DesiredRuntimeConfig") or {}).get("CopyCount")
        if not isinstance(count, int) or count < 0:
            raise _validation("DesiredRuntimeConfig.CopyCount must be a whole number of at least 0.")
        self.endpoint.set_copies(endpoint, name, count)
        return {"InferenceComponentArn": arn(region, "inference-component", name)}

    # Endpoints, their configs, models and tags.

    @property
    def _serverless(self) -> dict[str, str]:
        """The serverless endpoints described here: moto holds them when it runs."""
        return {} if self.forward_to else self.endpoint.serverless

    def _own_endpoints(self) -> list[str]:
        return [*self.endpoint.components, *self._serverless]

    def _list_endpoints(
        self, headers: Mapping[str, str], body: bytes, parameters: Mapping[str, Any], region: str
    ) -> Answer:
        """moto's endpoints, then these (on the first page)."""
        listed: dict[str, Any] = {"Endpoints": []}
        if self.forward_to:
            answered = self._forward(headers, body)
            if answered.status != 200:
                return answered
            listed = json.loads(answered.body)
        if not parameters.get("NextToken"):
            for name in self._own_endpoints():
                summary = {key: self._endpoint(name, region)[key] for key in _ENDPOINT_SUMMARY}
                if (
                    parameters.get("StatusEquals") in (None, summary["EndpointStatus"])
                    and parameters.get("NameContains", "") in name
                ):
                    listed["Endpoints"].append(summary)
        return Answer(200, json.dumps(listed).encode())

    def _endpoint(self, name: str, region: str) -> dict[str, Any]:
        variant: dict[str, Any] = {"VariantName": VARIANT, "CurrentWeight": 1.0, "DesiredWeight": 1.0}
        if name in self.endpoint.serverless:
            variant |= {
                "CurrentServerlessConfig": SERVERLESS_CONFIG,
                "DesiredServerlessConfig": SERVERLESS_CONFIG,
            }
        else:  # one instance a copy
            copies = [self.endpoint.copies(name, component) for component in self.endpoint.components[name]]
            variant |= {
                "CurrentInstanceCount": sum(c.current for c in copies),
                "DesiredInstanceCount": sum(c.desired for c in copies),
                "ManagedInstanceScaling": _MANAGED_SCALING,
            }
        return {
            "EndpointName": name,
            "EndpointArn": arn(region, "endpoint", name),
            "EndpointConfigName": f"{name}-config",
            "ProductionVariants": [variant],
            "EndpointStatus": "InService",
            "CreationTime": _STARTED,
            "LastModifiedTime": _STARTED,
        }

    def _describe_endpoint(self, parameters: Mapping[str, Any], region: str) -> dict[str, Any] | None:
        name = parameters.get("EndpointName")
        return self._endpoint(name, region) if name in self._own_endpoints() else None

    def _describe_config(self, parameters: Mapping[str, Any], region: str) -> dict[str, Any] | None:
        config = parameters.get("EndpointConfigName", "")
        name = config.removesuffix("-config")
        if config == name or name not in self._own_endpoints():
            return None
        variant: dict[str, Any] = {"VariantName": VARIANT, "InitialVariantWeight": 1.0}
        if name in self.endpoint.serverless:
            variant |= {"ModelName": name, "ServerlessConfig": SERVERLESS_CONFIG}
        else:  # no model: the components are the models
            variant |= {
                "InstanceType": INSTANCE_TYPE,
                "InitialInstanceCount": 1,
                "ManagedInstanceScaling": _MANAGED_SCALING,
                "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
            }
        return {
            "EndpointConfigName": config,
            "EndpointConfigArn": arn(region, "endpoint-config", config),
            "ProductionVariants": [variant],
            "CreationTime": _STARTED,
        }

    def _models(self) -> dict[str, str]:
        """The models served here by name, each with its format: a component's
        model (``_deployed``) and a serverless endpoint's are named after them."""
        hosted = {
            name: payload
            for models in self.endpoint.components.values()
            for name, payload in models.items()
            if payload in JUMPSTART_IDS
        }
        return self._serverless | hosted

    def _describe_model(self, parameters: Mapping[str, Any], region: str) -> dict[str, Any] | None:
        name = parameters.get("ModelName")
        payload = self._models().get(name)
        if payload is None:
            return None
        return {
            "ModelName": name,
            "ModelArn": arn(region, "model", name),
            "PrimaryContainer": {"Image": _image(payload, region)},
            "ExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/sagemaker",
            "CreationTime": _STARTED,
        }

    def _list_tags(self, parameters: Mapping[str, Any], region: str) -> dict[str, Any] | None:
        """A model's JumpStart id, where its format has one; no tags on the rest served here."""
        resource = parameters.get("ResourceArn")
        for name, payload in self._models().items():
            if resource == arn(region, "model", name):
                jumpstart = JUMPSTART_IDS.get(payload)
                return {"Tags": [{"Key": JUMPSTART_TAG, "Value": jumpstart}] if jumpstart else []}
        own = {arn(region, kind, name) for kind, name in self._resources()}
        return {"Tags": []} if resource in own else None

    def _resources(self) -> Iterator[tuple[str, str]]:
        for name in self._own_endpoints():
            yield "endpoint", name
            yield "endpoint-config", f"{name}-config"
        for models in self.endpoint.components.values():
            yield from (("inference-component", name) for name in models)


def _image(payload: str, region: str) -> str:
    return f"{DLC.format(region=region)}/{IMAGES[payload]}"


def _deployed(name: str, payload: str, region: str) -> dict[str, Any]:
    """What component ``name`` runs, in its specification: a model named after it,
    tagged with its JumpStart id where its format has one (as JumpStart deploys a
    component), else the container given in the component itself, described as
    SageMaker describes one, with the image it deployed."""
    if payload in JUMPSTART_IDS:
        return {"ModelName": name}
    deployed = {"SpecifiedImage": _image(payload, region), "ResolutionTime": _STARTED}
    return {"Container": {"DeployedImage": deployed}}


def _parameters(body: bytes) -> dict[str, Any]:
    try:
        parameters = json.loads(body or b"{}")
    except (ValueError, RecursionError) as error:
        raise EndpointFault("SerializationException", f"Malformed request: {error}", 400) from error
    if not isinstance(parameters, dict):
        raise EndpointFault("SerializationException", "The parameters must be a JSON object.", 400)
    return parameters


_MANAGED_SCALING = {"Status": "ENABLED", "MinInstanceCount": 0, "MaxInstanceCount": MAX_INSTANCES}
_COMPONENT_SUMMARY = (
    "CreationTime",
    "InferenceComponentArn",
    "InferenceComponentName",
    "EndpointArn",
    "EndpointName",
    "VariantName",
    "InferenceComponentStatus",
    "LastModifiedTime",
)
_ENDPOINT_SUMMARY = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
