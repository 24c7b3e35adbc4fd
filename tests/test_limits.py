"""Per-user limits (usage/limits.py): the operator's file, admission in one atomic step
of each store (SQLite, and DynamoDB on moto's server), racing tabs, and every place a
model is called refusing with the limit and when it resets."""

import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from moto_server import use_moto
from shared import PDFS

from chat_core import aws
from chat_core.__main__ import main
from chat_core.conversations import dynamodb, session, sqlite
from chat_core.conversations.backends import open_store
from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.conversations.store import Charge, Hold, Store
from chat_core.documents.pdf import read_pdf
from chat_core.documents.summaries import summarize
from chat_core.documents.uploads import FolderUploads, sha256
from chat_core.local.scripted import ScriptedModel
from chat_core.models.budget import count_tokens
from chat_core.models.catalog import LOCAL_MODEL, GenerationParams
from chat_core.retrieval.embeddings import embedder
from chat_core.retrieval.library import Library
from chat_core.usage import limits
from chat_core.usage.limits import (
    Allowance,
    LimitReached,
    LimitsMisconfigured,
    QuestionsPerMinuteReached,
    TokensPerDayReached,
    limits_for,
    when,
)

LIMITS = """
[default]
questions_per_minute = 100
tokens_per_day = 1000

[groups.research]
members = ["ana", "bo"]
tokens_per_day = 5000

[groups.small]
members = ["ana"]
tokens_per_day = 2000

[users.bo]
tokens_per_day = 300
"""


@pytest.fixture(autouse=True)
def midday(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows counted at noon (UTC), so that no test runs across the end of a minute or
    a day; reservations still expire by the stores' own clocks, hours after it."""
    noon = datetime(2030, 6, 15, 12, tzinfo=UTC).timestamp()
    monkeypatch.setattr(limits, "now", lambda: noon)


def limits_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str = LIMITS) -> Path:
    path = tmp_path / "limits.toml"
    path.write_text(text)
    monkeypatch.setenv("CHAT_LIMITS", str(path))
    return path


def allowance(store: Store, owner: str = "cy") -> Allowance:
    return Allowance(lambda: store, owner)


def test_limits_are_off_unless_the_operator_sets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAT_LIMITS", raising=False)
    assert limits_for("cy") == {}


def test_a_user_setting_comes_before_groups_and_groups_before_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits_file(tmp_path, monkeypatch)
    monkeypatch.setenv("CHAT_ADMINS", "boss,bo")
    assert limits_for("cy") == {"questions_per_minute": 100, "tokens_per_day": 1000}
    assert limits_for("ana")["tokens_per_day"] == 5000  # the most generous of her groups
    assert limits_for("bo") == {"tokens_per_day": 300}  # an admin: only what is set for him
    assert limits_for("boss") == {}


def test_a_wrong_limits_file_is_named_in_the_log_for_the_operator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    limits_file(tmp_path, monkeypatch, '[default]\ntokens_per_day = "lots"\n')
    with caplog.at_level(logging.WARNING), pytest.raises(LimitsMisconfigured):
        limits_for("cy")
    assert "default.tokens_per_day" in caplog.text and "'lots'" in caplog.text


BAD_FILES = {
    "a negative limit": '[users."https://issuer#carol"]\ntokens_per_day = -5\n',
    "members as one string": '[groups.team]\nmembers = "https://issuer#alice"\ntokens_per_day = 5\n',
    "a user that is no table": "[users]\nbob = 5\n",
    "a misspelt table": "[defaults]\ntokens_per_day = 5\n",
    "a misspelt limit": "[default]\ntokens_per_dya = 5\n",
    "a limit that is true": "[default]\ntokens_per_day = true\n",
}


@pytest.mark.parametrize("text", BAD_FILES.values(), ids=BAD_FILES)
def test_a_bad_limits_file_refuses_everyone_naming_no_other_user(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing in a bad file is guessed at (a string of members matched as a substring, a
    misspelt table ignored, which turns limits off): each user is told to ask the operator,
    and what is wrong, which may name other users, goes to the log only."""
    limits_file(tmp_path, monkeypatch, text)
    with pytest.raises(LimitsMisconfigured) as refused:
        limits_for("https://issuer#alice")
    for said in (refused.value.message.en, refused.value.message.ko):
        assert "carol" not in said and str(tmp_path) not in said
    assert refused.value.message.en == (
        "The limits file (CHAT_LIMITS) is not valid, so no question can be admitted. "
        "Ask the operator to fix it: the app's log says what is wrong."
    )


def test_the_reset_reads_as_a_time_left_and_a_clock() -> None:
    at = datetime(2026, 12, 5, 20, 48, tzinfo=UTC).timestamp()
    midnight = datetime(2026, 12, 6, tzinfo=UTC).timestamp()
    assert when(midnight, at).en == "in 3 h 12 min, at 00:00 UTC"
    assert when(midnight, at).ko == "3시간 12분 뒤, UTC 00:00에"
    assert when(at + 20, at).en == "in 20 s"


def test_the_reset_is_never_sooner_than_said() -> None:
    at = datetime(2026, 12, 5, 0, 1, tzinfo=UTC).timestamp()
    in_two_days = datetime(2026, 12, 7, tzinfo=UTC).timestamp()  # 1 d 23 h 59 min
    assert when(in_two_days, at).en == "in 2 d 0 h, at 2026-12-07 00:00 UTC"
    assert when(at + 3600 + 0.4, at).en == "in 1 h 1 min, at 01:01 UTC"
    assert when(at + 20.4, at).en == "in 21 s"


@pytest.mark.parametrize("limit", ["questions_per_minute", "tokens_per_day"])
def test_a_limit_of_zero_says_the_operator_turned_the_models_off(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    limits_file(tmp_path, monkeypatch, f"[default]\n{limit} = 0\n")
    with pytest.raises(LimitReached) as refused:
        allowance(store).admit(10, 100)
    assert refused.value.message.en == (
        "The operator has turned off your use of the models (a limit of 0). Ask them if you need it."
    )
    assert refused.value.message.ko == (
        "운영자가 모델 사용을 막아 두었습니다(한도 0). 필요하면 운영자에게 요청하세요."
    )


def test_questions_per_minute_refuse_the_next_with_when_it_resets(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits_file(tmp_path, monkeypatch, "[default]\nquestions_per_minute = 2\n")
    minute = datetime(2026, 12, 5, 20, 48, 30, tzinfo=UTC).timestamp()
    monkeypatch.setattr(limits, "now", lambda: minute)
    tabs = allowance(store)
    tabs.admit(10, 100)
    tabs.admit(10, 100)
    with pytest.raises(QuestionsPerMinuteReached) as refused:
        tabs.admit(10, 100)
    assert refused.value.message.en == (
        "You have asked 2 questions this minute, the most you may a minute. Ask again in 30 s."
    )
    monkeypatch.setattr(limits, "now", lambda: minute + 30)  # the next minute
    tabs.admit(10, 100)


def test_an_answer_settles_its_reservation_to_what_it_used(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 1000\ntokens_per_month = 5000\n")
    tabs = allowance(store)
    settle = tabs.admit(40, 500)
    assert [standing.used for standing in tabs.standings()] == [540, 540]
    settle(40 + 60)
    settle(40 + 500)  # once only
    assert [(standing.used, standing.remaining) for standing in tabs.standings()] == [(100, 900), (100, 4900)]


def test_a_reservation_never_settled_is_given_back_when_it_expires(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 1000\n")
    clock = [datetime(2030, 6, 15, 6, tzinfo=UTC).timestamp()]  # its expiry the same day
    for module in (limits, sqlite, dynamodb):
        monkeypatch.setattr(module, "now", lambda: clock[0])
    tabs = allowance(store)
    late = tabs.admit(400, 500)  # never settled in time (as if its app process died)
    with pytest.raises(TokensPerDayReached):
        tabs.admit(100, 500)
    clock[0] += limits.HOLD_S + 1
    tabs.admit(100, 500)
    assert [standing.used for standing in tabs.standings()] == [600]  # the first given back
    late(450)  # settled after all: what it used is counted
    assert [standing.used for standing in tabs.standings()] == [1050]


def test_a_refusal_says_what_is_used_of_the_limit_and_when_it_resets(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 1000\n")
    at = datetime(2026, 12, 5, 20, 48, tzinfo=UTC).timestamp()
    monkeypatch.setattr(limits, "now", lambda: at)
    tabs = allowance(store)
    tabs.admit(100, 700)(900)
    with pytest.raises(TokensPerDayReached) as refused:
        tabs.admit(120, 256)
    assert refused.value.message.en == (
        "You have used 900 of your 1,000 tokens for today (UTC), and this needs about 376. "
        "Your tokens for the day reset in 3 h 12 min, at 00:00 UTC."
    )
    assert "UTC 00:00에" in refused.value.message.ko


@pytest.mark.parametrize("limit", ["tokens_per_day", "tokens_per_month"])
def test_twenty_tabs_racing_for_the_last_tokens_overrun_by_at_most_one_answer(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    limits_file(tmp_path, monkeypatch, f"[default]\n{limit} = 2000\n")
    tabs = allowance(store)
    tabs.admit(0, 1500)(1500)  # 500 tokens left
    input_tokens, max_new_tokens = 30, 200
    admitted: list[int] = []
    start = threading.Barrier(20)

    def tab() -> None:
        start.wait()
        try:
            settle = tabs.admit(input_tokens, max_new_tokens)
        except limits.LimitReached:
            return
        admitted.append(1)
        settle(input_tokens + max_new_tokens)  # each answer the longest it may be

    threads = [threading.Thread(target=tab) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    [standing] = tabs.standings()
    assert 1500 + len(admitted) * (input_tokens + max_new_tokens) == standing.used
    assert 2000 <= standing.used <= 2000 + max_new_tokens
    assert len(admitted) == 3


def test_a_store_admits_only_below_each_charge(store: Store) -> None:
    """The store's step itself: all of a hold's charges, or none."""
    later = time.time() + 60
    day, month = Charge("tokens@2026-12-05", 300, 500, later), Charge("tokens@2026-12", 300, 300, later)
    assert store.reserve("cy", Hold("a", (day, month), time.time() + 60)) is None
    assert store.reserve("cy", Hold("b", (day, month), time.time() + 60)) == "tokens@2026-12"
    assert store.counters("cy", [day.counter, month.counter]) == {day.counter: 300, month.counter: 300}
    assert store.counters("other", [day.counter]) == {}


SETTINGS = Settings(LOCAL_MODEL, GenerationParams(64, 0.0, 1.0))
PDF = PDFS / "minimal-document.pdf"


def test_an_answer_counts_what_its_usage_record_counts_and_the_next_is_refused_before_the_model(
    store: Store, scripted: ScriptedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 100000\n")
    chat = ChatSession(store, "cy")
    scripted.enqueue("Seoul is the capital.")
    with chat.ask("What is the capital?", SETTINGS) as reply:
        "".join(reply)
    (usage,) = store.usage(time.time() - 60, time.time() + 60, "cy")
    [standing] = allowance(store).standings()
    assert standing.used == usage.input_tokens + usage.output_tokens

    path.write_text(f"[default]\ntokens_per_day = {standing.used + 1}\n")  # no room for the question
    with pytest.raises(TokensPerDayReached):
        chat.ask("And the largest city?", SETTINGS)
    assert len(scripted.prompts) == 1  # the model was not asked
    assert "Your tokens for the day reset in" in chat.exchanges[-1].reason.en
    questions = [m.text for m in store.messages("cy", chat.conversation_id or "") if m.role == "user"]
    assert questions == ["What is the capital?", "And the largest city?"]  # kept, to resend


def test_a_stopped_answer_settles_to_what_it_used(
    store: Store, scripted: ScriptedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 100000\n")
    chat = ChatSession(store, "cy")
    whole = " ".join(["word"] * 40)  # far more than what is read before the stop
    scripted.enqueue(whole)
    with chat.ask("Count.", SETTINGS) as reply:
        first = next(iter(reply))
    (usage,) = store.usage(time.time() - 60, time.time() + 60, "cy")
    [standing] = allowance(store).standings()
    assert chat.exchanges[-1].answer == first  # stopped: its text is what was read
    assert usage.output_tokens == count_tokens(LOCAL_MODEL, first) < count_tokens(LOCAL_MODEL, whole)
    assert standing.used == usage.input_tokens + usage.output_tokens


LONG_WORDS = " ".join(["Incomprehensibilities"] * 30)  # each word several tokens


@pytest.mark.parametrize("asked", ["answer", "summary"])
def test_an_answer_or_summary_part_counts_no_more_output_tokens_than_its_max_new_tokens(
    asked: str, store: Store, scripted: ScriptedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model generates at most max_new_tokens, whatever counting its text again says
    (an estimate, for a remote model, is an upper bound): its usage and its limits count
    that many at most, so a limit is overrun by at most one answer's max_new_tokens."""
    limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 100000\n")
    scripted.enqueue(LONG_WORDS)  # the scripted model sends 8 words: well over 8 tokens
    params = GenerationParams(8, 0.0, 1.0)
    counted: Any
    if asked == "answer":
        with ChatSession(store, "cy").ask("Long words?", Settings(LOCAL_MODEL, params)) as reply:
            text = "".join(reply)
        (counted,) = store.usage(time.time() - 60, time.time() + 60, "cy")
    else:
        counted = summarize("Seoul is the capital.\n", LOCAL_MODEL, params, admit=allowance(store).admit)
        text = counted.text
    assert count_tokens(LOCAL_MODEL, text) > 8
    [standing] = allowance(store).standings()
    assert counted.output_tokens == 8
    assert standing.used == counted.input_tokens + 8


def test_a_reservation_lives_past_the_answers_deadline(
    store: Store, scripted: ScriptedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 100000\n")
    monkeypatch.setenv("ANSWER_MAX_SECONDS", str(3 * 3600))  # longer than a reservation's 2 h
    clock = [datetime(2030, 6, 15, 6, tzinfo=UTC).timestamp()]
    for module in (limits, sqlite, dynamodb):
        monkeypatch.setattr(module, "now", lambda: clock[0])
    chat = ChatSession(store, "cy")
    with chat.ask("A long answer?", SETTINGS):
        [reserved] = allowance(store).standings()
        clock[0] += limits.HOLD_S + 60  # within the answer's deadline
        allowance(store).admit(0, 0)  # an admission gives back the reservations expired
        assert allowance(store).standings() == [reserved]


def test_an_answer_stopped_before_it_was_read_gives_its_reservation_back(
    store: Store, scripted: ScriptedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's run can end between asking and reading the answer: the next run stops it
    from elsewhere (``ChatSession.settle``), with no thread reading it to end it."""
    limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 100000\n")
    chat = ChatSession(store, "cy")
    chat.ask("Never read?", SETTINGS)
    chat.settle(timeout=1)
    assert [standing.used for standing in allowance(store).standings()] == [0]
    assert scripted.prompts == []


def test_a_fault_after_admission_leaves_no_reservation(
    store: Store, scripted: ScriptedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay that cannot be made for the second compared model stands in (a fake) for
    any fault between admitting a model call and starting it: none happens here by itself."""
    limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 100000\n")
    made = []

    def relay(*args: Any, **kwargs: Any) -> session.TokenRelay:
        if made:
            raise RuntimeError("no relay")
        made.append(session.TokenRelay(*args, **kwargs))
        return made[0]

    monkeypatch.setattr(session, "TokenRelay", relay)
    chat = ChatSession(store, "cy")
    with pytest.raises(RuntimeError):
        chat.compare("Two?", [SETTINGS, SETTINGS])
    assert [standing.used for standing in allowance(store).standings()] == [0]
    assert scripted.prompts == []


def test_each_compared_model_is_admitted_on_its_own(
    store: Store, scripted: ScriptedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits_file(tmp_path, monkeypatch, "[default]\nquestions_per_minute = 1\n")
    chat = ChatSession(store, "cy")
    scripted.enqueue("First.", "Second.")
    comparison = chat.compare("Compare?", [SETTINGS, SETTINGS])
    for _ in comparison:
        pass
    reasons = [c.exchange.reason.en if c.exchange.reason else "" for c in comparison.candidates]
    assert sum("questions this minute" in reason for reason in reasons) == 1


def test_a_summary_is_refused_before_its_first_part_once_the_tokens_are_used(
    store: Store, scripted: ScriptedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 20\n")  # less than the prompt
    with pytest.raises(TokensPerDayReached):
        summarize(
            "Seoul is the capital of Korea.\n", LOCAL_MODEL, SETTINGS.params, admit=allowance(store).admit
        )
    assert scripted.prompts == []


def test_indexing_is_refused_once_the_tokens_are_used(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 50\n")
    allowance(store).admit(0, 50)(50)
    library = Library(FolderUploads(tmp_path).for_owner("cy"), embedder(), allowance=allowance(store))
    data = PDF.read_bytes()
    with pytest.raises(TokensPerDayReached) as refused:
        library.add(sha256(data), "mini.pdf", lambda: read_pdf(data, "mini.pdf").pages)
    assert not library.indexed(sha256(data))
    assert refused.value.message.en == (
        "You have used all 50 of your tokens for today (UTC). "
        "Your tokens for the day reset in 12 h 0 min, at 00:00 UTC."
    )
    assert refused.value.message.ko == (
        "오늘(UTC) 토큰 50개를 모두 썼습니다. 하루 토큰은 12시간 0분 뒤, UTC 00:00에 다시 채워집니다."
    )


@pytest.mark.parametrize("command", [["summarize", str(PDF)], ["ask", str(PDF), "--question", "What?"]])
def test_the_command_line_refuses_with_the_limit(
    command: list[str],
    scripted: ScriptedModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("UPLOAD_STORE", f"file://{tmp_path / 'uploads'}")
    limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 60\n")
    Allowance(open_store, "local").admit(0, 60)(60)  # the day's tokens used: nothing is indexed either
    assert main(command) == 2
    assert "tokens for today (UTC)" in capsys.readouterr().err
    assert scripted.prompts == []


def test_sqlite_drops_a_counter_once_its_window_and_reservations_are_over(tmp_path: Path) -> None:
    """One counter a user and minute asked in: kept no longer than it can count."""
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    gone = Charge("questions@old", 1, 5, until=time.time() - 1)
    kept = Charge("questions@new", 1, 5, until=time.time() + 60)
    assert store.reserve("cy", Hold("a", (gone,), time.time() + 60)) is None
    assert store.reserve("cy", Hold("b", (kept,), time.time() + 60)) is None
    assert store.counters("cy", [gone.counter, kept.counter]) == {kept.counter: 1}


@pytest.fixture
def dynamo(moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, Any, str]:
    """A table made as the operator makes it (``create-table``), on moto's server."""
    use_moto(monkeypatch, moto_url)
    table = f"chat-{tmp_path.name}"[:200]
    assert main(["create-table", table]) == 0
    return open_store(f"dynamodb://{table}"), aws.client("dynamodb"), table


def test_create_table_has_dynamodb_drop_what_limits_no_longer_need(dynamo: tuple[Store, Any, str]) -> None:
    _, client, table = dynamo
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "drop_at"}


def test_every_limits_item_on_dynamodb_says_when_it_may_go(dynamo: tuple[Store, Any, str]) -> None:
    """Counters and reservations all carry ``drop_at``, a counter made again too: by an
    answer settled late, or a reservation given back, after the TTL deleted it."""
    store, client, table = dynamo
    day = Charge("tokens@2026-12-05", 300, 500, time.time() + 60)
    other = Charge("tokens@2026-12", 1, 500, time.time() + 60)
    counter = {"PK": {"S": "LIMITS#cy"}, "SK": {"S": f"COUNT#{day.counter}"}}

    def items() -> dict[str, dict[str, Any]]:
        found = client.scan(TableName=table)["Items"]
        return {item["SK"]["S"]: item for item in found if item["PK"]["S"] == "LIMITS#cy"}

    late = Hold("late", (day,), time.time() + 60)
    assert store.reserve("cy", late) is None
    assert {key: "drop_at" in item for key, item in items().items()} == {
        f"COUNT#{day.counter}": True,
        "HOLD#late": True,
    }
    client.delete_item(TableName=table, Key=counter)  # as the table's TTL does
    store.settle("cy", late, {day.counter: 100})  # late: it is made again
    assert "drop_at" in items()[f"COUNT#{day.counter}"]

    assert store.reserve("cy", Hold("expired", (day,), time.time() - 1)) is None
    client.delete_item(TableName=table, Key=counter)
    assert store.reserve("cy", Hold("next", (other,), time.time() + 60)) is None  # gives "expired" back
    assert "drop_at" in items()[f"COUNT#{day.counter}"]
    assert all("drop_at" in item for item in items().values())
