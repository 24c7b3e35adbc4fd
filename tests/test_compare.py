"""Comparing models: one question to two endpoints at once, each answer saved as a
candidate, the pick saved as the question's answer and continuing the conversation.

The endpoints are the local endpoint server on 127.0.0.1 (real boto3, botocore and
HTTP) answering with the scripted model, serving two endpoint names in two payload
formats; conversations go to real SQLite and to DynamoDB on moto's server."""

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto_server import use_moto
from shared import answered

from chat_core.conversations.backends import open_store
from chat_core.conversations.compare import Comparison
from chat_core.conversations.dynamodb import create_table
from chat_core.conversations.exchange import MODES, Settings, State
from chat_core.conversations.export import to_markdown
from chat_core.conversations.feedback import preference_pairs, rated
from chat_core.conversations.session import ChatSession
from chat_core.conversations.store import Store, current_view
from chat_core.errors import ChatError
from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.local.server import EndpointServer
from chat_core.models.budget import count_tokens
from chat_core.models.catalog import GenerationParams, custom_model

PARAMS = GenerationParams(max_new_tokens=64, temperature=0.0, top_p=1.0)
FALCON = custom_model("falcon-a", "tgi", 2048, None)
LLAMA = custom_model("llama-b", "llama2-chat", 4096, None)
MISSING = custom_model("not-deployed", "tgi", 2048, None)
RECORD = {"first_token_s", "tokens", "tokens_per_s", "input_tokens", "seconds", "model", "endpoint", "params"}


def together(model: ScriptedModel, calls: int) -> Callable[..., Iterator[str]]:
    """The scripted model, except that no answer goes past its first word until
    ``calls`` answers have begun: an answer can only end if they stream at once."""
    begun = threading.Barrier(calls, timeout=10)

    def complete(prompt: str, **sampling: object) -> Iterator[str]:
        tokens = model.complete(prompt, **sampling)  # type: ignore[arg-type]
        yield next(tokens)
        begun.wait()
        yield from tokens

    return complete


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., EndpointServer]]:
    """Start the endpoint server for FALCON and LLAMA with a given ``complete``; boto3
    is pointed at it with placeholder keys that only let botocore sign."""
    servers: list[EndpointServer] = []

    def start(complete: Callable[..., Iterator[str]]) -> EndpointServer:
        endpoint = LocalEndpoint({"falcon-a": "tgi", "llama-b": "llama2-chat"}, complete=complete)
        servers.append(server := EndpointServer(endpoint, port=0, quiet=True).start())
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    if request.param == "sqlite":
        return open_store(f"sqlite://{tmp_path / 'chat.db'}")
    use_moto(monkeypatch, request.getfixturevalue("moto_url"))
    table = f"compare-{tmp_path.name}"[:200]
    create_table(table)
    return open_store(f"dynamodb://{table}")


def settings(*specs, mode: str = MODES[0]) -> list[Settings]:
    return [Settings(spec, PARAMS, mode) for spec in specs]


def streamed(comparison: Comparison) -> list[str]:
    """Each candidate's text, as the page drains it from the comparison."""
    events = list(comparison)
    return ["".join(t for i, t in events if i == index and t) for index in range(len(comparison.candidates))]


def test_two_models_stream_at_once_and_each_answer_is_saved_as_a_candidate(
    serve: Callable[..., EndpointServer], store: Store
) -> None:
    scripted = ScriptedModel(token_ms=2).enqueue("The Han river.", "The Han flows west.")
    serve(together(scripted, 2))
    chat = ChatSession(store)
    comparison = chat.compare("Which river flows through Seoul?", settings(FALCON, LLAMA))
    texts = streamed(comparison)  # both complete: past the barrier, so they streamed at once

    assert sorted(texts) == ["The Han flows west.", "The Han river."]
    assert [c.label for c in comparison.candidates] == [FALCON.label, LLAMA.label]
    assert len(scripted.prompts) == 2 and "[INST]" not in scripted.prompts[0]  # each in its own format

    messages = store.messages("local", chat.conversation_id or "")
    questions = [m for m in messages if m.role == "user"]
    answers = [m for m in messages if m.role == "assistant"]
    assert [q.text for q in questions] == ["Which river flows through Seoul?"]  # saved once
    assert sorted(a.text for a in answers) == sorted(texts)
    specs = {spec.endpoint_name: spec for spec in (FALCON, LLAMA)}
    for answer in answers:
        assert answer.stats["candidate"] is True and set(answer.stats) >= RECORD
        spec = specs[answer.stats["endpoint"]]
        assert answer.stats["tokens"] == count_tokens(spec, answer.text) and answer.stats["input_tokens"] > 0
    assert {a.stats["endpoint"] for a in answers} == {"falcon-a", "llama-b"}
    assert current_view(messages) == [(questions[0], None)]  # no answer until one is picked
    assert not chat.exchanges[-1].answered and answered(chat) == []


@pytest.mark.parametrize("mode", MODES)
def test_the_picked_answer_is_saved_and_continues_the_conversation(
    serve: Callable[..., EndpointServer], tmp_path: Path, mode: str
) -> None:
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    scripted = ScriptedModel(token_ms=1).enqueue("Answer one: the Han.", "Answer two: the Nakdong.")
    serve(scripted.complete)
    chat = ChatSession(store)
    comparison = chat.compare("Which river flows through Seoul?", settings(FALCON, LLAMA, mode=mode))
    texts = streamed(comparison)
    two = texts.index("Answer two: the Nakdong.")
    chat.pick(two)

    assert chat.comparison is None and chat.exchanges[-1].answer == "Answer two: the Nakdong."
    messages = store.messages("local", chat.conversation_id or "")
    candidates = {m.text: m.key for m in messages if m.stats.get("candidate")}
    (_, chosen), = current_view(messages)  # fmt: skip
    assert chosen is not None and chosen.text == "Answer two: the Nakdong."
    assert chosen.stats["comparison"] == {
        "chosen": candidates["Answer two: the Nakdong."],
        "rejected": [candidates["Answer one: the Han."]],
    }
    assert "candidate" not in chosen.stats and chosen.stats["endpoint"] == ("falcon-a", "llama-b")[two]
    assert set(chosen.stats) >= RECORD
    exported = to_markdown(store.get("local", chat.conversation_id or ""), messages)
    assert "**Assistant** (custom-llama-b, compared)" in exported and "regenerated" not in exported

    "".join(chat.ask("And which sea does it flow into?", settings(FALCON, mode=mode)[0]))
    assert "Answer two: the Nakdong." in scripted.prompts[-1]
    assert "Answer one" not in scripted.prompts[-1]


def test_a_model_that_fails_fails_its_column_only(
    serve: Callable[..., EndpointServer], tmp_path: Path
) -> None:
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    serve(ScriptedModel(token_ms=1).enqueue("The Han river.").complete)
    chat = ChatSession(store)
    comparison = chat.compare("Which river flows through Seoul?", settings(FALCON, MISSING))
    texts = streamed(comparison)

    failed = comparison.candidates[1].exchange
    assert texts[0] == "The Han river." and failed.state is State.FAILED
    assert failed.reason and "not-deployed" in failed.reason.text("en") and failed.reason.ko
    assert comparison.pickable == [0]
    chat.pick(0)
    chosen = store.messages("local", chat.conversation_id or "")[-1]
    assert chosen.text == "The Han river." and chosen.stats["comparison"]["rejected"] == []


def test_a_reopened_conversation_shows_its_undecided_comparison(
    serve: Callable[..., EndpointServer], store: Store
) -> None:
    scripted = ScriptedModel(token_ms=1).enqueue(
        "Seoul is big.", "Answer one: the Han.", "Answer two: Nakdong."
    )
    serve(scripted.complete)
    chat = ChatSession(store)
    "".join(chat.ask("Tell me about Seoul.", settings(FALCON)[0]))
    list(chat.compare("Which river flows through Seoul?", settings(FALCON, LLAMA)))

    later = ChatSession(store)  # another browser session, or after a restart
    later.open(chat.conversation_id or "")
    assert later.comparison is not None and later.comparison.exchange is later.exchanges[-1]
    assert not later.exchanges[-1].answered and later.exchanges[-1].reason is None
    candidates = later.comparison.candidates
    assert {c.exchange.answer for c in candidates} == {"Answer one: the Han.", "Answer two: Nakdong."}
    assert {c.label for c in candidates} == {FALCON.endpoint_name, LLAMA.endpoint_name}
    assert all(c.exchange.stats and c.exchange.stats.tokens for c in candidates)
    two = [c.exchange.answer for c in candidates].index("Answer two: Nakdong.")
    later.pick(two)

    again = ChatSession(store)
    again.open(chat.conversation_id or "")
    assert again.comparison is None
    assert [(e.question, e.answer) for e in again.exchanges] == [
        ("Tell me about Seoul.", "Seoul is big."),
        ("Which river flows through Seoul?", "Answer two: Nakdong."),
    ]


def test_stop_stops_every_answer_and_keeps_each_text_so_far(
    serve: Callable[..., EndpointServer], tmp_path: Path
) -> None:
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    long = " ".join(f"word{n}" for n in range(200))  # 200 words at 20 ms: 4 s each
    serve(ScriptedModel(token_ms=20).enqueue(long, long).complete)
    chat = ChatSession(store)
    comparison = chat.compare("Tell me a long story.", settings(FALCON, LLAMA))
    begun: set[int] = set()
    for index, _ in comparison:
        begun.add(index)
        if begun == {0, 1}:
            break
    chat.settle()  # what a click on Stop does: the page's run is interrupted, the next one settles

    for candidate in comparison.candidates:
        assert candidate.exchange.state is State.STOPPED
        assert 0 < len(candidate.exchange.answer) < len(long)
    saved = [m for m in store.messages("local", chat.conversation_id or "") if m.role == "assistant"]
    assert len(saved) == 2 and all(m.stats["stopped"] and m.stats["candidate"] for m in saved)


def test_a_comparison_waits_for_a_pick_before_the_next_question(
    serve: Callable[..., EndpointServer], tmp_path: Path
) -> None:
    """Asking on would drop the candidates from the conversation on screen, and no
    preference pair would ever be made of them."""
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    serve(ScriptedModel(token_ms=1).enqueue("The Han.", "The Nakdong.").complete)
    chat = ChatSession(store)
    streamed(chat.compare("Which river flows through Seoul?", settings(FALCON, LLAMA)))

    with pytest.raises(ChatError, match="Use this answer"):
        chat.ask("And which sea does it flow into?", settings(FALCON)[0])
    assert chat.comparison is not None and len(chat.comparison.pickable) == 2
    assert [e.question for e in chat.exchanges] == ["Which river flows through Seoul?"]


def test_a_picked_comparison_is_counted_once_per_model_and_exported_as_a_preference_pair(
    serve: Callable[..., EndpointServer], store: Store
) -> None:
    """The comparison's writer and its two readers, usage and the preference-pair export, agree."""
    scripted = ScriptedModel(token_ms=1).enqueue("The Han.", "The Nakdong.")
    serve(scripted.complete)
    chat = ChatSession(store)
    texts = streamed(chat.compare("Which river flows through Seoul?", settings(FALCON, LLAMA)))
    chat.pick(texts.index("The Han."))

    records = store.usage(0, time.time() + 60, "local")
    assert sorted((r.endpoint, r.output_tokens) for r in records) == sorted(
        (spec.endpoint_name, count_tokens(spec, text))
        for spec, text in zip((FALCON, LLAMA), texts, strict=True)
    )
    (pair,) = preference_pairs(store, "local")
    assert pair["prompt"] == [{"role": "user", "content": "Which river flows through Seoul?"}]
    assert pair["chosen"] == [{"role": "assistant", "content": "The Han."}]
    assert pair["rejected"] == [{"role": "assistant", "content": "The Nakdong."}]


def test_a_compared_answer_can_be_rated_before_one_is_picked(
    serve: Callable[..., EndpointServer], tmp_path: Path
) -> None:
    """Feedback is on any answer: a candidate's rating is saved, comes back with the
    comparison on reopening, and is in the ratings export."""
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    serve(ScriptedModel(token_ms=1).enqueue("The Han.", "The Nakdong.").complete)
    chat = ChatSession(store)
    texts = streamed(chat.compare("Which river flows through Seoul?", settings(FALCON, LLAMA)))
    assert chat.comparison is not None
    wrong = chat.comparison.candidates[texts.index("The Nakdong.")].exchange
    chat.rate(wrong, "down", "It flows through Busan.")

    reopened = ChatSession(store)
    reopened.open(chat.conversation_id or "")
    assert reopened.comparison is not None
    given = {c.exchange.answer: c.exchange.feedback for c in reopened.comparison.candidates}
    assert given["The Han."] is None
    assert given["The Nakdong."] is not None and given["The Nakdong."].rating == "down"
    (line,) = rated(store, "local")
    assert (line["answer"], line["rating"], line["comment"]) == (
        "The Nakdong.",
        "down",
        "It flows through Busan.",
    )
    assert line["messages"] == [{"role": "user", "content": "Which river flows through Seoul?"}]
