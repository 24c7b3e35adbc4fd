"""Summaries with the bundled model: one call, map-reduce, cancelling, and the
whole of GeoTopo."""

import itertools
import re
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from shared import PDFS

from chat_core.documents.pdf import read_pdf
from chat_core.documents.summaries import Summary, SummaryTooCostly, split, summarize
from chat_core.local import runtime
from chat_core.local.scripted import ScriptedModel
from chat_core.models.budget import count_tokens
from chat_core.models.catalog import GenerationParams, load_catalog

LOCAL = load_catalog()["local-smollm2"]
SMALL = replace(LOCAL, context_window=1024)  # so a 4-page paper needs several chunks
BRIEF = GenerationParams(max_new_tokens=48, temperature=0.0, top_p=1.0)


def text_of(name: str) -> str:
    return read_pdf((PDFS / name).read_bytes(), name).text


def test_a_short_document_is_summarized_in_one_call() -> None:
    summary = summarize(text_of("minimal-document.pdf"), LOCAL, BRIEF)
    assert summary.complete and summary.chunks == 1 and summary.text.strip()


def test_chunks_fit_the_window_overlap_and_cover_the_whole_text() -> None:
    text = text_of("pdflatex-4-pages.pdf")
    chunks = split(SMALL, text, 700)
    assert len(chunks) >= 5
    assert all(count_tokens(SMALL, chunk) <= 700 for chunk in chunks)
    for before, after in itertools.pairwise(chunks):
        assert after.splitlines()[0] in before  # each starts with the end of the one before
    covered = "".join(chunks)
    assert all(line in covered for line in text.splitlines() if line.strip())


def test_a_long_document_is_map_reduced_and_a_cancel_keeps_what_was_done() -> None:
    text = text_of("pdflatex-4-pages.pdf")
    seen: list[tuple[int, int]] = []
    summary = summarize(text, SMALL, BRIEF, progress=lambda done, total: seen.append((done, total)))
    assert summary.complete and summary.text.strip()
    assert summary.chunks > 1 and len(summary.chunk_summaries) == summary.chunks
    assert seen[: summary.chunks] == [(n, summary.chunks + 1) for n in range(1, summary.chunks + 1)]

    class Stopped(Exception):
        """What Streamlit's Stop raises in the page's progress callback."""

    def stop_at_two(done: int, total: int) -> None:
        if done == 2:
            raise Stopped

    stopped = Summary()
    with pytest.raises(Stopped):
        summarize(text, SMALL, BRIEF, progress=stop_at_two, summary=stopped)
    assert not stopped.complete and stopped.text == ""
    assert len(stopped.chunk_summaries) == 2 < stopped.chunks


def test_geotopo_is_summarized_end_to_end() -> None:
    """117 pages, ~137,000 characters: about ten 8,000-token chunks (the scripted model)."""
    text = text_of("GeoTopo-komprimiert.pdf")
    summary = summarize(text, LOCAL, GenerationParams(64, 0.0, 1.0))
    assert summary.chunks >= 8 and summary.complete
    assert len(summary.chunk_summaries) == summary.chunks and all(s.strip() for s in summary.chunk_summaries)
    assert summary.text.strip()


@pytest.mark.slow
@pytest.mark.real_model
def test_geotopo_is_map_reduced_by_the_bundled_model() -> None:
    """SmolLM2 itself on GeoTopo's first 20 pages, in a 2,048-token window so that the
    map step has several chunks and a combining call: about a minute and a half
    here (the whole book takes SmolLM2 14 minutes on this machine's 2 cores)."""
    reader = read_pdf((PDFS / "GeoTopo-komprimiert.pdf").read_bytes())
    text = "\n\n".join(reader.pages[:20])
    summary = summarize(text, replace(LOCAL, context_window=2048), GenerationParams(64, 0.0, 1.0))
    assert summary.chunks >= 4 and summary.complete
    assert all(part.strip() for part in summary.chunk_summaries) and summary.text.strip()


def test_summaries_that_do_not_get_shorter_stop_with_a_message_and_the_parts_are_kept(
    scripted: ScriptedModel,
) -> None:
    """The scripted model quotes what it is asked, up to max_new_tokens words: its
    summaries of the parts are as long as the parts (with the old code the
    combining rounds never ended)."""
    scripted.token_s = 0
    summary = Summary()
    with pytest.raises(SummaryTooCostly, match="do not get shorter"):
        summarize(text_of("pdflatex-4-pages.pdf"), SMALL, GenerationParams(400, 0.0, 1.0), summary=summary)
    assert summary.chunks > 1 and len(summary.chunk_summaries) == summary.chunks


def test_a_document_needing_more_calls_than_allowed_is_refused_before_any_call(
    scripted: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUMMARY_MAX_CALLS", "3")
    with pytest.raises(SummaryTooCostly, match="SUMMARY_MAX_CALLS"):
        summarize(text_of("pdflatex-4-pages.pdf"), SMALL, BRIEF)
    assert scripted.prompts == []


def test_a_summary_counts_its_calls_tokens_and_seconds_and_reports_each_part() -> None:
    """What usage records: every call (the map step's and the combining one), the
    tokens sent and received, and the time taken; progress counts every call."""
    seen: list[tuple[int, int]] = []
    summary = summarize(
        text_of("pdflatex-4-pages.pdf"), SMALL, BRIEF, progress=lambda done, total: seen.append((done, total))
    )
    assert summary.calls == summary.chunks + 1 == len(seen)
    assert seen == [(n, summary.calls) for n in range(1, summary.calls + 1)]
    answers = [*summary.chunk_summaries, summary.text]
    # Each counted as at most max_new_tokens, what the model may generate (usage.records).
    most = BRIEF.max_new_tokens
    assert summary.output_tokens == sum(min(count_tokens(SMALL, answer), most) for answer in answers)
    assert summary.input_tokens > count_tokens(SMALL, text_of("pdflatex-4-pages.pdf"))
    assert summary.seconds > 0


def test_stop_ends_the_call_under_way_and_keeps_the_parts_done(
    scripted: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A summary run in a thread of its own (as the page does) and stopped from another
    once a part is done: the call under way is cut at its next token, none is started
    after it, and the parts done stay, in order."""
    scripted.token_s = 0.05  # a part is some 25 words: over a second
    yielded: list[int] = []

    def counted(prompt: str, **sampling: object) -> Iterator[str]:
        yielded.append(0)
        for token in scripted.complete(prompt, **sampling):
            yielded[-1] += 1
            yield token

    monkeypatch.setattr(runtime.ENDPOINT, "complete", counted)
    summary = Summary.start(text_of("pdflatex-4-pages.pdf"), SMALL, BRIEF, detail="short", owner="ana")
    deadline = time.monotonic() + 120
    while len(yielded) < 2 and time.monotonic() < deadline:  # a part done, the next one under way
        time.sleep(0.01)
    assert summary.running
    assert re.fullmatch(r"Part \d+ of \d+, about \d+ s left", summary.message.en)
    assert "남음" in summary.message.ko
    summary.stop()
    summary.wait(60)
    assert not summary.running and summary.stopped and not summary.complete and summary.error is None
    done = len(summary.chunk_summaries)
    assert 1 <= done < summary.chunks and summary.text == ""
    assert len(yielded) == done + 1  # the part under way, and none after it
    assert yielded[-1] < yielded[0]  # cut short: the first part's answer was whole
    assert summary.calls == done + 1


def test_a_summary_nobody_polls_is_ended_once_whether_complete_stopped_or_failed(
    scripted: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the page passes as ``on_end`` (keep the summary, record its usage) is called
    by the summary's own thread, once, however it ends: the user may have left the page."""
    ended: list[Summary] = []
    text = text_of("pdflatex-4-pages.pdf")
    complete = Summary.start(text, SMALL, BRIEF, detail="short", owner="ana", on_end=ended.append)
    complete.wait(120)
    assert ended == [complete] and complete.complete

    scripted.token_s = 0.05
    asked = len(scripted.prompts)
    stopped = Summary.start(text, SMALL, BRIEF, detail="short", owner="ana", on_end=ended.append)
    deadline = time.monotonic() + 120
    while len(scripted.prompts) == asked and time.monotonic() < deadline:  # its first call under way
        time.sleep(0.01)
    stopped.stop()
    stopped.wait(120)
    assert ended == [complete, stopped] and not stopped.running and not stopped.complete

    def fails(prompt: str, **sampling: object) -> Iterator[str]:
        raise RuntimeError("the model crashed")
        yield ""

    monkeypatch.setattr(runtime.ENDPOINT, "complete", fails)
    failed = Summary.start(text, SMALL, BRIEF, detail="short", owner="ana", on_end=ended.append)
    failed.wait(120)
    assert ended == [complete, stopped, failed] and failed.error is not None and failed.calls == 1
