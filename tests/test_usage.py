"""Usage and cost: figures recorded with each answer, in SQLite and in DynamoDB
(moto's server, as in test_store.py), read per user, by admins for everyone, and
priced per instance-hour.  Answers come from the scripted model through ChatSession."""

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from shared import refuse_usage

from chat_core.__main__ import main
from chat_core.conversations import dynamodb, sqlite
from chat_core.conversations.backends import open_store
from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.conversations.store import Store
from chat_core.documents.pdf import read_pdf
from chat_core.documents.summaries import summarize
from chat_core.documents.uploads import FolderUploads, sha256
from chat_core.local.scripted import ScriptedModel
from chat_core.models.budget import count_tokens
from chat_core.models.catalog import LOCAL_MODEL, GenerationParams
from chat_core.retrieval.embeddings import embedder
from chat_core.retrieval.index import stored_index
from chat_core.retrieval.library import Attached, Library
from chat_core.usage.prices import EXAMPLE_PRICES, InvalidPrices, instance_prices
from chat_core.usage.records import Usage, summary_usage
from chat_core.usage.report import InvalidPeriod, NotAnAdmin, Period, period_since, report, visible_usage

SETTINGS = Settings(LOCAL_MODEL, LOCAL_MODEL.defaults)
# From an hour ago to an hour from now: one or two months, each one query in DynamoDB.
EVER = Period(time.time() - 3600, time.time() + 3600)
BRIEF = GenerationParams(64, 0.0, 1.0)
PDFS = Path(__file__).parent / "pdfs"
ANSWERS = ("Seoul is the capital.", "It has about ten million people.", "Take the subway, line 2.")


def converse(
    store: Store, owner: str, scripted: ScriptedModel, answers: tuple[str, ...] = ANSWERS
) -> ChatSession:
    chat = ChatSession(store, owner)
    scripted.enqueue(*answers)
    for number in range(len(answers)):
        with chat.ask(f"Question {number} about Seoul?", SETTINGS) as reply:
            "".join(reply)
    return chat


def test_usage_is_the_tokens_counted_for_the_answers_given(store: Store, scripted: ScriptedModel) -> None:
    chat = converse(store, "ana", scripted)
    records = store.messages("ana", chat.conversation_id or "")
    answers = [message for message in records if message.role == "assistant"]

    usage = store.usage(EVER.since, EVER.until, "ana")
    assert [u.output_tokens for u in usage] == [count_tokens(LOCAL_MODEL, answer) for answer in ANSWERS]
    assert [u.input_tokens for u in usage] == [a.stats["input_tokens"] for a in answers]
    assert all(u.input_tokens > 0 for u in usage) and usage[1].input_tokens > usage[0].input_tokens  # history
    assert [u.seconds for u in usage] == [a.stats["seconds"] for a in answers]
    assert {(u.owner, u.model, u.endpoint) for u in usage} == {("ana", "local-smollm2", "local-smollm2")}

    (totals,) = report(usage, EVER, lambda endpoint: None, EXAMPLE_PRICES).models
    assert totals.count == 3
    assert totals.output_tokens == sum(count_tokens(LOCAL_MODEL, answer) for answer in ANSWERS)
    assert totals.input_tokens == sum(a.stats["input_tokens"] for a in answers)


def test_deleting_conversations_keeps_their_usage(store: Store, scripted: ScriptedModel) -> None:
    first = converse(store, "ana", scripted, ANSWERS[:1])
    converse(store, "ana", scripted, ANSWERS[1:])
    store.delete("ana", first.conversation_id or "")
    assert len(store.usage(EVER.since, EVER.until, "ana")) == 3
    store.delete_all("ana")
    assert store.conversations("ana") == []
    assert [u.output_tokens for u in store.usage(EVER.since, EVER.until, "ana")] == [
        count_tokens(LOCAL_MODEL, answer) for answer in ANSWERS
    ]


def test_a_user_sees_their_own_usage_and_an_admin_everyones(
    store: Store, scripted: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    converse(store, "iss#ana", scripted, ANSWERS[:2])
    converse(store, "iss#ana#2", scripted, ANSWERS[2:])  # an owner that "iss#ana" prefixes
    assert {u.owner for u in visible_usage(store, "iss#ana", EVER)} == {"iss#ana"}
    assert {u.owner for u in visible_usage(store, "iss#ana#2", EVER)} == {"iss#ana#2"}
    assert visible_usage(store, "iss#bob", EVER) == []
    with pytest.raises(NotAnAdmin):
        visible_usage(store, "iss#ana", EVER, everyone=True)

    monkeypatch.setenv("CHAT_ADMINS", "iss#bob")
    everyone = visible_usage(store, "iss#bob", EVER, everyone=True)
    assert [u.owner for u in everyone] == ["iss#ana", "iss#ana", "iss#ana#2"]
    users = report(everyone, EVER, lambda endpoint: None, EXAMPLE_PRICES, by_user=True).users
    assert {(totals.owner, totals.count) for totals in users} == {("iss#ana", 2), ("iss#ana#2", 1)}


def test_candidates_of_a_comparison_count_and_the_chosen_copy_does_not(store: Store) -> None:
    """The comparison's own writer is another part: its records are written here as it
    saves them (common15.md)."""
    conversation = store.create("ana", "Compare", "local-smollm2", "PromptTemplate").id
    question = store.add_question("ana", conversation, "Which is better?")
    record = {"tokens": 5, "input_tokens": 20, "seconds": 1.0, "endpoint": "e", "candidate": True}
    first = store.add_answer("ana", conversation, question, "A", record | {"model": "m1"})
    second = store.add_answer("ana", conversation, question, "B", record | {"model": "m2"})
    chosen = {"comparison": {"chosen": first, "rejected": [second]}}
    store.add_answer(
        "ana", conversation, question, "A", record | {"model": "m1", "candidate": False} | chosen
    )
    store.add_answer("ana", conversation, question, "Summary", {})  # saved without stats: not generated here
    usage = store.usage(EVER.since, EVER.until, "ana")
    assert [(u.model, u.candidate) for u in usage] == [("m1", True), ("m2", True)]


def test_a_period_spans_months_and_leaves_out_what_is_outside_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB keeps a month a partition: a period over three months reads all three."""
    conversation = store.create("ana", "Months", "local-smollm2", "PromptTemplate").id
    times = [datetime(2025, month, 15, tzinfo=UTC).timestamp() for month in (1, 2, 4)]
    for at in times:
        for module in (sqlite, dynamodb):
            monkeypatch.setattr(module, "now", lambda at=at: at)
        question = store.add_question("ana", conversation, "When?")
        store.add_answer("ana", conversation, question, "Then.", {"tokens": 2, "model": "m", "endpoint": "e"})
    for owner in ("ana", None):
        january_to_march = store.usage(times[0], datetime(2025, 3, 31, tzinfo=UTC).timestamp(), owner)
        assert [u.at for u in january_to_march] == times[:2]
        assert [u.at for u in store.usage(times[0] + 1, times[2], owner)] == times[1:]


def test_cost_is_instance_hours_at_the_price_and_a_share_is_the_time_used() -> None:
    ten_hours = Period(1_000_000.0, 1_000_000.0 + 10 * 3600)
    records = [
        Usage("ana", "1", ten_hours.since, "llama", "llama-ep", 100, 50, 300.0),
        Usage("ana", "2", ten_hours.since, "llama", "llama-ep", 100, 50, 60.0),
        Usage("bob", "3", ten_hours.since, "llama", "llama-ep", 100, 50, 720.0),
        Usage("bob", "4", ten_hours.since, "local-smollm2", "local-smollm2", 10, 5, 2.0),
        Usage("bob", "5", ten_hours.since, "mistral", "unknown-ep", 10, 5, 2.0),
        Usage("bob", "6", ten_hours.since, "falcon", "unpriced-ep", 10, 5, 2.0),
    ]
    served = {"llama-ep": ("ml.g5.2xlarge", 2), "unpriced-ep": ("ml.x1.huge", 1)}
    found = report(records, ten_hours, served.get, {"ml.g5.2xlarge": 1.5}, by_user=True)

    costs = {cost.endpoint: cost for cost in found.costs}
    assert costs["llama-ep"].cost == pytest.approx(1.5 * 2 * 10)  # $30: two instances, ten hours
    assert costs["local-smollm2"].cost == 0
    assert costs["unknown-ep"].cost is None and costs["unknown-ep"].note
    assert costs["unpriced-ep"].cost is None and "INSTANCE_PRICES" in costs["unpriced-ep"].note.en
    shares = {(share.owner, share.endpoint): share for share in found.shares}
    ana = shares["ana", "llama-ep"]
    assert ana.seconds == 360 and ana.share == pytest.approx(360 / (2 * 36_000))  # 0.5%
    assert ana.cost == pytest.approx(0.15)
    assert shares["bob", "llama-ep"].cost == pytest.approx(0.30)
    assert shares["bob", "local-smollm2"].cost == 0 and shares["bob", "unknown-ep"].cost is None
    assert [(t.owner, t.model, t.count, t.seconds) for t in found.users][:2] == [
        ("ana", "llama", 2, 360.0),
        ("bob", "llama", 1, 720.0),
    ]


def test_the_operator_sets_prices_over_the_examples() -> None:
    prices = instance_prices({"INSTANCE_PRICES": " ml.g5.2xlarge = 1.2 , ml.inf2.xlarge=0.99,"})
    assert prices["ml.g5.2xlarge"] == 1.2 and prices["ml.inf2.xlarge"] == 0.99
    assert prices["ml.g5.xlarge"] == EXAMPLE_PRICES["ml.g5.xlarge"]
    for wrong in ("ml.g5.2xlarge", "ml.g5.2xlarge=cheap", "=1.5", "ml.g5.2xlarge=-1", "ml.g5.2xlarge=nan"):
        with pytest.raises(InvalidPrices, match="TYPE=DOLLARS_AN_HOUR"):
            instance_prices({"INSTANCE_PRICES": wrong})


def test_a_period_starts_on_a_day_in_utc_and_by_default_on_the_first_of_the_month() -> None:
    now = datetime(2025, 6, 18, 12, tzinfo=UTC).timestamp()
    assert period_since(None, now) == Period(datetime(2025, 6, 1, tzinfo=UTC).timestamp(), now)
    assert period_since(date(2025, 6, 18), now).hours == 12
    with pytest.raises(InvalidPeriod):
        period_since(date(2025, 6, 19), now)


def test_the_command_line_prints_the_local_users_usage_as_json(
    scripted: ScriptedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    chats = open_store()
    converse(chats, "local", scripted)
    chats.add_answer("ana", chats.create("ana", "x", "m", "m").id, "k", "a", {"tokens": 9, "model": "m"})
    assert main(["usage", "--json", "--since", "2000-01-01"]) == 0
    printed = json.loads(capsys.readouterr().out)
    (model,) = printed["models"]
    assert model["count"] == 3 and printed["users"] == []
    assert model["output_tokens"] == sum(count_tokens(LOCAL_MODEL, answer) for answer in ANSWERS)
    assert printed["costs"][0]["cost"] == 0 and printed["costs"][0]["note"]["en"].startswith("Bundled")

    assert main(["usage", "--json", "--all", "--since", "2000-01-01"]) == 0
    users = {row["owner"] for row in json.loads(capsys.readouterr().out)["users"]}
    assert users == {"local", "ana"}
    assert main(["usage", "--json", "--owner", "ana", "--since", "2000-01-01"]) == 0
    (model,) = json.loads(capsys.readouterr().out)["models"]
    assert (model["model"], model["output_tokens"]) == ("m", 9)
    assert main(["usage", "--since", "2999-01-01"]) == 2
    assert "after today" in capsys.readouterr().err


def test_summaries_and_indexing_are_recorded_as_their_own_rows(
    store: Store, scripted: ScriptedModel, tmp_path: Path
) -> None:
    """As the PDF page records them: a summary on the scripted model, its tokens and
    calls counted, and an indexing by the bundled embedder, its pages and passages."""
    scripted.enqueue("Seoul is a large capital.")
    summary = summarize("Seoul is the capital of Korea.\nIt has ten million people.\n", LOCAL_MODEL, BRIEF)
    store.record_usage(summary_usage("ana", LOCAL_MODEL, summary))
    library = Library(FolderUploads(tmp_path).for_owner("ana"), embedder(), record=store.record_usage)
    data = (PDFS / "pdflatex-4-pages.pdf").read_bytes()
    document = read_pdf(data, "four.pdf")
    library.add(sha256(data), "four.pdf", lambda: document.pages)
    library.add(sha256(data), "four.pdf", lambda: document.pages)  # indexed once: counted once

    summarized, indexed = store.usage(EVER.since, EVER.until, "ana")
    assert (summarized.kind, summarized.calls, summarized.output_tokens) == (
        "summary",
        1,
        count_tokens(LOCAL_MODEL, "Seoul is a large capital."),
    )
    assert (
        summarized.input_tokens == count_tokens(LOCAL_MODEL, scripted.prompts[0]) and summarized.seconds > 0
    )
    index = library.index(Attached(sha256(data), "four.pdf"))
    assert (indexed.kind, indexed.model, indexed.pages) == ("indexing", "local-e5-small", 4)
    assert indexed.passages == len(index.passages) and indexed.seconds > 0

    found = report(store.usage(EVER.since, EVER.until, "ana"), EVER, lambda endpoint: None, EXAMPLE_PRICES)
    assert [(t.kind, t.model, t.count) for t in found.models] == [
        ("summary", "local-smollm2", 1),
        ("indexing", "local-e5-small", 1),
    ]
    assert {cost.endpoint: cost.cost for cost in found.costs} == {"local-smollm2": 0, "local-e5-small": 0}


def test_a_summary_from_the_command_line_is_recorded_as_the_local_users(
    scripted: ScriptedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted.enqueue("A one-page summary.")
    assert main(["summarize", str(PDFS / "minimal-document.pdf")]) == 0
    assert "A one-page summary." in capsys.readouterr().out
    (summarized,) = open_store().usage(EVER.since, EVER.until, "local")
    assert (summarized.kind, summarized.calls) == ("summary", 1)
    assert summarized.output_tokens == count_tokens(LOCAL_MODEL, "A one-page summary.")


def test_charts_read_tokens_and_questions_per_day_per_model_and_cost_per_day_per_endpoint() -> None:
    day = datetime(2025, 6, 1, tzinfo=UTC).timestamp()
    period = Period(day, day + 36 * 3600)  # a day and a half
    records = [
        Usage("ana", "1", day + 60, "llama", "llama-ep", 100, 50, 30.0),
        Usage("bob", "2", day + 120, "llama", "llama-ep", 10, 5, 3.0),
        Usage("ana", "3", day + 86_400, "llama", "llama-ep", 1000, 200, 60.0, kind="summary", calls=4),
        Usage("ana", "4", day + 86_400, "local-smollm2", "local-smollm2", 7, 3, 1.0),
        Usage("ana", "5", day + 90_000, "local-e5-small", "local-e5-small", 0, 0, 9.0, kind="indexing"),
    ]
    found = report(records, period, {"llama-ep": ("ml.g5.2xlarge", 2)}.get, {"ml.g5.2xlarge": 1.5})
    assert [(d.day, d.model, d.questions, d.tokens) for d in found.days] == [
        ("2025-06-01", "llama", 2, 165),
        ("2025-06-02", "llama", 0, 1200),  # a summary: its tokens, no question
        ("2025-06-02", "local-smollm2", 1, 10),
    ]
    assert [(d.day, d.endpoint, d.cost) for d in found.daily_costs] == [
        ("2025-06-01", "llama-ep", pytest.approx(1.5 * 2 * 24)),
        ("2025-06-02", "llama-ep", pytest.approx(1.5 * 2 * 12)),  # the period ends at noon
    ]  # the bundled models, which cost nothing, not drawn


def test_an_index_is_kept_and_the_question_answered_when_its_usage_cannot_be_recorded(
    tmp_path: Path, scripted: ScriptedModel
) -> None:
    """Writing an indexing's usage fails in SQLite: the document is indexed all the same,
    its index kept in the store, and the question answered from it."""
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    refuse_usage(store.path)
    uploads = FolderUploads(tmp_path / "uploads").for_owner("ana")
    library = Library(uploads, embedder(), record=store.record_usage)
    data = (PDFS / "minimal-document.pdf").read_bytes()
    chat = ChatSession(store, "ana", library=library)
    chat.documents.append(library.add(sha256(data), "mini.pdf", lambda: read_pdf(data, "mini.pdf").pages))
    scripted.enqueue("It is a minimal document.")
    with chat.ask("What is this?", SETTINGS) as reply:
        assert "".join(reply) == "It is a minimal document."
    assert reply.exchange.sources
    assert stored_index(uploads, "mini.pdf", sha256(data), embedder()) is not None
    assert store.usage(EVER.since, EVER.until, "ana") == []


def test_ask_on_the_command_line_counts_its_indexing_once_as_summarize_counts_its_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UPLOAD_STORE", f"file://{tmp_path / 'uploads'}")
    pdf = str(PDFS / "pdflatex-4-pages.pdf")
    for _ in range(2):  # the second time, the index kept is used: nothing to count
        assert main(["ask", pdf, "--question", "What is it about?", "--no-answer"]) == 0
    (indexed,) = open_store().usage(EVER.since, EVER.until, "local")
    assert (indexed.kind, indexed.model, indexed.pages) == ("indexing", "local-e5-small", 4)


def test_the_command_line_gives_what_it_made_when_its_usage_cannot_be_recorded(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scripted: ScriptedModel,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("UPLOAD_STORE", f"file://{tmp_path / 'uploads'}")
    refuse_usage(open_store().path)
    scripted.enqueue("A one-page summary.")
    assert main(["summarize", str(PDFS / "minimal-document.pdf")]) == 0
    assert "A one-page summary." in capsys.readouterr().out
    pdf = str(PDFS / "pdflatex-4-pages.pdf")
    assert main(["ask", pdf, "--question", "What is it about?", "--no-answer"]) == 0
    assert "[" in capsys.readouterr().out  # its sources
