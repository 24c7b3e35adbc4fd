"""Summaries of real-world awkward text: layout-preserving exports whose columns are
padded with runs of spaces and tabs, and endpoints that refuse a part anyway."""

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hostile_pdfs import layout_export
from shared import ROOT

from chat_core.documents.pdf import read_pdf
from chat_core.documents.summaries import split, summarize
from chat_core.local import model as local_model
from chat_core.local import runtime
from chat_core.local.scripted import ScriptedModel
from chat_core.models.budget import estimate_tokens
from chat_core.models.catalog import load_catalog

LOCAL = load_catalog()["local-smollm2"]


def test_every_part_of_a_whitespace_padded_export_fits_the_bundled_models_window(
    scripted: ScriptedModel,
) -> None:
    """llama.cpp refused such a part: "Requested tokens (8361) exceed context window of 8192"."""
    text = read_pdf(layout_export(), "report.pdf").text
    summary = summarize(text, LOCAL, LOCAL.defaults)
    assert summary.complete and summary.chunks > 1
    window = LOCAL.context_window - LOCAL.defaults.max_new_tokens
    assert max(local_model.count_tokens(prompt) for prompt in scripted.prompts) <= window


def test_the_estimate_for_remote_models_stays_above_the_real_count_on_padded_text() -> None:
    """The budget of a remote model is an estimate: it must not undercount such text."""
    text = read_pdf(layout_export(pages=3), "report.pdf").text
    for line in text.splitlines():
        assert estimate_tokens(line) >= local_model.count_tokens(line)


def test_a_part_the_endpoint_finds_too_long_is_explained_as_a_summary_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stands in for llama.cpp refusing a prompt: its own ValueError text, raised
    when the answer's first token is asked for, as ``local.model.complete`` does."""

    def too_long(prompt: str, **sampling: object) -> Iterator[str]:
        raise ValueError("Requested tokens (8361) exceed context window of 8192")
        yield

    monkeypatch.setattr(runtime.ENDPOINT, "complete", too_long)
    with pytest.raises(Exception) as caught:
        summarize("A short text to summarize.", LOCAL, LOCAL.defaults)
    message = str(caught.value)
    assert "summar" in message.lower() and "new chat" not in message.lower()


def test_the_command_line_prints_one_line_and_no_library_traceback(tmp_path) -> None:
    """A remote endpoint that cannot be reached (a closed port on 127.0.0.1)."""
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(layout_export(pages=1, rows=4))
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="1",
        AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME="http://127.0.0.1:9",
    )
    remote = next(model for model, spec in load_catalog().items() if not spec.is_local)
    done = subprocess.run(
        [sys.executable, "-m", "chat_core", "summarize", str(pdf), "--model", remote],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "Error raised by inference endpoint" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")


def test_each_part_is_counted_whole_not_as_the_sum_of_its_lines() -> None:
    """Lines ending in a space take one token more once joined to the next line."""
    text = read_pdf(layout_export(), "report.pdf").text
    parts = split(LOCAL, text, 7600)
    assert len(parts) > 1
    assert max(local_model.count_tokens(part) for part in parts) <= 7600


def test_a_transcript_full_of_role_lines_fits_once_they_are_neutralized(scripted: ScriptedModel) -> None:
    """A zero-width space in each "User:" line costs SmolLM2 three more tokens."""
    text = "\n".join(f"User: question {i}?\nAssistant: answer {i}." for i in range(3000))
    summarize(text, LOCAL, LOCAL.defaults)
    window = LOCAL.context_window - LOCAL.defaults.max_new_tokens
    assert max(local_model.count_tokens(prompt) for prompt in scripted.prompts) <= window


def test_one_long_line_denser_in_places_is_cut_into_parts_that_fit() -> None:
    """A page extracted as one line: mostly English at 0.25 tokens a character, then
    Hangul at ~1.9: cut at the line's average density, a Hangul piece was 11,000 tokens."""
    line = "the " * 50_000 + "보일러 에러코드 표 " * 1000
    parts = split(LOCAL, line, 7884)
    assert max(local_model.count_tokens(part) for part in parts) <= 7884
    assert "".join(parts).count("보") >= 1000  # all of it, some twice where parts overlap
