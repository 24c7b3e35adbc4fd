"""With login on, users call only the endpoints the operator allows: "Add a
SageMaker endpoint" takes names from ALLOWED_ENDPOINTS, and any name from the
users named in CHAT_ADMINS.  Without login the one local user adds any."""

import pytest
from shared import ANA, AUTH, ISSUER
from streamlit.testing.v1 import AppTest


def add_endpoint(name: str, user: dict | None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=30)
    if user:
        at.secrets["auth"] = AUTH
        at.user = user
    at.run()
    at.sidebar.text_input(key="model-endpoint-name").input(name)
    at.sidebar.button(key="model-add-endpoint").click()
    return at.run()


def models(at: AppTest) -> list[str]:
    return at.sidebar.selectbox(key="model").options


@pytest.fixture(autouse=True)
def allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_ENDPOINTS", "team-llama, team-mistral")


def test_a_user_cannot_add_an_endpoint_the_operator_did_not_allow() -> None:
    at = add_endpoint("finance-private-model", ANA)
    assert "not one the operator allows" in at.sidebar.error[0].value
    assert not any("finance-private-model" in option for option in models(at))


def test_a_user_can_add_an_allowed_endpoint() -> None:
    at = add_endpoint("team-llama", ANA)
    assert not at.sidebar.error and any("team-llama" in option for option in models(at))


def test_an_admin_can_add_any_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_ADMINS", f"{ISSUER}#ana")
    at = add_endpoint("finance-private-model", ANA)
    assert not at.sidebar.error and any("finance-private-model" in option for option in models(at))


def test_without_login_the_local_user_adds_any_endpoint() -> None:
    at = add_endpoint("finance-private-model", None)
    assert not at.sidebar.error and any("finance-private-model" in option for option in models(at))


def test_built_in_endpoints_are_offered_only_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """JumpStart's default endpoint names exist in many accounts."""
    monkeypatch.setenv("ALLOWED_ENDPOINTS", "jumpstart-dft-hf-llm-falcon-7b-instruct-bf16")
    at = add_endpoint("team-llama", ANA)
    assert [option for option in models(at) if "JumpStart" in option] == ["Falcon 7B instruct (JumpStart)"]


def test_an_allowed_name_in_another_region_is_another_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    at = AppTest.from_file("../app.py", default_timeout=30)
    at.secrets["auth"] = AUTH
    at.user = ANA
    at.run()
    at.sidebar.text_input(key="model-endpoint-name").input("team-llama")
    at.sidebar.text_input(key="model-endpoint-region").input("ap-southeast-2")
    at.sidebar.button(key="model-add-endpoint").click()
    at.run()
    assert "ap-southeast-2/team-llama is not one the operator allows" in at.sidebar.error[0].value
