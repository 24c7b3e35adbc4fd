"""The Usage page in Streamlit's AppTest: a user sees their own usage, an admin may
turn to everyone's.  AppTest stands in for the login provider (test_login.py); the
instances serving the endpoint priced here come from the account's listing, on
moto's server as the SageMaker control plane."""

import json
import os
import time
from collections.abc import Iterator
from dataclasses import replace

import boto3
import pytest
import streamlit as st
from moto_server import use_moto
from shared import AUTH, ISSUER
from streamlit.testing.v1 import AppTest

from chat_core.conversations.backends import open_store
from chat_core.conversations.store import Store, next_key
from chat_core.usage.records import Usage

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
    models, costs, shares = (table.value.set_index("Endpoint") for table in at.table)
    llama = models.loc["my-llama", ["Count", "Input tokens", "Output tokens", "Generation seconds"]]
    assert llama.tolist() == ["2", "200", "100", "30.0"]
    assert "User" not in models and not at.toggle
    assert costs.loc["my-llama", "Price per hour"] == "$36.00"
    assert shares.loc["my-llama", "Cost"] == "$0.30"  # 30 s at a cent
    assert costs.loc["local-smollm2", "Cost"] == "$0.00"


def test_a_user_sees_only_their_own_and_an_admin_everyones(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_ADMINS", ADMIN)
    answered(store, ANA, "my-llama", 40, 10.0)
    answered(store, BOB, "my-llama", 5, 2.0)

    ana = usage_page({"sub": "ana"})
    assert not ana.toggle  # no way to ask for more
    assert ana.table[0].value["Count"].tolist() == ["1"]
    assert "User" not in ana.table[-1].value

    admin = usage_page({"sub": "admin"})
    assert not admin.table and admin.info[0].value == "No answers in this period."  # their own: none
    admin.toggle(key="usage-everyone").set_value(True).run()
    models, users, _, shares = (table.value for table in admin.table)
    assert models["Count"].tolist() == ["2"]
    assert sorted(users["User"]) == [ANA, BOB] and sorted(shares["User"]) == [ANA, BOB]


def test_the_page_reads_in_korean(store: Store) -> None:
    answered(store, "local", "my-llama", 40, 10.0)
    at = AppTest.from_file("../app.py", default_timeout=30)
    at.session_state["language"] = "ko"
    at = at.run().switch_page("pages/usage.py").run()
    assert not at.exception
    assert at.title[0].value == "사용량" and [h.value for h in at.subheader] == [
        "일별 토큰",
        "일별 질문 수",
        "일별 인스턴스 비용",
        "모델별",
        "기간 중 인스턴스 비용",
    ]
    assert at.table[0].value.columns[:3].tolist() == ["용도", "모델", "엔드포인트"]


def test_summaries_and_indexing_are_rows_of_their_own_and_empty_cells_read_a_dash(store: Store) -> None:
    answered(store, "local", "my-llama", 40, 10.0)
    answered(store, "local", "jumpstart-dft-meta-textgeneration-llama-2-7b-f", 5, 1.0)  # not in the account
    summary = Usage("local", next_key(), time.time(), "my-llama", "my-llama", 900, 120, 30.0, kind="summary")
    indexing = Usage("local", next_key(), time.time(), "local-e5-small", "local-e5-small", 0, 0, 4.0)
    store.record_usage(summary)
    store.record_usage(replace(indexing, kind="indexing", pages=4, passages=11))
    at = usage_page()
    assert not at.exception and not at.error
    models = at.table[0].value.set_index(["Use", "Endpoint"])
    assert models.loc[("Summaries", "my-llama"), "Input tokens"] == "900"
    assert models.loc[("Indexing", "local-e5-small"), "Pages"] == "4"
    assert models.loc[("Indexing", "local-e5-small"), "Output tokens"] == "-"
    assert models.loc[("Answers", "my-llama"), "Count"] == "1"
    cells = {str(cell) for table in at.table for cell in table.value.to_numpy().ravel()}
    assert not cells & {"None", "nan", "NaN", "<NA>", ""}
    costs = at.table[1].value.set_index("Endpoint")
    assert costs.loc["jumpstart-dft-meta-textgeneration-llama-2-7b-f", "Price per hour"] == "-"
    assert costs.loc["my-llama", "Cost"].startswith("$")
    # Tokens and questions per day per model, cost per day per endpoint.
    charts = [json.loads(chart.proto.spec)["encoding"] for chart in at.get("vega_lite_chart")]
    assert [(chart["y"]["title"], chart["color"]["field"]) for chart in charts] == [
        ("Tokens", "Model"),
        ("Questions", "Model"),
        ("US dollars", "Endpoint"),
    ]
