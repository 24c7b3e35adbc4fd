"""Per-user limits (usage/limits.py): the operator's file, admission in one atomic step
of each store (SQLite, and DynamoDB on moto's server), racing tabs, and every place a
model is called refusing with the limit and when it resets."""

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chat_core.conversations import dynamodb, sqlite
from chat_core.conversations.store import Charge, Hold, Store
from chat_core.usage import limits
from chat_core.usage.limits import (
    Allowance,
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


def test_a_wrong_limits_file_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limits_file(tmp_path, monkeypatch, '[default]\ntokens_per_day = "lots"\n')
    with pytest.raises(LimitsMisconfigured, match=r"default\.tokens_per_day = 'lots'"):
        limits_for("cy")


def test_the_reset_reads_as_a_time_left_and_a_clock() -> None:
    at = datetime(2026, 12, 5, 20, 48, tzinfo=UTC).timestamp()
    midnight = datetime(2026, 12, 6, tzinfo=UTC).timestamp()
    assert when(midnight, at).en == "in 3 h 12 min, at 00:00 UTC"
    assert when(midnight, at).ko == "3시간 12분 뒤, UTC 00:00에"
    assert when(at + 20, at).en == "in 20 s"


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
    admitted = tabs.admit(40, 500)
    assert [standing.used for standing in tabs.standings()] == [540, 540]
    admitted.settle(40 + 60)
    admitted.settle(40 + 500)  # once only
    assert [(standing.used, standing.remaining) for standing in tabs.standings()] == [(100, 900), (100, 4900)]


def test_a_reservation_never_settled_is_given_back_when_it_expires(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 1000\n")
    tabs = allowance(store)
    tabs.admit(400, 500)  # its app process dies: never settled
    with pytest.raises(TokensPerDayReached):
        tabs.admit(100, 500)
    later = time.time() + limits.HOLD_S + 1
    monkeypatch.setattr(limits, "now", lambda: later)
    monkeypatch.setattr(sqlite, "now", lambda: later)
    monkeypatch.setattr(dynamodb, "now", lambda: later)
    tabs.admit(100, 500)


def test_a_refusal_says_what_is_used_of_the_limit_and_when_it_resets(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits_file(tmp_path, monkeypatch, "[default]\ntokens_per_day = 1000\n")
    at = datetime(2026, 12, 5, 20, 48, tzinfo=UTC).timestamp()
    monkeypatch.setattr(limits, "now", lambda: at)
    tabs = allowance(store)
    tabs.admit(100, 700).settle(900)
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
    tabs.admit(0, 1500).settle(1500)  # 500 tokens left
    input_tokens, max_new_tokens = 30, 200
    admitted: list[int] = []
    start = threading.Barrier(20)

    def tab() -> None:
        start.wait()
        try:
            one = tabs.admit(input_tokens, max_new_tokens)
        except limits.LimitReached:
            return
        admitted.append(1)
        one.settle(input_tokens + max_new_tokens)  # each answer the longest it may be

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
    day, month = Charge("tokens@2026-12-05", 300, 500), Charge("tokens@2026-12", 300, 300)
    assert store.reserve("cy", Hold("a", (day, month), time.time() + 60)) is None
    assert store.reserve("cy", Hold("b", (day, month), time.time() + 60)) == "tokens@2026-12"
    assert store.counters("cy", [day.counter, month.counter]) == {day.counter: 300, month.counter: 300}
    assert store.counters("other", [day.counter]) == {}
