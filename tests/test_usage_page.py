"""The Usage page in Streamlit's AppTest: a user sees their own usage, an admin may
turn to everyone's.  AppTest stands in for the login provider (test_login.py); the
instances serving the endpoint priced here come from the account's listing, on
moto's server as the SageMaker control plane."""

import json
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pandas as pd
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


def tables(at: AppTest) -> dict[tuple[str, str], list[pd.DataFrame]]:
    """The page's tables by the subheader and the line above them (whose figures they are)."""
    found: dict[tuple[str, str], list[pd.DataFrame]] = {}
    section = line = ""

    def walk(node: Any) -> None:
        nonlocal section, line
        for child in getattr(node, "children", {}).values():
            walk(child)
        if node.type == "subheader":
            section = node.value
        elif node.type == "markdown":
            line = node.value
        elif node.type == "table":
            found.setdefault((section, line), []).append(node.value)

    walk(at.main)
    return found


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
    shown = tables(at)
    [llama] = shown["Per model", "**my-llama**"]
    figures = llama.loc[0, ["Use", "Count", "Input tokens", "Output tokens", "Generation seconds"]]
    assert figures.tolist() == ["Answers", "2", "200", "100", "30.0"]
    assert "Pages" not in llama and "Per user" not in {section for section, _ in shown} and not at.toggle
    over_the_period = "Instance cost over the period"
    cost, share = (
        table.loc[0]
        for table in shown[over_the_period, "**my-llama**"] + shown[over_the_period, "Your share"][:1]
    )
    assert cost["Price per hour"] == "$36.00" and cost["Instances"] == "1"
    assert share["Cost"] == "$0.30"  # 30 s at a cent
    [bundled] = shown[over_the_period, "**local-smollm2**"]
    assert bundled.loc[0, "Cost"] == "$0.00" and bundled.loc[0, "Instances"] == "-"


def test_a_user_sees_only_their_own_and_an_admin_everyones(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_ADMINS", ADMIN)
    answered(store, ANA, "my-llama", 40, 10.0)
    answered(store, BOB, "my-llama", 5, 2.0)

    ana = usage_page({"sub": "ana"})
    assert not ana.toggle  # no way to ask for more
    assert tables(ana)["Per model", "**my-llama**"][0]["Count"].tolist() == ["1"]
    assert "Per user" not in {section for section, _ in tables(ana)}

    admin = usage_page({"sub": "admin"})
    assert {section for section, _ in tables(admin)} == {"Endpoints and idle cost"}  # their own: none
    assert admin.info[0].value == "Nothing in this period: no answers, summaries or indexing."
    admin.toggle(key="usage-everyone").set_value(True).run()
    shown = tables(admin)
    assert shown["Per model", "**my-llama**"][0]["Count"].tolist() == ["2"]
    users = {line for section, line in shown if section == "Per user"}
    assert users == {f"**{ANA}** · my-llama", f"**{BOB}** · my-llama"}
    shares = {line for section, line in shown if section == "Instance cost over the period"}
    assert shares == {"**my-llama**", f"**{ANA}**", f"**{BOB}**"}


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
    assert at.table[0].value.columns[:2].tolist() == ["용도", "횟수"]
    assert ("기간 중 인스턴스 비용", "내 몫") in tables(at)


def test_summaries_and_indexing_are_rows_of_their_own_and_empty_cells_read_a_dash(store: Store) -> None:
    answered(store, "local", "my-llama", 40, 10.0)
    answered(store, "local", "jumpstart-dft-meta-textgeneration-llama-2-7b-f", 5, 1.0)  # not in the account
    summary = Usage("local", next_key(), time.time(), "my-llama", "my-llama", 900, 120, 30.0, kind="summary")
    indexing = Usage("local", next_key(), time.time(), "local-e5-small", "local-e5-small", 0, 0, 4.0)
    store.record_usage(summary)
    store.record_usage(replace(indexing, kind="indexing", pages=4, passages=11))
    at = usage_page()
    assert not at.exception and not at.error
    shown = tables(at)
    [llama] = shown["Per model", "**my-llama**"]
    assert llama.set_index("Use").loc["Summaries", "Input tokens"] == "900"
    assert llama.set_index("Use").loc["Answers", "Count"] == "1"
    [indexing] = shown["Per model", "**local-e5-small**"]
    assert indexing.to_dict("records") == [
        {"Use": "Indexing", "Count": "1", "Pages": "4", "Generation seconds": "4.0"}
    ]  # no tokens to show
    cells = {str(cell) for table in at.table for cell in table.value.to_numpy().ravel()}
    assert not cells & {"None", "nan", "NaN", "<NA>", ""}
    costs = "Instance cost over the period"
    unknown = shown[costs, "**jumpstart-dft-meta-textgeneration-llama-2-7b-f**"][0].loc[0]
    assert unknown["Price per hour"] == "-" and unknown["Instances"] == "-"
    assert shown[costs, "**my-llama**"][0].loc[0, "Cost"].startswith("$")
    # Tokens and questions per day per model, cost per day per endpoint.
    charts = [json.loads(chart.proto.spec)["encoding"] for chart in at.get("vega_lite_chart")]
    assert [(chart["y"]["title"], chart["color"]["legend"]["title"]) for chart in charts] == [
        ("Tokens", "Model"),
        ("Questions", "Model"),
        ("US dollars", "Endpoint"),
    ]
    # Legends show whole names, on lines of their own.
    assert {chart["color"]["legend"]["labelLimit"] for chart in charts} == {0}
