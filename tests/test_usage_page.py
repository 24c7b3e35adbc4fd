"""The Usage page in Streamlit's AppTest: a user sees their own usage, an admin may
turn to everyone's.  AppTest stands in for the login provider (test_login.py); the
instances serving the endpoint priced here come from the account's listing, on
moto's server as the SageMaker control plane."""

import os
from collections.abc import Iterator

import boto3
import pytest
import streamlit as st
from moto_server import use_moto
from shared import AUTH, ISSUER
from streamlit.testing.v1 import AppTest

from chat_core.conversations.backends import open_store
from chat_core.conversations.store import Store

ANA, BOB, ADMIN = f"{ISSUER}#ana", f"{ISSUER}#bob", f"{ISSUER}#admin"


def answered(store: Store, owner: str, endpoint: str, tokens: int, seconds: float) -> None:
    conversation = store.create(owner, "Hello", "m", "PromptTemplate").id
    question = store.add_question(owner, conversation, "Hello?")
    record = {"tokens": tokens, "input_tokens": 2 * tokens, "seconds": seconds, "model": endpoint}
    store.add_answer(owner, conversation, question, "Hi.", record | {"endpoint": endpoint})


def usage_page(user: dict[str, object] | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=30)
    if user:
        at.secrets["auth"] = AUTH
        at.user = {"is_logged_in": True, "iss": ISSUER, **user}
    at.run()
    return at.switch_page("pages/usage.py").run()


@pytest.fixture
def store(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The conversation store, with my-llama in the account: one ml.g4dn.xlarge."""
    use_moto(monkeypatch, moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", moto_url)
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    if not sagemaker.list_endpoints(NameContains="my-llama")["Endpoints"]:  # moto is shared by tests
        role = "arn:aws:iam::123456789012:role/sagemaker"
        sagemaker.create_model(ModelName="my-llama", ExecutionRoleArn=role, PrimaryContainer={"Image": "tgi"})
        variant = {"VariantName": "AllTraffic", "ModelName": "my-llama", "InstanceType": "ml.g4dn.xlarge"}
        variant["InitialInstanceCount"] = 1
        sagemaker.create_endpoint_config(EndpointConfigName="my-llama", ProductionVariants=[variant])
        sagemaker.create_endpoint(EndpointName="my-llama", EndpointConfigName="my-llama")
    monkeypatch.setenv("INSTANCE_PRICES", "ml.g4dn.xlarge=36")  # a cent a second
    st.cache_resource.clear()  # the page keeps a listing for a minute
    yield open_store(os.environ["CHAT_STORE"])
    st.cache_resource.clear()


def test_without_login_the_local_user_sees_usage_per_model_and_the_cost(store: Store) -> None:
    answered(store, "local", "my-llama", 40, 10.0)
    answered(store, "local", "my-llama", 60, 20.0)
    answered(store, "local", "local-smollm2", 7, 1.0)
    at = usage_page()
    assert not at.exception and not at.error
    models, costs, shares = (frame.value for frame in at.dataframe)
    llama = models.set_index("endpoint").loc["my-llama"]
    assert (llama.questions, llama.input_tokens, llama.output_tokens, llama.seconds) == (2, 200, 100, 30)
    assert "owner" not in models and not at.toggle
    assert costs.set_index("endpoint").loc["my-llama", "hourly_price"] == 36
    assert shares.set_index("endpoint").loc["my-llama", "cost"] == pytest.approx(0.30)  # 30 s at a cent
    assert costs.set_index("endpoint").loc["local-smollm2", "cost"] == 0


def test_a_user_sees_only_their_own_and_an_admin_everyones(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_ADMINS", ADMIN)
    answered(store, ANA, "my-llama", 40, 10.0)
    answered(store, BOB, "my-llama", 5, 2.0)

    ana = usage_page({"sub": "ana"})
    assert not ana.toggle  # no way to ask for more
    assert ana.dataframe[0].value.questions.tolist() == [1]
    assert "owner" not in ana.dataframe[-1].value

    admin = usage_page({"sub": "admin"})
    assert not admin.dataframe and admin.info[0].value == "No answers in this period."  # their own: none
    admin.toggle(key="usage-everyone").set_value(True).run()
    models, users, _, shares = (frame.value for frame in admin.dataframe)
    assert models.questions.tolist() == [2]
    assert sorted(users.owner) == [ANA, BOB] and sorted(shares.owner) == [ANA, BOB]


def test_the_page_reads_in_korean(store: Store) -> None:
    answered(store, "local", "my-llama", 40, 10.0)
    at = AppTest.from_file("../app.py", default_timeout=30)
    at.session_state["language"] = "ko"
    at = at.run().switch_page("pages/usage.py").run()
    assert not at.exception
    assert at.title[0].value == "사용량" and [h.value for h in at.subheader] == [
        "모델별",
        "기간 중 인스턴스 비용",
    ]
