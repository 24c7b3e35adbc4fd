"""Per-user limits on the pages (AppTest): the chat page refuses with the limit and
when it resets, keeping the question; the Usage page shows each limit used and left."""

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chat_page import messages, send, start
from streamlit.testing.v1 import AppTest

from chat_core.conversations.backends import open_store
from chat_core.usage import limits as usage_limits
from chat_core.usage.limits import Allowance


def limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """``text`` as the operator's limits, counted at noon (UTC): no test runs across the end
    of a minute or a day (AppTest runs the page in this process)."""
    (tmp_path / "limits.toml").write_text(text)
    monkeypatch.setenv("CHAT_LIMITS", str(tmp_path / "limits.toml"))
    noon = datetime(2030, 6, 15, 12, tzinfo=UTC).timestamp()
    monkeypatch.setattr(usage_limits, "now", lambda: noon)


def test_a_question_past_the_days_tokens_is_refused_with_when_they_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits(tmp_path, monkeypatch, "[default]\ntokens_per_day = 10\n")
    at = start()
    send(at, "What is the capital of Korea?")
    assert not at.exception
    assert "You have used 0 of your 10 tokens for today (UTC)" in at.error[0].value
    assert "Your tokens for the day reset in" in at.error[0].value
    assert messages(at)[0] == ("user", "What is the capital of Korea?")  # kept, to resend


def test_the_usage_page_shows_each_limit_used_and_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits(tmp_path, monkeypatch, "[default]\nquestions_per_minute = 5\ntokens_per_day = 1000\n")
    Allowance(lambda: open_store(os.environ["CHAT_STORE"]), "local").admit(100, 200)(300)
    at = AppTest.from_file("../app.py", default_timeout=30)
    at.run()
    at.switch_page("pages/usage.py").run()
    assert not at.exception
    [shown] = [table.value for table in at.table][:1]
    rows = {row[0]: list(row[1:4]) for row in shown.itertuples(index=False)}
    assert rows["Questions per minute"] == ["1", "4", "5"]
    assert rows["Tokens per day (UTC)"] == ["300", "700", "1,000"]


def test_the_usage_page_shows_usage_when_the_limits_file_is_bad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits(tmp_path, monkeypatch, '[default]\ntokens_per_day = "lots"\n')
    at = AppTest.from_file("../app.py", default_timeout=30)
    at.run()
    at.switch_page("pages/usage.py").run()
    assert not at.exception
    assert "The limits file (CHAT_LIMITS) is not valid" in at.error[0].value  # in place of the limits
    assert at.date_input and at.info  # usage all the same: its period, and what is in it
