"""The bundled models as a sagemaker-runtime client, in this process.

``LocalRuntimeClient`` answers ``invoke_endpoint`` and
``invoke_endpoint_with_response_stream`` with what boto3's client returns (a
``StreamingBody``; an event stream of ``PayloadPart`` events; ``ClientError``
with SageMaker's error codes), so the local models go through exactly the same
LangChain classes (``SagemakerEndpoint``, ``SagemakerEndpointEmbeddings``) and
content handlers as remote endpoints do.  Importing this module registers it, and
the bundled chat model's token count, with the model path (``models.bundled``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from chat_core.local import embedding as local_embedding
from chat_core.local import model as local_model
from chat_core.local.endpoint import EndpointFault, LocalEndpoint, Response
from chat_core.models import bundled
from chat_core.models.catalog import LOCAL_ENDPOINT

# The in-process chat model speaks TGI, the same handler as Falcon's serves it; the
# embedding model speaks JumpStart's text-embedding payload.
ENDPOINT = LocalEndpoint({LOCAL_ENDPOINT: "tgi", local_embedding.ENDPOINT: "jumpstart"}, max_queue=1_000_000)


class LocalRuntimeClient:
    def invoke_endpoint(self, EndpointName: str, Body: bytes | str, **kwargs: Any) -> dict[str, Any]:
        response = self._invoke("InvokeEndpoint", EndpointName, Body, False, kwargs)
        assert response.body is not None
        return {
            "Body": StreamingBody(io.BytesIO(response.body), len(response.body)),
            "ContentType": response.content_type,
            "InvokedProductionVariant": "AllTraffic",
        }

    def invoke_endpoint_with_response_stream(
        self, EndpointName: str, Body: bytes | str, **kwargs: Any
    ) -> dict[str, Any]:
        response = self._invoke("InvokeEndpointWithResponseStream", EndpointName, Body, True, kwargs)
        assert response.events is not None
        return {
            "Body": _payload_parts(response.events),
            "ContentType": response.content_type,
            "InvokedProductionVariant": "AllTraffic",
        }

    def _invoke(
        self, operation: str, endpoint: str, body: bytes | str, stream: bool, kwargs: dict[str, Any]
    ) -> Response:
        try:
            return ENDPOINT.invoke(
                endpoint,
                body,
                stream=stream,
                custom_attributes=kwargs.get("CustomAttributes"),
                component=kwargs.get("InferenceComponentName"),
            )
        except EndpointFault as fault:
            raise ClientError(
                {
                    "Error": {"Code": fault.code, "Message": fault.message},
                    "ResponseMetadata": {"HTTPStatusCode": fault.status},
                },
                operation,
            ) from fault


def _payload_parts(events: Iterator[bytes]) -> Iterator[dict[str, dict[str, bytes]]]:
    for event in events:
        yield {"PayloadPart": {"Bytes": event}}


bundled.register(bundled.Bundled(client=LocalRuntimeClient, count_tokens=local_model.count_tokens))
