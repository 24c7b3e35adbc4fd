"""The Usage page's endpoints section in Streamlit's AppTest: an admin sees each
component's copies, instances, last question and costs, and puts one to sleep or wakes
it; anyone else sees neither.  The SageMaker control plane is the local endpoint
server's (python -m chat_core endpoint): it lists the component-hosting endpoint
(ListEndpoints, DescribeEndpoint, DescribeEndpointConfig, ListTags: moto cannot hold
such an endpoint) and its components (moto has none), with real boto3.  AppTest stands
in for the login provider (test_login.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pandas as pd
import pytest
import streamlit as st
from shared import AUTH, ISSUER, serving, until
from streamlit.testing.v1 import AppTest

from chat_core.conversations.backends import open_store
from chat_core.local.endpoint import LocalEndpoint
from chat_core.usage.records import Usage

ADMIN, ANA = f"{ISSUER}#admin", f"{ISSUER}#ana"
SECTION = "Endpoints and idle cost"
IDLE_COST = "Idle hours × cost per hour now"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalEndpoint]:
    """``team`` hosts ``llama`` (one copy: one ml.g5.2xlarge) and ``gemma`` (asleep)."""
    monkeypatch.setenv("LOCAL_MODEL", "scripted:0")
    endpoint = LocalEndpoint(
        {}, components={"team": {"llama": "tgi", "gemma": "messages"}}, asleep={("team", "gemma")}, wake_s=0.5
    )
    with serving(endpoint) as running:
        for name in ("SAGEMAKER", "SAGEMAKER_RUNTIME"):
            monkeypatch.setenv(f"AWS_ENDPOINT_URL_{name}", running.url)
        for name, value in (
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "t"),
            ("AWS_SECRET_ACCESS_KEY", "t"),
        ):
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("INSTANCE_PRICES", "ml.g5.2xlarge=2")
        monkeypatch.setenv("CHAT_ADMINS", ADMIN)
        st.cache_resource.clear()  # the pages keep a listing for a minute
        yield endpoint
    st.cache_resource.clear()


def usage_page(sub: str | None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=30)
    if sub:
        at.secrets["auth"] = AUTH
        at.user = {"is_logged_in": True, "iss": ISSUER, "sub": sub}
    at.run()
    return at.switch_page("pages/usage.py").run()


def rows(at: AppTest) -> dict[str, pd.DataFrame]:
    """The section's tables by the line above each (endpoint · component)."""
    found, line, inside = {}, "", False
    for node in at.main:
        if node.type == "subheader":
            inside = node.value == SECTION
        elif inside and node.type == "markdown":
            line = node.value
        elif inside and node.type == "table":
            found[line] = node.value
    return found


def test_an_admin_sees_each_component_s_cost_and_puts_it_to_sleep_or_wakes_it(served: LocalEndpoint) -> None:
    store = open_store(os.environ["CHAT_STORE"])
    store.record_usage(Usage(ANA, "", 0, "m", "team", 10, 20, 1.0, component="llama"))
    store.mark_call("team", "gemma", time.time() - 40 * 86400)  # its last call, last month
    at = usage_page("admin")
    assert not at.exception and not at.error
    shown = rows(at)
    llama, gemma = shown["**team** · llama"].loc[0], shown["**team** · gemma"].loc[0]
    assert (llama["Copies"], llama["Instances"], llama["Cost per hour now"]) == ("1", "1", "$2.00")
    # No call was marked (another process's answer, say): its usage record's end.
    (answered,) = store.usage(0, time.time() + 60, None)
    assert llama["Last question (UTC)"] == time.strftime("%Y-%m-%d %H:%M", time.gmtime(answered.at))
    last_month = time.strftime("%Y-%m-%d %H:%M", time.gmtime(store.last_calls()["team", "gemma"]))
    assert (gemma["Copies"], gemma["Cost per hour now"], gemma[IDLE_COST]) == ("0", "$0.00", "$0.00")
    assert gemma["Last question (UTC)"] == last_month
    # Hours shown to 0.1 (±0.05, ±$0.10 at $2) and dollars to the cent (±$0.005).
    assert float(llama[IDLE_COST].strip("$").replace(",", "")) == pytest.approx(
        2 * float(llama["Idle hours this month"].replace(",", "")), abs=0.105
    )
    assert "idle hours this month × what the model costs an hour now" in " ".join(c.value for c in at.caption)

    at.button(key="scale-team/llama").click().run()
    assert served.copies("team", "llama").current == 0
    assert at.toast[0].value == "team/llama is going to sleep."
    assert rows(at)["**team** · llama"].loc[0, "Copies"] == "0"
    assert at.button(key="scale-team/llama").label == "Wake"

    at.button(key="scale-team/gemma").click().run()
    assert served.copies("team", "gemma").desired == 1
    assert at.toast[0].value == "team/gemma is waking up."
    assert until(lambda: served.copies("team", "gemma").current == 1)
    at.run()  # the listing read afresh: the copy serving now, and the button to put it to sleep
    assert rows(at)["**team** · gemma"].loc[0, "Copies"] == "1"
    assert at.button(key="scale-team/gemma").label == "Put to sleep"


@pytest.mark.parametrize("sub", [None, "ana"])
def test_anyone_else_sees_no_section_and_no_control(served: LocalEndpoint, sub: str | None) -> None:
    """The local user (without login) and a logged-in user, neither in CHAT_ADMINS."""
    at = usage_page(sub)
    assert not at.exception
    assert SECTION not in [header.value for header in at.subheader]
    assert not [button for button in at.button if (button.key or "").startswith("scale-")]
