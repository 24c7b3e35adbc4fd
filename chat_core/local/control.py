"""The SageMaker control plane for what the local endpoint server serves.

boto3's ``sagemaker`` client, pointed at the server
(``AWS_ENDPOINT_URL_SAGEMAKER``), sends JSON 1.1: ``POST /`` with
``X-Amz-Target: SageMaker.<Operation>`` and the parameters as a JSON object.
This answers the operations on inference components, which moto's SageMaker
server does not implement (ListInferenceComponents, DescribeInferenceComponent,
UpdateInferenceComponentRuntimeConfig), in the shapes of botocore's service
model; any other operation is an ``UnknownOperationException``, as AWS answers one.
Errors carry their code in ``__type``, where botocore's JSON parser reads it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from chat_core.local.endpoint import EndpointFault, LocalEndpoint

TARGET_PREFIX = "SageMaker."
ACCOUNT = "123456789012"  # the account moto's server answers for, so ARNs look alike
VARIANT = "AllTraffic"  # the variant JumpStart gives the endpoints it deploys
# The serving container each payload format's component runs: the image
# discovery recognizes the format by (models/discovery.py ``_by_image``).
DLC = "763104351884.dkr.ecr.{region}.amazonaws.com"
IMAGES = {
    "llama2-chat": "huggingface-pytorch-tgi-inference:2.0.1-tgi1.1.0-gpu-py39-cu118-ubuntu20.04",
    "llama3": "djl-inference:0.29.0-lmi11.0.0-cu124",
    "tgi": "huggingface-pytorch-tgi-inference:2.0.1-tgi1.1.0-gpu-py39-cu118-ubuntu20.04",
    "messages": "huggingface-pytorch-tgi-inference:2.4-tgi2.3-gpu-py311-cu124-ubuntu22.04",
    "jumpstart": "huggingface-tei:2.0.1-tei1.2.3-gpu-py310-cu122-ubuntu22.04",
    "tei": "huggingface-tei:2.0.1-tei1.2.3-gpu-py310-cu122-ubuntu22.04",
}
# The JumpStart model id tag, where the image alone does not tell the format (a
# Llama 2 chat model on TGI 1.1 looks like any TGI 1.1 model).
JUMPSTART_IDS = {
    "llama2-chat": "meta-textgeneration-llama-2-7b-f",
    "llama3": "meta-textgeneration-llama-3-8b-instruct",
}
_REGION = re.compile(r"Credential=[^/,]+/[0-9]+/([a-z0-9-]+)/")
_STARTED = time.time()  # every resource's creation time


def _validation(message: str) -> EndpointFault:
    return EndpointFault("ValidationException", message, 400)


class ControlPlane:
    """The operations answered for ``endpoint``'s inference components."""

    def __init__(self, endpoint: LocalEndpoint) -> None:
        self.endpoint = endpoint
        self._operations: dict[str, Callable[[Mapping[str, Any], str], dict[str, Any]]] = {
            "ListInferenceComponents": self._list_components,
            "DescribeInferenceComponent": self._describe_component,
            "UpdateInferenceComponentRuntimeConfig": self._update_runtime_config,
        }

    def answer(self, target: str, body: bytes, authorization: str) -> dict[str, Any]:
        """The answer to the call ``target`` names, or its EndpointFault."""
        operation = target.removeprefix(TARGET_PREFIX)
        if not target.startswith(TARGET_PREFIX) or operation not in self._operations:
            raise EndpointFault("UnknownOperationException", f"Operation {target} is not answered here.", 400)
        try:
            parameters = json.loads(body or b"{}")
            if not isinstance(parameters, dict):
                raise TypeError("the parameters must be a JSON object")
        except (ValueError, TypeError, RecursionError) as error:
            raise EndpointFault("SerializationException", f"Malformed request: {error}", 400) from error
        found = _REGION.search(authorization)
        return self._operations[operation](parameters, found.group(1) if found else "us-east-1")

    def _hosting(self, name: Any) -> tuple[str, str]:
        """The endpoint that hosts component ``name``, and its format."""
        for endpoint, hosted in self.endpoint.components.items():
            if name in hosted:
                return endpoint, hosted[name]
        raise _validation(f'Could not find inference component "{name}".')

    def _list_components(self, parameters: Mapping[str, Any], region: str) -> dict[str, Any]:
        """Every component (one page), filtered by status, endpoint and name."""
        wanted = {
            "InferenceComponentStatus": parameters.get("StatusEquals"),
            "EndpointName": parameters.get("EndpointNameEquals"),
            "VariantName": parameters.get("VariantNameEquals"),
        }
        contains = parameters.get("NameContains", "")
        summaries = [
            {key: described[key] for key in _SUMMARY}
            for described in (
                self._describe_component({"InferenceComponentName": name}, region)
                for hosted in self.endpoint.components.values()
                for name in hosted
                if contains in name
            )
            if all(value is None or described[key] == value for key, value in wanted.items())
        ]
        return {"InferenceComponents": summaries}

    def _describe_component(self, parameters: Mapping[str, Any], region: str) -> dict[str, Any]:
        name = parameters.get("InferenceComponentName")
        endpoint, payload = self._hosting(name)
        copies = self.endpoint.copies(endpoint, name)
        image = f"{DLC.format(region=region)}/{IMAGES[payload]}"
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
                "Container": {"DeployedImage": {"SpecifiedImage": image, "ResolvedImage": image}},
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


_SUMMARY = (
    "CreationTime",
    "InferenceComponentArn",
    "InferenceComponentName",
    "EndpointArn",
    "EndpointName",
    "VariantName",
    "InferenceComponentStatus",
    "LastModifiedTime",
)


def arn(region: str, kind: str, name: str) -> str:
    """A SageMaker resource's ARN: its kind and name in lower case, as AWS writes them."""
    return f"arn:aws:sagemaker:{region}:{ACCOUNT}:{kind}/{name.lower()}"
