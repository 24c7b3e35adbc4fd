"""bench/'s records: a missed target reads as missed, and the README's table is
replaced in place, never appended or lost."""

import json

import pytest

from bench.results import BEGIN, END, Spread, figure, write
from bench.turn_overhead import SYSTEM, Canned, Original, Ours, breakdown, canned_model, turn
from chat_core.conversations.sqlite import SQLiteStore
from chat_core.models.catalog import load_catalog


def test_a_target_is_checked_on_the_ratio_or_on_the_value() -> None:
    ours, base = Spread((2.0, 1.0, 3.0)), Spread((60.0, 50.0))
    faster = figure("x", ours, "ms", "original", base, ratio=55.0, ratio_means="b/o", target=">= 50")
    slower = figure("x", ours, "ms", "original", base, ratio=40.0, ratio_means="b/o", target=">= 50")
    small = figure(
        "m", ours, "MB", "one", base, ratio=1.0, ratio_means="", target="<= 5 MB", target_on_value=True
    )
    reported = figure("r", ours, "ms", "other", base, ratio=0.1, ratio_means="")
    assert (faster.met, slower.met, small.met, reported.met) == (True, False, True, None)
    assert (faster.min, faster.median, faster.max, faster.repeats) == (1.0, 2.0, 3.0, 3)


def test_results_are_written_and_the_readme_table_replaced(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# App\n\n{BEGIN}\n| old table |\n{END}\n\n## Layout\n")
    missed = figure(
        "Turn overhead",
        Spread((2.0,)),
        "ms",
        "original",
        Spread((30.0,)),
        ratio=15.0,
        ratio_means="original / ours",
        target=">= 50",
    )
    write([missed], tmp_path, readme=readme)
    text = readme.read_text()
    assert "old table" not in text and text.endswith(f"{END}\n\n## Layout\n")
    assert "| Turn overhead | 2 ms" in text and "**no**" in text
    record = json.loads((tmp_path / "results.json").read_text())[0]
    assert record["ratio"] == 15.0 and record["met"] is False and record["baseline"] == "original"


def test_a_readme_without_the_markers_is_not_touched(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# App\n")
    with pytest.raises(ValueError, match="no <!-- bench:begin -->"):
        write([], tmp_path, readme=readme)
    assert readme.read_text() == "# App\n"


@pytest.mark.parametrize("model_id", ["local-smollm2", "llama2-7b-chat"])
def test_turn_overhead_times_the_apps_own_turn(model_id: str, tmp_path) -> None:
    """bench/turn_overhead's measured path, a few turns deep, as ``make bench`` runs it:
    a change to the app's turn (a new argument on its way to the model) must not leave
    the bench broken until the next full run.  Each timed turn saves its question and
    answer, and the prompt it built holds the history."""
    spec = load_catalog()[model_id]
    with canned_model():
        ours = Ours(spec, 3, SQLiteStore(tmp_path / "chat.db"))
        assert ours() > 0 and Original(3)() > 0
        assert "the rest" in breakdown(ours, 1)
    session = ours.session
    assert session.store is not None and session.conversation_id is not None
    saved = session.store.messages(session.owner, session.conversation_id)
    expected = [text for i in range(5) for text in (turn(i).question, turn(i).answer)]
    assert [message.text for message in saved] == expected
    assert SYSTEM in Canned.prompt and turn(3).answer in Canned.prompt and turn(4).question in Canned.prompt
