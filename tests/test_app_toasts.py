"""The page confirms what the user did in the sidebar and under an answer (AppTest, the
scripted model, a SQLite file): a toast for a rename, a delete and feedback saved."""

from chat_page import conversation_buttons, send, start
from streamlit.testing.v1 import AppTest


def toasts(at: AppTest) -> list[str]:
    return [toast.value for toast in at.toast]


def test_rename_and_delete_are_confirmed_with_a_toast() -> None:
    at = start()
    send(at, "What is SageMaker?")
    conversation = at.session_state["chat"].conversation_id
    at.sidebar.text_input(key=f"title-{conversation}").input("SageMaker notes")
    at.sidebar.button(key="rename").click().run()
    assert conversation_buttons(at) == ["SageMaker notes"]
    assert toasts(at) == ["Renamed to “SageMaker notes”"]

    at.sidebar.checkbox(key=f"confirm-{conversation}").check().run()
    at.sidebar.button(key="delete").click().run()
    assert conversation_buttons(at) == []
    assert toasts(at) == ["Deleted “SageMaker notes”"]


def test_deleting_all_conversations_is_confirmed_with_a_toast() -> None:
    at = start()
    send(at, "One")
    at.sidebar.button(key="new-chat").click().run()
    send(at, "Two")
    at.sidebar.checkbox(key="confirm-all").check().run()
    at.sidebar.button(key="delete-all").click().run()
    assert toasts(at) == ["Deleted 2 conversations"]


def test_feedback_saved_is_confirmed_with_a_toast_in_korean_too() -> None:
    at = start()
    send(at, "Where should I eat in Seoul?")
    key = at.session_state["chat"].exchanges[0].answer_key
    at.feedback(key=f"thumbs-{key}").set_value(1).run()
    assert toasts(at) == ["Feedback saved"]
    at.session_state["language"] = "ko"
    at.run()
    at.text_area(key=f"comment-{key}").input("좋아요")
    at.button(key=f"save-comment-{key}").click().run()
    assert toasts(at) == ["의견을 저장했습니다"]
