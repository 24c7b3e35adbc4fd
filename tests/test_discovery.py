"""Endpoints from the account: moto's server (tests/moto_server.py) is the SageMaker
control plane, with endpoints created there through boto3 as JumpStart, TGI, TEI,
LMI and a custom container would create them, and the listing, the command line
and the sidebar read them back with real boto3.

Where moto cannot answer:
- moto does not implement ListInferenceComponents or DescribeInferenceComponent,
  and cannot create the endpoint config a component-hosting endpoint has (one
  whose variant names no model): in tests using ``components``, the local
  endpoint server (``python -m chat_core endpoint``, chat_core/local/control.py)
  is the control plane, serving "team-shared" and its components (their models,
  tags, endpoint and config too: llama2-chat-ic by a model tagged with its
  JumpStart id, gemma-ic by its container's image) and passing every other call
  to moto unchanged (``--control-plane``); it is the data plane too.
- moto cannot deny a call: ``denied`` raises the AccessDeniedException AWS gives,
  in place of the call's answer in ``BaseClient._make_api_call``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import streamlit as st
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto_server import use_moto
from shared import ANA, AUTH
from streamlit.testing.v1 import AppTest

from chat_core.__main__ import main
from chat_core.conversations.backends import open_store
from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import EndpointServer
from chat_core.models.discovery import (
    ListingUnavailable,
    account_model,
    chat_targets,
    list_endpoints,
)

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com"
TGI_2_3 = f"{DLC}/huggingface-pytorch-tgi-inference:2.4-tgi2.3-gpu-py311-cu124-ubuntu22.04"
TGI_1_1 = f"{DLC}/huggingface-pytorch-tgi-inference:2.0.1-tgi1.1.0-gpu-py39-cu118-ubuntu20.04"
TEI = f"{DLC}/huggingface-tei:2.0.1-tei1.2.3-gpu-py310-cu122-ubuntu22.04"
LMI = f"{DLC}/djl-inference:0.29.0-lmi11.0.0-cu124"
OWN = "123456789012.dkr.ecr.us-east-1.amazonaws.com/our-scorer:latest"

# name: (image, JumpStart model id, instance type, instance count)
ENDPOINTS = {
    "team-llama3": (LMI, "meta-textgeneration-llama-3-8b-instruct", "ml.g4dn.12xlarge", 2),
    "team-mistral": (TGI_2_3, None, "ml.g4dn.xlarge", 1),
    "team-falcon": (TGI_1_1, None, "ml.g4dn.2xlarge", 1),
    "team-qwen": (LMI, None, "ml.g4dn.xlarge", 1),
    "team-embed": (TEI, None, "ml.g4dn.xlarge", 1),
    "team-scorer": (OWN, None, "ml.m5.large", 3),
}
# team-shared's components on the local endpoint server, in their formats, and their copies.
COMPONENTS = {"llama2-chat-ic": ("llama2-chat", 2), "gemma-ic": ("messages", 1)}


@pytest.fixture(scope="module")
def account(moto_url: str) -> None:
    """The account's endpoints, made once: moto marks each InService at once."""
    client = boto3.client(
        "sagemaker",
        region_name=REGION,
        endpoint_url=moto_url,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )

    def model(name: str, image: str, jumpstart_id: str | None) -> None:
        tags = [{"Key": "sagemaker-sdk:jumpstart-model-id", "Value": jumpstart_id}] if jumpstart_id else []
        client.create_model(
            ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": image}, Tags=tags
        )

    for name, (image, jumpstart_id, instance_type, count) in ENDPOINTS.items():
        model(f"{name}-model", image, jumpstart_id)
        variant = {"VariantName": "AllTraffic", "ModelName": f"{name}-model"}
        variant |= {"InstanceType": instance_type, "InitialInstanceCount": count}
        client.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[variant])
        client.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
    assert {e["EndpointStatus"] for e in client.list_endpoints()["Endpoints"]} == {"InService"}


def answer_instead(monkeypatch: pytest.MonkeyPatch, answers: dict[str, Any]) -> None:
    """Calls named in ``answers`` get its answer, a function of the call's parameters
    and of the call to moto it replaces; the rest go to moto."""
    original = BaseClient._make_api_call

    def call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation in answers:
            return answers[operation](params, lambda: original(client, operation, params))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)


@pytest.fixture
def aws(moto_url: str, account: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """boto3 pointed at moto for the SageMaker control plane, with a region set."""
    use_moto(monkeypatch, moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", moto_url)
    st.cache_resource.clear()  # the page keeps a listing for a minute
    yield
    st.cache_resource.clear()


@pytest.fixture
def components(aws: None, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[EndpointServer]:
    """The local endpoint server in front of moto: the control plane for team-shared and
    its components, and the data plane for them and for team-llama3."""
    served = LocalEndpoint(
        {"team-llama3": "llama3"},
        components={"team-shared": {name: payload for name, (payload, _) in COMPONENTS.items()}},
        complete=ScriptedModel(token_ms=0).complete,
        wake_s=0,
    )
    for name, (_, copies) in COMPONENTS.items():
        served.set_copies("team-shared", name, copies)
    server = EndpointServer(served, port=0, quiet=True, control_plane=moto_url).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", server.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def denied(monkeypatch: pytest.MonkeyPatch, operation: str) -> None:
    def refuse(params: dict[str, Any], moto: Callable[[], Any]) -> Any:
        role = "arn:aws:sts::123456789012:assumed-role/chat/i"
        message = f"User: {role} is not authorized to perform: sagemaker:{operation}"
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": message}}, operation)

    answer_instead(monkeypatch, {operation: refuse})


def test_the_account_s_endpoints_appear_with_their_format_and_instances(components: None) -> None:
    found = {e.name: e for e in list_endpoints().endpoints}
    assert {*ENDPOINTS, "team-shared"} <= set(found)
    summary = {
        name: (e.detection.format, e.instance_type, e.instance_count)
        for name, e in found.items()
        if name in ENDPOINTS or name == "team-shared"
    }
    assert summary == {
        "team-llama3": ("llama3", "ml.g4dn.12xlarge", 2),
        "team-mistral": ("messages", "ml.g4dn.xlarge", 1),
        "team-falcon": ("tgi", "ml.g4dn.2xlarge", 1),
        "team-qwen": ("messages", "ml.g4dn.xlarge", 1),
        "team-embed": ("embedding", "ml.g4dn.xlarge", 1),
        "team-scorer": (None, "ml.m5.large", 3),
        "team-shared": (None, "ml.g5.2xlarge", 3),  # an instance a copy
    }
    how = {name: e.detection.detected_by for name, e in found.items()}
    assert how["team-llama3"] == "JumpStart model id meta-textgeneration-llama-3-8b-instruct"
    assert how["team-mistral"].startswith("image huggingface-pytorch-tgi-inference:2.4-tgi2.3")
    assert (
        how["team-scorer"] == "unknown: ask the user (image our-scorer:latest)"
    )  # no registry, no account id
    assert how["team-shared"] == "hosts inference components"


def test_components_are_listed_under_their_endpoint_and_chosen_like_any_model(components: None) -> None:
    listing = list_endpoints()
    shared = next(e for e in listing.endpoints if e.name == "team-shared")
    assert [(c.name, c.detection.format, c.copies) for c in shared.components] == [
        ("llama2-chat-ic", "llama2-chat", 2),
        ("gemma-ic", "messages", 1),
    ]
    assert shared.components[1].detection.detected_by.startswith(f"image {TGI_2_3.rsplit('/', 1)[1]}")
    offered = {
        account_model(e, c).id: account_model(e, c)
        for e, c in chat_targets(listing)
        if c or e.detection.format
    }
    llama2 = offered["account-team-shared/llama2-chat-ic"]
    assert (llama2.endpoint_name, llama2.inference_component, llama2.payload) == (
        "team-shared",
        "llama2-chat-ic",
        "llama2-chat",
    )
    assert "account-team-shared" not in offered and "account-team-embed" not in offered
    assert offered["account-team-llama3"].label == "team-llama3 (ml.g4dn.12xlarge × 2)"
    assert offered["account-team-llama3"].context_window == 8192


def test_endpoints_are_listed_when_components_cannot_be(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Here ListInferenceComponents reaches moto, which fails it (not implemented)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    listing = list_endpoints()
    assert "team-llama3" in {e.name for e in listing.endpoints}
    assert listing.notice and listing.notice.en.startswith("Inference components are not listed")


def test_without_permission_the_listing_says_which_one_is_missing(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    denied(monkeypatch, "DescribeEndpointConfig")
    with pytest.raises(ListingUnavailable) as raised:
        list_endpoints()
    text = raised.value.message
    assert "lack sagemaker:DescribeEndpointConfig" in text.en and "still work" in text.en
    assert "sagemaker:DescribeEndpointConfig" in text.ko
    assert "arn:" not in text.en + text.ko and "123456789012" not in text.en


def test_without_credentials_the_listing_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    with pytest.raises(ListingUnavailable, match="no AWS credentials were found"):
        list_endpoints()


def test_the_command_line_prints_each_endpoint_and_its_components(
    components: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["endpoints"]) == 0
    lines = capsys.readouterr().out.splitlines()
    llama3 = next(line for line in lines if line.startswith("team-llama3 "))
    assert llama3.split()[:3] == ["team-llama3", "InService", "llama3"]
    assert llama3.endswith("ml.g4dn.12xlarge × 2")
    shared = lines.index(next(line for line in lines if line.startswith("team-shared ")))
    assert lines[shared + 1].split()[:3] == ["llama2-chat-ic", "InService", "llama2-chat"]
    assert lines[shared + 1].startswith("  ") and lines[shared + 1].endswith("2 copies")
    assert next(line for line in lines if line.startswith("team-scorer ")).split()[2] == "-"

    assert main(["endpoints", "--json"]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert listed["team-embed"] | {"components": []} == {
        "name": "team-embed",
        "status": "InService",
        "format": "embedding",
        "detected_by": f"image {TEI.rsplit('/', 1)[1]}: Text Embeddings Inference",
        "instance_type": "ml.g4dn.xlarge",
        "instance_count": 1,
        "serverless": None,
        "components": [],
    }
    assert [(c["name"], c["format"], c["copies"]) for c in listed["team-shared"]["components"]] == [
        ("llama2-chat-ic", "llama2-chat", 2),
        ("gemma-ic", "messages", 1),
    ]


def test_the_command_line_without_permission_is_one_line(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    denied(monkeypatch, "ListEndpoints")
    assert main(["endpoints"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The account's SageMaker endpoints are not listed") and err.count("\n") == 1
    assert "sagemaker:ListEndpoints" in err


def sidebar(user: dict | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=30)
    if user:
        at.secrets["auth"] = AUTH
        at.user = user
    return at.run()


def models(at: AppTest) -> list[str]:
    return at.sidebar.selectbox(key="model").options


def test_the_sidebar_offers_the_account_s_endpoints(components: None) -> None:
    at = sidebar()
    offered = models(at)
    assert "team-llama3 (ml.g4dn.12xlarge × 2)" in offered
    assert "team-shared/gemma-ic (ml.g5.2xlarge × 3)" in offered
    assert not any(option.startswith(("team-embed", "team-scorer", "team-shared (")) for option in offered)
    assert "Local - SmolLM2-135M (offline)" in offered  # the configured models stay

    at.sidebar.selectbox(key="model-format-team-scorer").select("tgi").run()
    assert "team-scorer (ml.m5.large × 3)" in models(at)


def test_with_login_only_allowed_endpoints_are_offered(
    components: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_ENDPOINTS", "team-mistral, team-shared")
    at = sidebar(ANA)
    offered = models(at)
    assert "team-mistral (ml.g4dn.xlarge × 1)" in offered
    assert "team-shared/llama2-chat-ic (ml.g5.2xlarge × 3)" in offered
    assert not any(option.startswith("team-llama3") for option in offered)
    assert not any(box.key == "model-format-team-scorer" for box in at.sidebar.selectbox)


def test_without_permission_the_sidebar_says_so_and_keeps_the_configured_models(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    denied(monkeypatch, "ListEndpoints")
    at = sidebar()
    assert "sagemaker:ListEndpoints" in at.sidebar.info[0].value
    assert models(at)[0] == "Local - SmolLM2-135M (offline)"
    assert not at.exception


def test_offline_the_app_asks_aws_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """No region set (conftest): the bundled model's machine makes no AWS call for the listing."""
    calls: list[str] = []
    monkeypatch.setattr(
        BaseClient, "_make_api_call", lambda client, operation, params: calls.append(operation)
    )
    at = sidebar()
    assert calls == [] and not at.sidebar.info and models(at)[0] == "Local - SmolLM2-135M (offline)"


def test_the_command_line_without_a_region_says_so_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """conftest leaves no AWS variable set: botocore has no region to call."""
    assert main(["endpoints"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "region" in err.lower()


def test_a_listed_endpoint_and_a_listed_component_answer_through_the_endpoint_server(
    components: EndpointServer,
) -> None:
    """The control plane is moto's (ours for team-shared), the data plane the local
    endpoint server's: a model made from the listing is called in its detected format,
    and a component with its InferenceComponentName (the server refuses a call to
    team-shared without one)."""
    listed = {
        (endpoint.name, component.name if component else None): account_model(endpoint, component)
        for endpoint, component in chat_targets(list_endpoints())
        if (component or endpoint).detection.format  # unknown ones wait for the user's choice
    }
    for target in (("team-llama3", None), ("team-shared", "llama2-chat-ic")):
        spec = listed[target]
        answer = "".join(ChatSession().ask("Which river flows through Seoul?", Settings(spec, spec.defaults)))
        assert "Which river flows through Seoul?" in answer, target  # the scripted model quotes it
    assert components.endpoint.calls["team-shared", "llama2-chat-ic"] == 1


def test_usage_costs_an_endpoint_by_the_instances_the_listing_reports(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The usage command, with no --instance, counts cost from the account's listing:
    team-llama3 is two ml.g4dn.12xlarge in moto."""
    monkeypatch.setenv("INSTANCE_PRICES", "ml.g4dn.12xlarge=3.91")
    chats = open_store()
    conversation = chats.create("local", "Hello?", "account-team-llama3", "PromptTemplate")
    question = chats.add_question("local", conversation.id, "Hello?")
    record = {"tokens": 5, "input_tokens": 20, "seconds": 1.5, "model": "account-team-llama3"}
    chats.add_answer("local", conversation.id, question, "Hello!", record | {"endpoint": "team-llama3"})

    assert main(["usage", "--json"]) == 0
    (cost,) = json.loads(capsys.readouterr().out)["costs"]
    assert (cost["endpoint"], cost["instance_type"], cost["instances"]) == (
        "team-llama3",
        "ml.g4dn.12xlarge",
        2,
    )
    assert cost["hourly_price"] == 3.91 and cost["cost"] > 0
