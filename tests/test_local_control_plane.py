"""Inference components that scale to zero, and serverless endpoints, on the local
endpoint server.

Real boto3 (``sagemaker`` and ``sagemaker-runtime`` clients) against the server
on 127.0.0.1, which answers both on one port.  Every runtime call is ours.  On the
control plane ours answers what moto's SageMaker server cannot hold: the
inference components (ListInferenceComponents, DescribeInferenceComponent,
UpdateInferenceComponentRuntimeConfig) and the endpoints hosting them
(Describe*, ListTags, their place in ListEndpoints).  Serverless endpoints are
moto's when the server stands before moto (``with_moto``: made there, every
control-plane call about them passed on); without moto, ours describes them.
Tests without moto have ours alone; those with it say which answers what.  The
model is the scripted one, which names the component answering.  The server
ignores SigV4 signatures; the keys only let botocore sign."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from shared import endpoint_server_process, serving, until

from chat_core.__main__ import main
from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import EndpointServer
from chat_core.models.handlers import PAYLOADS
from chat_core.models.prompts import CHATML

COMPONENTS = {"multi": {"alpha": "tgi", "beta": "messages"}}
QUESTION = "Are you awake?"
# SageMaker's answer to a call to a component with no copies (AWS ML blog "scale down to zero").
NO_CAPACITY = (
    "Inference Component has no capacity to process this request. ApplicationAutoScaling may be "
    "in-progress (if configured) or try to increase the capacity by invoking "
    "UpdateInferenceComponentRuntimeConfig API."
)
# Longer than any test takes: a component raised from zero is still waking when looked at.
LONG_WAKE_S = 600.0


@pytest.fixture(autouse=True)
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each component's scripted model names the component in its answers."""
    monkeypatch.setenv("LOCAL_MODEL", "scripted:0")


def endpoint(**options: object) -> LocalEndpoint:
    return LocalEndpoint({}, components=COMPONENTS, **options)


@pytest.fixture
def asleep() -> Iterator[EndpointServer]:
    """``multi/alpha`` with no copies (waking takes longer than the test), ``multi/beta`` with one."""
    with serving(endpoint(asleep={("multi", "alpha")}, wake_s=LONG_WAKE_S)) as running:
        yield running


def client(service: str, url: str, config: Config | None = None):
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def body(payload: str) -> bytes:
    handler = PAYLOADS[payload]()
    prompt = handler.chat_format(CHATML).render("", [], QUESTION)
    return handler.transform_input(prompt, {"max_new_tokens": 64, "stop": []})


def invoke(url: str, component: str, *, stream: bool = False) -> str:
    """The component's answer through boto3, as text."""
    runtime = client("sagemaker-runtime", url)
    payload = COMPONENTS["multi"][component]
    if stream:
        response = runtime.invoke_endpoint_with_response_stream(
            EndpointName="multi", InferenceComponentName=component, Body=body(payload)
        )
        return b"".join(event["PayloadPart"]["Bytes"] for event in response["Body"]).decode()
    response = runtime.invoke_endpoint(
        EndpointName="multi", InferenceComponentName=component, Body=body(payload)
    )
    return PAYLOADS[payload]().transform_output(response["Body"])


def refusal(url: str, component: str, *, stream: bool = False) -> dict:
    with pytest.raises(ClientError) as refused:
        invoke(url, component, stream=stream)
    return refused.value.response


def copies(url: str, component: str) -> tuple[int, int]:
    described = client("sagemaker", url).describe_inference_component(InferenceComponentName=component)
    runtime = described["RuntimeConfig"]
    return runtime["DesiredCopyCount"], runtime["CurrentCopyCount"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_component_with_no_copies_is_refused_as_sagemaker_refuses_it(
    asleep: EndpointServer, stream: bool
) -> None:
    response = refusal(asleep.url, "alpha", stream=stream)
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (
        400,
        "ValidationError",
    )
    assert response["Error"]["Message"] == NO_CAPACITY
    assert "beta" in invoke(asleep.url, "beta")  # the other component answers


def test_the_control_plane_lists_and_describes_the_components(asleep: EndpointServer) -> None:
    sagemaker = client("sagemaker", asleep.url)
    listed = sagemaker.list_inference_components(StatusEquals="InService")["InferenceComponents"]
    assert [(c["InferenceComponentName"], c["EndpointName"], c["VariantName"]) for c in listed] == [
        ("alpha", "multi", "AllTraffic"),
        ("beta", "multi", "AllTraffic"),
    ]
    assert sagemaker.list_inference_components(EndpointNameEquals="other")["InferenceComponents"] == []
    alpha = sagemaker.describe_inference_component(InferenceComponentName="alpha")
    assert alpha["InferenceComponentStatus"] == "InService"
    assert alpha["InferenceComponentArn"].endswith(":inference-component/alpha")
    assert (alpha["EndpointName"], alpha["VariantName"]) == ("multi", "AllTraffic")
    # With no JumpStart id to tag a model with, a component is described by its container.
    assert "ModelName" not in alpha["Specification"]
    assert "-tgi1.1.0-" in alpha["Specification"]["Container"]["DeployedImage"]["SpecifiedImage"]
    assert (copies(asleep.url, "alpha"), copies(asleep.url, "beta")) == ((0, 0), (1, 1))


def test_a_component_raised_from_zero_copies_is_waking_until_its_copy_serves(asleep: EndpointServer) -> None:
    sagemaker = client("sagemaker", asleep.url)
    answer = sagemaker.update_inference_component_runtime_config(
        InferenceComponentName="alpha", DesiredRuntimeConfig={"CopyCount": 1}
    )
    assert answer["InferenceComponentArn"].endswith(":inference-component/alpha")
    assert copies(asleep.url, "alpha") == (1, 0)
    assert refusal(asleep.url, "alpha")["Error"]["Code"] == "ValidationError"


def test_a_component_raised_from_zero_answers_after_the_wake() -> None:
    with serving(endpoint(asleep={("multi", "alpha")}, wake_s=0.2)) as running:
        client("sagemaker", running.url).update_inference_component_runtime_config(
            InferenceComponentName="alpha", DesiredRuntimeConfig={"CopyCount": 1}
        )
        assert until(lambda: copies(running.url, "alpha") == (1, 1), 10)
        assert "from alpha" in invoke(running.url, "alpha")


def test_a_scale_to_zero_takes_effect_at_once(asleep: EndpointServer) -> None:
    assert "from beta" in invoke(asleep.url, "beta")
    client("sagemaker", asleep.url).update_inference_component_runtime_config(
        InferenceComponentName="beta", DesiredRuntimeConfig={"CopyCount": 0}
    )
    assert copies(asleep.url, "beta") == (0, 0)
    assert refusal(asleep.url, "beta")["Error"]["Message"] == NO_CAPACITY


def test_every_runtime_call_is_counted_refused_or_answered() -> None:
    served = endpoint(asleep={("multi", "alpha")}, wake_s=LONG_WAKE_S)
    with serving(served) as running:
        for _ in range(3):
            refusal(running.url, "alpha")
        invoke(running.url, "beta", stream=True)
        served.set_copies("multi", "alpha", 0)  # already 0
        assert (served.calls["multi", "alpha"], served.calls["multi", "beta"]) == (3, 1)
        assert served.calls["multi", "gamma"] == 0


def test_an_unknown_component_is_a_validation_exception(asleep: EndpointServer) -> None:
    sagemaker = client("sagemaker", asleep.url)
    with pytest.raises(ClientError) as described:
        sagemaker.describe_inference_component(InferenceComponentName="gamma")
    assert described.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find inference component" in described.value.response["Error"]["Message"]
    with pytest.raises(ClientError, match="gamma"):
        sagemaker.update_inference_component_runtime_config(
            InferenceComponentName="gamma", DesiredRuntimeConfig={"CopyCount": 1}
        )


def test_a_call_the_server_does_not_answer_is_an_unknown_operation(asleep: EndpointServer) -> None:
    """Without --control-plane, there is no moto to pass it to."""
    with pytest.raises(ClientError) as refused:
        client("sagemaker", asleep.url).list_models()
    assert refused.value.response["Error"]["Code"] == "UnknownOperationException"


@pytest.mark.parametrize(
    "headers",
    [{"Host": "evil.example"}, {"Origin": "https://evil.example"}],
    ids=["rebound-host", "web-page"],
)
def test_a_web_page_cannot_wake_or_sleep_a_component(asleep: EndpointServer, headers: dict[str, str]) -> None:
    """A page whose DNS name was rebound to 127.0.0.1, or any page posting here."""
    connection = http.client.HTTPConnection("127.0.0.1", asleep.server_address[1], timeout=10)
    with contextlib.closing(connection):
        connection.request(
            "POST",
            "/",
            body=json.dumps({"InferenceComponentName": "alpha", "DesiredRuntimeConfig": {"CopyCount": 1}}),
            headers={
                "Host": f"127.0.0.1:{asleep.server_address[1]}",
                "X-Amz-Target": "SageMaker.UpdateInferenceComponentRuntimeConfig",
                "Content-Type": "application/x-amz-json-1.1",
                **headers,
            },
        )
        assert connection.getresponse().status == 403
    assert copies(asleep.url, "alpha") == (0, 0)


def test_the_command_line_serves_a_sleeping_component_that_wakes() -> None:
    served = ("multi/alpha=tgi", "multi/beta=messages")
    options = ("--asleep", "multi/alpha", "--wake-seconds", "0.2")
    with endpoint_server_process(None, "scripted:0", components=served, options=options) as url:
        assert refusal(url, "alpha")["Error"]["Message"] == NO_CAPACITY
        assert "from beta" in invoke(url, "beta")
        client("sagemaker", url).update_inference_component_runtime_config(
            InferenceComponentName="alpha", DesiredRuntimeConfig={"CopyCount": 1}
        )
        assert until(lambda: copies(url, "alpha") == (1, 1), 10)
        assert "from alpha" in invoke(url, "alpha")


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (["--asleep", "multi/gamma"], "not served"),
        (["--asleep", "multi"], "expected ENDPOINT/COMPONENT"),
        (["--wake-seconds", "-1"], "at least 0"),
    ],
)
def test_the_server_refuses_sleepers_it_does_not_serve(
    options: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["endpoint", "--port", "0", "--component", "multi/alpha=tgi", *options])
    assert exit.value.code == 2 and complaint in capsys.readouterr().err


def test_with_autoscale_a_refused_call_asks_for_a_copy_itself() -> None:
    """As a team's step-scaling policy on NoCapacityInvocationFailures would; without
    --autoscale the refusal leaves the component asleep (the earlier tests)."""
    with serving(endpoint(asleep={("multi", "alpha")}, wake_s=LONG_WAKE_S, autoscale=True)) as running:
        assert copies(running.url, "alpha") == (0, 0)
        assert refusal(running.url, "alpha")["Error"]["Message"] == NO_CAPACITY
        assert copies(running.url, "alpha") == (1, 0)
    with serving(endpoint(asleep={("multi", "alpha")}, wake_s=LONG_WAKE_S)) as running:
        refusal(running.url, "alpha")
        assert copies(running.url, "alpha") == (0, 0)


def test_with_autoscale_the_call_after_the_wake_is_answered() -> None:
    with serving(endpoint(asleep={("multi", "alpha")}, wake_s=0.2, autoscale=True)) as running:
        refusal(running.url, "alpha")
        assert until(lambda: copies(running.url, "alpha") == (1, 1), 10)
        assert "from alpha" in invoke(running.url, "alpha")


def test_a_component_hosting_endpoint_has_one_instance_a_copy_down_to_none(asleep: EndpointServer) -> None:
    """moto cannot create this endpoint's config (a variant with no model): ours answers."""
    sagemaker = client("sagemaker", asleep.url)
    described = sagemaker.describe_endpoint(EndpointName="multi")
    (variant,) = described["ProductionVariants"]
    assert (variant["VariantName"], variant["CurrentInstanceCount"]) == ("AllTraffic", 1)
    assert variant["ManagedInstanceScaling"]["Status"] == "ENABLED"
    assert variant["ManagedInstanceScaling"]["MinInstanceCount"] == 0
    sagemaker.update_inference_component_runtime_config(
        InferenceComponentName="beta", DesiredRuntimeConfig={"CopyCount": 0}
    )
    (variant,) = sagemaker.describe_endpoint(EndpointName="multi")["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (0, 0)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    (configured,) = config["ProductionVariants"]
    assert "ModelName" not in configured and configured["InstanceType"] == "ml.g5.2xlarge"
    assert [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]] == ["multi"]


def serverless(**options: float) -> LocalEndpoint:
    return LocalEndpoint({}, serverless={"lean": "messages"}, **options)


def ask_lean(url: str) -> str:
    response = client("sagemaker-runtime", url).invoke_endpoint(EndpointName="lean", Body=body("messages"))
    return PAYLOADS["messages"]().transform_output(response["Body"])


def lean_refusal(url: str) -> dict:
    with pytest.raises(ClientError) as refused:
        ask_lean(url)
    return refused.value.response


def test_a_serverless_endpoint_s_first_call_finds_it_not_ready() -> None:
    with serving(serverless(cold_start_s=LONG_WAKE_S)) as running:
        refused = lean_refusal(running.url)
    assert (refused["ResponseMetadata"]["HTTPStatusCode"], refused["Error"]["Code"]) == (
        429,
        "ModelNotReadyException",
    )
    assert refused["Error"]["Message"] == (
        "Either a serverless endpoint variant's resources are still being provisioned, or a "
        "multi-model endpoint is still downloading or loading the target model. Wait and try your "
        "request again."
    )


def test_a_serverless_endpoint_answers_after_its_cold_start_and_is_cold_again_after_idle() -> None:
    with serving(serverless(cold_start_s=0.2, serverless_idle_s=0)) as running:
        lean_refusal(running.url)
        assert until(lambda: ask_lean_or_none(running.url) is not None, 10)
        assert lean_refusal(running.url)["Error"]["Code"] == "ModelNotReadyException"  # idle since
    with serving(serverless(cold_start_s=0.2, serverless_idle_s=LONG_WAKE_S)) as running:
        assert until(lambda: ask_lean_or_none(running.url) is not None, 10)
        assert "You asked" in ask_lean(running.url)  # warm: no second cold start


def ask_lean_or_none(url: str) -> str | None:
    with contextlib.suppress(ClientError):
        return ask_lean(url)
    return None


def test_a_serverless_endpoint_refuses_a_call_past_its_max_concurrency() -> None:
    """Five calls hold ``lean``'s five places (its model waits for ``release`` before
    answering them); the sixth gets SageMaker's throttling error: botocore's
    sagemaker-runtime model has no code of its own for it, so ThrottlingException
    (400), which botocore retries as a throttled call.  Once the five are answered, a
    call is served again."""
    release = threading.Event()
    places = threading.Semaphore(5)  # the first five calls are held, any later one answered at once
    holding: list[str] = []
    scripted = ScriptedModel(token_ms=0)

    def complete(prompt: str, **options: Any) -> Iterator[str]:
        if places.acquire(blocking=False):
            holding.append(prompt)
            release.wait(60)
        yield from scripted.complete(prompt, **options)

    served = LocalEndpoint({}, serverless={"lean": "messages"}, cold_start_s=0, complete=complete)
    with serving(served) as running, ThreadPoolExecutor(5) as pool:
        retrying = client(
            "sagemaker-runtime", running.url, Config(retries={"mode": "standard", "total_max_attempts": 2})
        )
        try:
            held = [pool.submit(ask_lean, running.url) for _ in range(5)]
            assert until(lambda: len(holding) == 5)
            with pytest.raises(ClientError) as refused:
                retrying.invoke_endpoint(EndpointName="lean", Body=body("messages"))
        finally:
            release.set()
        assert all("You asked" in call.result(30) for call in held)
        assert "You asked" in ask_lean(running.url)
    response = refused.value.response
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (
        400,
        "ThrottlingException",
    )
    assert response["ResponseMetadata"]["RetryAttempts"] == 1  # retried, as botocore retries throttling


def test_a_serverless_endpoint_is_described_as_one() -> None:
    """Without moto (no --control-plane, nothing else running), ours describes the
    serverless endpoint it serves: there is nothing to pass the calls to."""
    with serving(serverless()) as running:
        sagemaker = client("sagemaker", running.url)
        (variant,) = sagemaker.describe_endpoint(EndpointName="lean")["ProductionVariants"]
        config = sagemaker.describe_endpoint_config(EndpointConfigName="lean-config")
        model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        listed = sagemaker.list_endpoints(StatusEquals="InService")["Endpoints"]
    assert variant["CurrentServerlessConfig"] == {"MemorySizeInMB": 4096, "MaxConcurrency": 5}
    assert "CurrentInstanceCount" not in variant
    assert config["ProductionVariants"][0]["ServerlessConfig"]["MemorySizeInMB"] == 4096
    assert "tgi2.3" in model["PrimaryContainer"]["Image"]  # TGI with the Messages API
    assert [e["EndpointName"] for e in listed] == ["lean"]


# The serverless endpoint made in moto, as the server serves it: moto holds its control
# plane (ServerlessConfig included), ours serves its runtime calls.
LEAN_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.4-tgi2.3"
LEAN_SERVERLESS = {"MemorySizeInMB": 4096, "MaxConcurrency": 5}


def moto_account(moto_url: str) -> None:
    """In moto's server, once for the session: ``kept`` on an instance, ``lean`` serverless."""
    moto = client("sagemaker", moto_url)
    if "kept" in [e["EndpointName"] for e in moto.list_endpoints()["Endpoints"]]:
        return
    role = "arn:aws:iam::123456789012:role/sagemaker"
    for name, image, sized in [
        ("kept", "our-scorer:latest", {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1}),
        ("lean", LEAN_IMAGE, {"ServerlessConfig": LEAN_SERVERLESS}),
    ]:
        moto.create_model(ModelName=f"{name}-model", ExecutionRoleArn=role, PrimaryContainer={"Image": image})
        variant = {"VariantName": "AllTraffic", "ModelName": f"{name}-model", **sized}
        moto.create_endpoint_config(EndpointConfigName=f"{name}-in-moto", ProductionVariants=[variant])
        moto.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-in-moto")


@pytest.fixture
def with_moto(moto_url: str) -> Iterator[EndpointServer]:
    """The server in front of moto's (tests/moto_server.py), with ``kept`` and ``lean`` made there."""
    moto_account(moto_url)
    served = LocalEndpoint({}, components=COMPONENTS, serverless={"lean": "messages"})
    running = EndpointServer(served, port=0, quiet=True, control_plane=moto_url).start()
    try:
        yield running
    finally:
        running.shutdown()
        running.server_close()


def test_calls_ours_does_not_answer_go_to_moto_and_its_listing_gains_ours(with_moto: EndpointServer) -> None:
    """moto answers for ``kept``; ours for the components and the endpoint hosting them."""
    sagemaker = client("sagemaker", with_moto.url)
    names = [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]]
    assert {"kept", "multi"} <= set(names)
    assert sagemaker.describe_endpoint(EndpointName="kept")["EndpointConfigName"] == "kept-in-moto"
    model = sagemaker.describe_model(ModelName="kept-model")
    assert model["PrimaryContainer"]["Image"] == "our-scorer:latest"
    assert sagemaker.list_tags(ResourceArn=model["ModelArn"])["Tags"] == []
    with pytest.raises(ClientError) as missing:  # moto's refusal, as moto gave it
        sagemaker.describe_endpoint(EndpointName="nowhere")
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    assert copies(with_moto.url, "alpha") == (1, 1)  # ours still answers its own


def test_with_moto_a_serverless_endpoint_is_moto_s_but_for_its_runtime(with_moto: EndpointServer) -> None:
    """Every control-plane call about ``lean`` is moto's (it holds serverless endpoints,
    made there as the others); ours answers its runtime calls, cold start included."""
    sagemaker = client("sagemaker", with_moto.url)
    described = sagemaker.describe_endpoint(EndpointName="lean")
    assert described["EndpointConfigName"] == "lean-in-moto"
    assert described["ProductionVariants"][0]["CurrentServerlessConfig"] == LEAN_SERVERLESS
    config = sagemaker.describe_endpoint_config(EndpointConfigName="lean-in-moto")
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["Image"] == LEAN_IMAGE
    assert sagemaker.list_tags(ResourceArn=model["ModelArn"])["Tags"] == []
    names = [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]]
    assert names.count("lean") == 1
    with pytest.raises(ClientError, match="lean-config"):  # the config ours would describe
        sagemaker.describe_endpoint_config(EndpointConfigName="lean-config")
    assert lean_refusal(with_moto.url)["Error"]["Code"] == "ModelNotReadyException"  # ours


def test_a_web_page_cannot_reach_moto_through_the_server(with_moto: EndpointServer, moto_url: str) -> None:
    """The same checks stand before a call passed on: here a page asking to delete an endpoint."""
    connection = http.client.HTTPConnection("127.0.0.1", with_moto.server_address[1], timeout=10)
    with contextlib.closing(connection):
        connection.request(
            "POST",
            "/",
            body=json.dumps({"EndpointName": "kept"}),
            headers={
                "X-Amz-Target": "SageMaker.DeleteEndpoint",
                "Content-Type": "application/x-amz-json-1.1",
                "Origin": "https://evil.example",
            },
        )
        assert connection.getresponse().status == 403
    assert (
        client("sagemaker", moto_url).describe_endpoint(EndpointName="kept")["EndpointStatus"] == "InService"
    )


def test_the_command_line_serves_a_serverless_endpoint_before_moto(moto_url: str) -> None:
    """``lean`` is listed from moto, where it was made; ours serves its cold start."""
    moto_account(moto_url)
    options = ("--serverless", "lean=messages", "--cold-start-seconds", "0.2", "--control-plane", moto_url)
    with endpoint_server_process(None, "scripted:0", options=options) as url:
        sagemaker = client("sagemaker", url)
        assert "lean" in [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]]
        sagemaker.list_models()  # moto's: no UnknownOperationException
        assert lean_refusal(url)["Error"]["Code"] == "ModelNotReadyException"
        assert until(lambda: ask_lean_or_none(url) is not None, 10)
