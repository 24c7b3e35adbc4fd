"""The feedback exports, read from SQLite and DynamoDB (the ``store`` fixture,
conftest.py): rated answers, and comparisons as preference pairs, written through
the store as the chat page and the comparison page write them."""

import json
from datetime import UTC, datetime

import pytest

from chat_core.__main__ import main
from chat_core.conversations.backends import open_store
from chat_core.conversations.feedback import preference_pairs, rated, to_jsonl
from chat_core.conversations.store import Store

PARAMS = {"temperature": 0.2, "top_p": 0.9, "max_new_tokens": 256}


def record(model: str, **extra: object) -> dict[str, object]:
    """An answer's record as ``ChatSession`` saves it (session.py, ``answered_with``)."""
    saved = {"tokens": 3, "stopped": False, "model": model, "endpoint": f"{model}-ep", "params": PARAMS}
    return saved | extra


def test_a_rated_answer_is_a_line_with_the_conversation_before_it(store: Store) -> None:
    conversation = store.create("ana", "Trip", "local-smollm2", "PromptTemplate").id
    first = store.add_question("ana", conversation, "I live in Seoul.")
    store.add_answer("ana", conversation, first, "Nice city.", record("local-smollm2"))
    typo = store.add_question("ana", conversation, "Wher to eat?")
    store.add_answer("ana", conversation, typo, "Pardon?", record("local-smollm2"))
    fixed = store.add_question("ana", conversation, "Where to eat?", replaces=typo)
    store.add_answer("ana", conversation, fixed, "Gwangjang Market.", record("local-smollm2"))
    answer = store.add_answer("ana", conversation, fixed, "Try Myeongdong.", record("llama2-7b-chat"))
    given = store.set_feedback("ana", conversation, answer, "down", "Too touristy.")
    other = store.create("ana", "Unrated", "local-smollm2", "PromptTemplate").id
    unrated = store.add_answer("ana", other, store.add_question("ana", other, "Hi"), "Hello.", record("m"))
    store.set_feedback("ana", other, unrated, None, "A comment alone is no rating.")

    exported = to_jsonl(rated(store, "ana"))
    assert exported == (
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "I live in Seoul."},
                    {"role": "assistant", "content": "Nice city."},
                    {"role": "user", "content": "Where to eat?"},
                ],
                "answer": "Try Myeongdong.",
                "rating": "down",
                "comment": "Too touristy.",
                "model": "llama2-7b-chat",
                "parameters": PARAMS,
                "conversation_id": conversation,
                "rated_at": datetime.fromtimestamp(given.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        + "\n"
    )
    assert rated(store, "ana", since=given.at + 1) == []
    assert rated(store, "bob") == []


def test_comparisons_are_preference_pairs_one_per_rejected_answer(store: Store) -> None:
    conversation = store.create("ana", "Arena", "local-smollm2", "PromptTemplate").id
    first = store.add_question("ana", conversation, "Hello.")
    store.add_answer("ana", conversation, first, "Hi!", record("local-smollm2"))
    compared = store.add_question("ana", conversation, "Name a river in Seoul.")
    candidates = {
        model: store.add_answer("ana", conversation, compared, text, record(model, candidate=True))
        for model, text in (("model-a", "The Han."), ("model-b", "Hangang, the Han River."), ("model-c", "?"))
    }
    comparison = {"chosen": candidates["model-b"], "rejected": [candidates["model-a"], candidates["model-c"]]}
    store.add_answer(
        "ana", conversation, compared, "Hangang, the Han River.", record("model-b", comparison=comparison)
    )
    after = store.add_question("ana", conversation, "How long is it?")
    answer = store.add_answer("ana", conversation, after, "About 500 km.", record("model-b"))
    store.set_feedback("ana", conversation, answer, "up")

    prompt = [
        {"role": "user", "content": "Hello."},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": "Name a river in Seoul."},
    ]
    pairs = preference_pairs(store, "ana")
    chosen_at = pairs[0]["chosen_at"]
    assert pairs == [
        {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": "Hangang, the Han River."}],
            "rejected": [{"role": "assistant", "content": rejected}],
            "chosen_model": "model-b",
            "rejected_model": model,
            "conversation_id": conversation,
            "chosen_at": chosen_at,
        }
        for rejected, model in (("The Han.", "model-a"), ("?", "model-c"))
    ]
    # The conversation goes on from the chosen answer; the others are not part of it.
    [later] = rated(store, "ana")
    assert later["messages"] == [
        *prompt,
        {"role": "assistant", "content": "Hangang, the Han River."},
        {"role": "user", "content": "How long is it?"},
    ]
    assert preference_pairs(store, "bob") == []


def test_the_command_line_prints_the_exports_since_a_date(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m chat_core feedback``, on the store CHAT_STORE names (conftest.py)."""
    store = open_store()
    conversation = store.create("local", "Trip", "local-smollm2", "PromptTemplate").id
    question = store.add_question("local", conversation, "Where to?")
    answer = store.add_answer("local", conversation, question, "Seoul.", record("local-smollm2"))
    store.set_feedback("local", conversation, answer, "up", "Short and right.")

    assert main(["feedback", "--since", "2000-01-01"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["comment"] == "Short and right."
    assert main(["feedback", "--since", "2999-01-01"]) == 0
    assert main(["feedback", "--pairs"]) == 0
    assert capsys.readouterr().out == ""
    with pytest.raises(SystemExit) as refused:
        main(["feedback", "--since", "last week"])
    assert refused.value.code == 2 and "expected a date such as 2025-06-01" in capsys.readouterr().err
