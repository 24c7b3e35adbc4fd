"""Endpoints that host several models, called with ``InferenceComponentName``.

Real boto3 against ``python -m chat_core endpoint`` run in its own process, as it
is deployed, serving endpoint ``multi`` with two inference components (``alpha`` in
TGI's payload, ``beta`` in the Messages API's) and endpoint ``plain`` with one
model.  The server answers with the scripted model, which names the component
answering, so each answer shows which model it came from.  The server ignores
SigV4 signatures; the test keys only let botocore sign."""

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from shared import AUTH, ISSUER, endpoint_server_process
from streamlit.testing.v1 import AppTest

from chat_core.__main__ import main
from chat_core.access import EndpointNotAllowed, check_endpoint_allowed
from chat_core.conversations.exchange import Settings, State
from chat_core.conversations.session import ChatSession
from chat_core.errors import ChatError, ComponentMismatch, ComponentNotFound, InvalidEndpoint
from chat_core.local import runtime
from chat_core.local.endpoint import LocalEndpoint
from chat_core.models.catalog import GenerationParams, custom_model
from chat_core.models.handlers import PAYLOADS
from chat_core.models.prompts import CHATML

GREEDY = GenerationParams(max_new_tokens=64, temperature=0.0, top_p=1.0, seed=0)
QUESTION = "Which model are you?"
COMPONENTS = {"alpha": "tgi", "beta": "messages"}


def scripted(question: str, component: str) -> str:
    """What the scripted model of ``component`` answers (local/scripted.py)."""
    return f"You asked: {question} This scripted answer from {component} streams word by word at a set pace."


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    served = tuple(f"multi/{name}={payload}" for name, payload in COMPONENTS.items())
    with endpoint_server_process("plain", "scripted:0", components=served) as url:
        yield url


@pytest.fixture
def client(server_url: str, monkeypatch: pytest.MonkeyPatch):
    """boto3's sagemaker-runtime client, and the app's, pointed at the server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server_url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return boto3.client("sagemaker-runtime", region_name="us-east-1")


def body(payload: str, *, stream: bool) -> bytes:
    handler = PAYLOADS[payload](stream=stream)
    prompt = handler.chat_format(CHATML).render("", [], QUESTION)
    return handler.transform_input(prompt, {"max_new_tokens": 64, "stop": []})


@pytest.mark.parametrize(("component", "payload"), COMPONENTS.items())
def test_each_component_answers_with_its_own_model(client, component: str, payload: str) -> None:
    response = client.invoke_endpoint(
        EndpointName="multi", InferenceComponentName=component, Body=body(payload, stream=False)
    )
    assert PAYLOADS[payload]().transform_output(response["Body"]) == scripted(QUESTION, component)


@pytest.mark.parametrize(("component", "payload"), COMPONENTS.items())
def test_each_component_streams_its_own_answer(client, component: str, payload: str) -> None:
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="multi", InferenceComponentName=component, Body=body(payload, stream=True)
    )
    handler = PAYLOADS[payload](stream=True)
    tokens = [handler.transform_output(event["PayloadPart"]["Bytes"]) for event in response["Body"]]
    assert len([token for token in tokens if token]) == len(
        scripted(QUESTION, component).split()
    )  # a word an event
    assert "".join(tokens) == scripted(QUESTION, component)


def test_a_chat_question_reaches_the_component_of_its_model(client) -> None:
    spec = custom_model("multi", "messages", 8192, None, component="beta")
    session = ChatSession()
    with session.ask("Who answers?", Settings(spec, GREEDY)) as reply:
        answer = "".join(reply)
    assert answer == scripted("Who answers?", "beta")
    assert session.exchanges[-1].state == State.ANSWERED


def test_a_component_the_endpoint_does_not_host_is_refused_naming_it(client) -> None:
    with pytest.raises(ClientError) as refused:
        client.invoke_endpoint(
            EndpointName="multi", InferenceComponentName="gamma", Body=body("tgi", stream=False)
        )
    error = refused.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationError", 400)
    assert "gamma" in error["Error"]["Message"]

    failure = ask_and_fail(custom_model("multi", "tgi", 8192, None, component="gamma"))
    assert failure.type is ComponentNotFound
    assert "no inference component 'gamma'" in str(failure.value) and "'multi'" in str(failure.value)
    assert "'gamma'" in failure.value.text("ko")


def test_an_endpoint_with_components_is_refused_without_one(client) -> None:
    with pytest.raises(ClientError) as refused:
        client.invoke_endpoint(EndpointName="multi", Body=body("tgi", stream=False))
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert error["Message"].startswith("Inference Component Name header is required")

    failure = ask_and_fail(custom_model("multi", "tgi", 8192, None))
    assert issubclass(failure.type, ComponentMismatch) and "hosts inference components" in str(failure.value)


def test_an_endpoint_without_components_is_refused_with_one(client) -> None:
    with pytest.raises(ClientError) as refused:
        client.invoke_endpoint(
            EndpointName="plain", InferenceComponentName="alpha", Body=body("tgi", stream=False)
        )
    assert refused.value.response["Error"]["Message"].startswith(
        "Inference Component Name header is not allowed"
    )

    failure = ask_and_fail(custom_model("plain", "tgi", 8192, None, component="alpha"))
    assert issubclass(failure.type, ComponentMismatch)
    assert "hosts no inference components" in str(failure.value)


def ask_and_fail(spec) -> pytest.ExceptionInfo[ChatError]:
    """Ask through ``spec``; the answer must fail with a ChatError, the question kept as failed."""
    session = ChatSession()
    with pytest.raises(ChatError) as failure:
        list(session.ask(QUESTION, Settings(spec, GREEDY)))
    assert session.exchanges[-1].state == State.FAILED
    return failure


def test_the_in_process_client_honours_the_component_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process runtime of the bundled model, given an endpoint with components."""
    monkeypatch.setenv("LOCAL_MODEL", "scripted:0")
    monkeypatch.setattr(runtime, "ENDPOINT", LocalEndpoint({}, components={"multi": COMPONENTS}))
    client = runtime.LocalRuntimeClient()
    response = client.invoke_endpoint(
        EndpointName="multi", InferenceComponentName="alpha", Body=body("tgi", stream=False)
    )
    assert PAYLOADS["tgi"]().transform_output(response["Body"]) == scripted(QUESTION, "alpha")
    with pytest.raises(ClientError, match="gamma"):
        client.invoke_endpoint(
            EndpointName="multi", InferenceComponentName="gamma", Body=body("tgi", stream=False)
        )
    with pytest.raises(ClientError, match="header is required"):
        client.invoke_endpoint_with_response_stream(EndpointName="multi", Body=body("tgi", stream=True))


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (["--component", "multi=tgi"], "expected ENDPOINT/COMPONENT=FORMAT"),
        (["--component", "multi/alpha=gpt"], "FORMAT one of"),
        (["--format", "multi=tgi", "--component", "multi/alpha=tgi"], "cannot serve a model and inference"),
    ],
)
def test_the_server_refuses_components_it_cannot_serve(
    options: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["endpoint", "--port", "0", *options])
    assert exit.value.code == 2 and complaint in capsys.readouterr().err


def test_a_component_model_is_named_by_its_endpoint_and_component() -> None:
    spec = custom_model(" multi ", "messages", 8192, None, component=" beta ")
    assert (spec.id, spec.label, spec.inference_component) == (
        "custom-multi/beta",
        "multi/beta (messages)",
        "beta",
    )
    assert custom_model("multi", "messages", 8192, None, component=" ").inference_component is None
    with pytest.raises(InvalidEndpoint, match="inner hyphens"):
        custom_model("multi", "messages", 8192, None, component="beta-")


def test_an_allowed_endpoint_allows_its_components() -> None:
    environ = {"ALLOWED_ENDPOINTS": "multi, us-west-2/team"}
    for endpoint, region in (("multi", None), ("team", "us-west-2")):
        check_endpoint_allowed(
            custom_model(endpoint, "tgi", 8192, region, component="beta"), "ana", True, environ
        )
    with pytest.raises(EndpointNotAllowed, match="private"):
        check_endpoint_allowed(
            custom_model("private", "tgi", 8192, None, component="beta"), "ana", True, environ
        )


def test_the_sidebar_form_adds_a_component_that_answers(client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Logged in as a user, as the operator allows endpoint ``multi``."""
    monkeypatch.setenv("ALLOWED_ENDPOINTS", "multi")
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "iss": ISSUER, "sub": "ana", "email": "ana@example.com"}
    at.run()
    at.sidebar.text_input(key="model-endpoint-name").input("multi")
    at.sidebar.text_input(key="model-endpoint-component").input("beta")
    at.sidebar.selectbox(key="model-endpoint-payload").set_value("messages")
    at.sidebar.button(key="model-add-endpoint").click().run()
    assert not at.sidebar.error
    model = at.sidebar.selectbox(key="model")
    assert model.value == "custom-multi/beta" and "multi/beta (messages)" in model.options

    at.chat_input[0].set_value("Hello components").run()
    assert not at.error
    answers = [" ".join(md.value for md in m.markdown) for m in at.chat_message if m.name == "assistant"]
    assert answers == [scripted("Hello components", "beta")]
