"""The chat page, driven through Streamlit's AppTest: the scripted model, and the real one once."""

import pytest
from chat_page import messages, send, start
from shared import refuse_answers
from streamlit.testing.v1 import AppTest

from chat_core.conversations.backends import open_store
from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import EndpointServer


@pytest.fixture
def app() -> AppTest:
    return start()


@pytest.mark.real_model
def test_a_message_gets_a_streamed_answer_with_its_speed(app: AppTest) -> None:
    send(app, "I live in Seoul, Korea.")
    assert not app.exception
    (role, question), (answer_role, answer) = messages(app)
    assert (role, question) == ("user", "I live in Seoul, Korea.")
    assert answer_role == "assistant" and answer.strip()
    assert "tokens/s" in app.chat_message[1].caption[1].value  # under the model's name

    send(app, "Tell me how to travel the city.")
    assert [role for role, _ in messages(app)] == ["user", "assistant"] * 2
    assert messages(app)[0][1] == "I live in Seoul, Korea."  # history survives reruns


def test_conversation_chain_mode_answers_too(app: AppTest) -> None:
    app.sidebar.radio(key="mode").set_value("ConversationChain").run()
    send(app, "Hello, who are you?")
    send(app, "What did I just ask?")
    assert not app.exception
    assert len(messages(app)) == 4 and messages(app)[3][1].strip()
    assert "ConversationChain" in app.caption[0].value


def test_new_chat_clears_the_conversation(app: AppTest) -> None:
    send(app, "Hello!")
    assert len(messages(app)) == 2
    app.sidebar.button(key="new-chat").click().run()
    assert messages(app) == []
    assert app.title[0].value == "SageMaker Chat" and not [m for m in app.main.markdown if "None" in m.value]


def test_an_unconfigured_endpoint_explains_itself_and_the_message_can_be_resent(app: AppTest) -> None:
    app.sidebar.selectbox(key="model").set_value("llama2-7b-chat").run()
    send(app, "Are you Llama?")

    assert messages(app)[0] == ("user", "Are you Llama?")  # the user's text is kept
    assert "No AWS region is set" in app.error[0].value
    assert "pick the local model" in app.error[0].value

    # Switch back to the bundled model and resend with one click.
    app.sidebar.selectbox(key="model").set_value("local-smollm2").run()
    assert app.error  # still shown until it is resent
    next(b for b in app.button if b.label == "Resend").click().run()
    assert not app.error
    roles = [role for role, _ in messages(app)]
    assert roles == ["user", "assistant"] and messages(app)[0][1] == "Are you Llama?"


def test_missing_credentials_are_explained(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    app.sidebar.selectbox(key="model").set_value("falcon-7b-instruct").run()
    send(app, "Hi Falcon")
    assert "No AWS credentials were found" in app.error[0].value
    assert messages(app)[0] == ("user", "Hi Falcon")


def test_a_custom_endpoint_added_in_the_sidebar_answers_through_boto3(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local endpoint server on 127.0.0.1; it ignores signatures, the keys only let botocore sign."""
    server = EndpointServer(LocalEndpoint({"my-falcon": "tgi"}), port=0, quiet=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        app.sidebar.text_input(key="model-endpoint-name").input("my-falcon")
        app.sidebar.text_input(key="model-endpoint-region").input("us-east-1")
        app.sidebar.selectbox(key="model-endpoint-payload").set_value("tgi")
        app.button(key="model-add-endpoint").click().run()
        assert app.sidebar.selectbox(key="model").value == "custom-my-falcon"
        app.sidebar.slider(key="n-custom-my-falcon").set_value(32)
        send(app, "Hello Falcon")
        assert not app.error
        assert messages(app)[0] == ("user", "Hello Falcon") and messages(app)[1][1].strip()
        assert app.caption[0].value.startswith("my-falcon (tgi)")
    finally:
        server.shutdown()


def test_an_answer_whose_save_fails_stays_on_screen_and_can_be_saved_again(
    app: AppTest, scripted: ScriptedModel
) -> None:
    """A real SQLite file that refuses answers (a trigger, added by another connection)."""
    send(app, "First question")  # creates the conversation and its file
    refusing = refuse_answers(open_store().path)
    scripted.enqueue("An answer worth keeping.")
    send(app, "Second question")
    assert messages(app)[-1] == ("assistant", "An answer worth keeping.")
    assert "Could not save" in app.warning[0].value
    app.run(timeout=10)  # the next run does not wait for the answer: it is settled
    assert messages(app)[-1] == ("assistant", "An answer worth keeping.")

    refusing.execute("DROP TRIGGER refuse")
    app.button(key="save-1").click().run()
    assert not app.warning
    saved = open_store().messages("local", app.session_state["chat"].conversation_id)
    assert [m.text for m in saved][-1] == "An answer worth keeping."
