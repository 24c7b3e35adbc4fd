"""What the chat page keeps, driven through Streamlit's AppTest: the sidebar's choices
across a visit to another page and across a reload (a new session of the same user),
the model named over each answer, and the first-run notice about the bundled model.

Comparisons call two endpoints served by the local endpoint server on 127.0.0.1
(real boto3 and HTTP) with the scripted model; the store is real SQLite."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_page import messages, send, start
from shared import pdf_of, point_at, serving
from streamlit.testing.v1 import AppTest

from chat_core.conversations.store import LOCAL_USER
from chat_core.documents.uploads import open_uploads, sha256
from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.models.catalog import load_catalog

LOCAL, LLAMA, FALCON = (load_catalog()[i] for i in ("local-smollm2", "llama2-7b-chat", "falcon-7b-instruct"))
SYSTEM = "Answer like a pirate."


def choose(at: AppTest) -> AppTest:
    """Choices that differ from every default."""
    at.sidebar.radio(key="mode").set_value("ConversationChain")
    at.sidebar.text_area(key="system").set_value(SYSTEM)
    at.sidebar.slider(key="t-local-smollm2").set_value(0.35)
    at.sidebar.slider(key="top-k").set_value(7)
    return at.run()


def chosen(at: AppTest) -> tuple[str, str, float, int]:
    sidebar = at.sidebar
    return (
        sidebar.radio(key="mode").value,
        sidebar.text_area(key="system").value,
        sidebar.slider(key="t-local-smollm2").value,
        sidebar.slider(key="top-k").value,
    )


def headers(at: AppTest) -> list[str]:
    """The line over each answer on the page."""
    return [m.caption[0].value for m in at.chat_message if m.name == "assistant"]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The catalog's two JumpStart endpoints, served by the scripted model."""
    endpoint = LocalEndpoint(
        {LLAMA.endpoint_name: "llama2-chat", FALCON.endpoint_name: "tgi"},
        complete=ScriptedModel(token_ms=2).complete,
    )
    with serving(endpoint) as server:
        point_at(monkeypatch, server)
        yield


def test_the_sidebar_choices_survive_a_visit_to_the_pdf_page() -> None:
    at = choose(start())
    at.switch_page("pages/Summarize_a_PDF.py").run()
    at.switch_page("pages/chat.py").run()
    assert chosen(at) == ("ConversationChain", SYSTEM, 0.35, 7)
    assert "ConversationChain" in at.caption[0].value


def test_the_sidebar_choices_survive_a_reload() -> None:
    choose(start())
    again = AppTest.from_file("../app.py", default_timeout=120).run()  # a reload is a new session
    assert not again.exception
    assert chosen(again) == ("ConversationChain", SYSTEM, 0.35, 7)


def test_documents_attached_survive_a_reload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attached before any question is asked: no conversation holds them yet."""
    monkeypatch.setenv("UPLOAD_STORE", f"file://{tmp_path / 'uploads'}")
    digest = sha256(ports := pdf_of(2))
    open_uploads(f"file://{tmp_path / 'uploads'}").for_owner(LOCAL_USER).save(ports, "ports.pdf")
    at = start()
    at.sidebar.multiselect(key="documents").select(digest).run()
    again = AppTest.from_file("../app.py", default_timeout=120).run()
    assert again.sidebar.multiselect(key="documents").value == [digest]
    assert "ports.pdf" in again.caption[0].value


def test_each_answer_names_the_model_that_wrote_it_not_the_sidebars() -> None:
    at = start()
    send(at, "Hello!")
    at.sidebar.selectbox(key="model").set_value("llama2-7b-chat").run()
    assert headers(at) == [LOCAL.label]
    assert LLAMA.label in at.caption[0].value  # the next question goes to the sidebar's model


def test_a_reopened_answer_names_its_model() -> None:
    at = start()
    send(at, "Hello!")
    again = AppTest.from_file("../app.py", default_timeout=120)
    again.query_params["c"] = at.query_params["c"]
    again.run()
    assert headers(again) == [LOCAL.label]


def test_a_picked_comparison_names_the_model_that_answered(served: None) -> None:
    at = start()
    at.sidebar.selectbox(key="model").set_value(FALCON.id).run()
    at.sidebar.toggle(key="compare").set_value(True).run()
    at.sidebar.multiselect(key="compared").select(LLAMA.id).run()
    send(at, "Which river flows through Seoul?")
    assert not at.exception
    at.button(key="use-1").click().run()  # Llama's, the second column
    assert not at.exception
    [header] = headers(at)
    assert header == f"{LLAMA.label} · picked from the compared answers"
    reopened = AppTest.from_file("../app.py", default_timeout=120)
    reopened.query_params["c"] = at.query_params["c"]
    assert headers(reopened.run()) == [header]


def test_the_first_run_notice_says_the_bundled_model_is_a_demo_once_per_user() -> None:
    at = AppTest.from_file("../app.py", default_timeout=120).run()
    [notice] = [n.value for n in at.info if "135M" in n.value]
    assert "demo" in notice and "Add a SageMaker endpoint" in notice
    again = AppTest.from_file("../app.py", default_timeout=120).run()  # a reload: the same user
    assert not [n for n in again.info if "135M" in n.value]
    assert messages(again) == []


def test_the_first_run_notice_is_in_korean_for_a_korean_browser() -> None:
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.session_state["language"] = "ko"
    at.run()
    assert [n for n in at.info if "135M" in n.value and "데모" in n.value]


def test_an_endpoint_added_in_the_sidebar_is_still_picked_after_a_reload() -> None:
    """The notice's one step: connecting a real endpoint is not undone by a reload."""
    at = start()
    at.sidebar.text_input(key="model-endpoint-name").input("my-falcon")
    at.sidebar.text_input(key="model-endpoint-region").input("us-east-1")
    at.sidebar.selectbox(key="model-endpoint-payload").set_value("tgi")
    at.button(key="model-add-endpoint").click().run()
    again = AppTest.from_file("../app.py", default_timeout=120).run()
    assert not again.exception
    assert again.sidebar.selectbox(key="model").value == "custom-my-falcon"
    assert again.caption[0].value.startswith("my-falcon (tgi)")
