"""The Usage page in Streamlit's AppTest: a user sees their own usage, an admin may
turn to everyone's.  AppTest stands in for the login provider (test_login.py), and a
function standing in for the account's endpoint listing (another part of this work)
says which instances serve the endpoint priced here."""

import os

import pytest
from streamlit.testing.v1 import AppTest
from test_login import AUTH, ISSUER

import pages.common
from chat_core.conversations.store import Store, open_store

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
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setattr(pages.common, "endpoint_instances", {"my-llama": ("ml.g5.2xlarge", 1)}.get)
    monkeypatch.setenv("INSTANCE_PRICES", "ml.g5.2xlarge=36")  # a cent a second
    return open_store(os.environ["CHAT_STORE"])


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
