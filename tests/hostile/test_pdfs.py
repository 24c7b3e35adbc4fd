"""PDFs built to exhaust a reader: refused or cut short with a message, read in
child processes so that the app process never holds them."""

import subprocess
import sys

import pytest
from hostile_pdfs import nested_arrays, nested_forms, shared_pages, text_bomb
from shared import PDFS, ROOT
from streamlit.testing.v1 import AppTest

from chat_core.documents.pdf import BeyondLimits, ReadLimits, read_pdf


def test_a_text_bomb_is_refused_with_a_message() -> None:
    """59 KB whose one stream inflates to 60 million letters (17 s and 949 MB in pypdf)."""
    with pytest.raises(BeyondLimits, match="too large to read"):
        read_pdf(text_bomb(), "bomb.pdf")


def test_twenty_thousand_pages_on_one_stream_are_read_up_to_the_character_limit() -> None:
    """The text kept runs to the limit, not short of it by pages another reading
    process got to first, and the notice says how much that is."""
    document = read_pdf(shared_pages(), "pages.pdf")
    limit, page = ReadLimits().characters, len(document.pages[0])
    assert limit - page < document.characters <= limit
    assert document.notice and "PDF_MAX_CHARACTERS" in document.notice.en
    assert f"of {20_000:,}" in document.notice.en and "20,000쪽" in document.notice.ko
    kept = f"{document.characters:,}"
    assert kept in document.notice.en and kept in document.notice.ko


def test_pages_past_the_page_limit_are_not_read_and_the_user_is_told() -> None:
    document = read_pdf(shared_pages(50), "pages.pdf", limits=ReadLimits(pages=10))
    assert document.page_count == 10
    assert document.notice and "first 10 pages" in document.notice.en


def test_text_inside_forms_nested_a_thousand_deep_is_read() -> None:
    """Deeper than pypdf follows by default (about 330 forms here), and far from a scan."""
    assert "Deep inside the nested forms" in read_pdf(nested_forms(1_000), "nested.pdf").text


def test_forms_nested_past_the_limit_are_named_as_such_not_called_a_scan() -> None:
    with pytest.raises(BeyondLimits, match="nested more than 1,000") as refused:
        read_pdf(nested_forms(3_000), "nested.pdf")
    assert "scanned" not in str(refused.value) and "중첩" in refused.value.message.ko


def test_a_page_nested_past_the_interpreters_limit_is_left_out_and_the_rest_read() -> None:
    document = read_pdf(nested_arrays(), "arrays.pdf")
    assert document.pages == ("", "The second page reads fine")
    assert document.notice and "nested" in document.notice.en and "page 1." in document.notice.en


def test_reading_stops_at_the_time_limit() -> None:
    """20,000 pages cannot be read in a second on any machine."""
    limits = ReadLimits(characters=10**9, seconds=1)
    try:
        notice = read_pdf(shared_pages(), "pages.pdf", limits=limits).notice
    except BeyondLimits as error:  # not even the first page within the second
        notice = error.message
    assert notice and "PDF_MAX_SECONDS" in notice.en


def test_a_reader_over_its_memory_ceiling_is_stopped_with_a_message() -> None:
    with pytest.raises(BeyondLimits, match="PDF_MAX_MEMORY_MB"):
        read_pdf((PDFS / "GeoTopo-komprimiert.pdf").read_bytes(), limits=ReadLimits(memory_mb=16))


GROWTH = """
import resource, sys
from hostile_pdfs import nested_arrays, nested_forms, shared_pages, text_bomb
from chat_core.documents.pdf import read_pdf, BeyondLimits
files = [text_bomb(), shared_pages()]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for data in files:
    try:
        read_pdf(data)
    except BeyondLimits:
        pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_the_app_process_grows_by_under_50_mb_reading_them() -> None:
    """Measured in a fresh process, whose peak size is its own."""
    grown = subprocess.run(
        [sys.executable, "-c", GROWTH],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'tests' / 'hostile'}"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert int(grown) < 50


def test_the_pdf_page_says_where_the_text_stops_and_says_it_again_on_a_later_visit(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPLOAD_STORE", f"file://{tmp_path / 'uploads'}")
    monkeypatch.setenv("PDF_MAX_PAGES", "10")
    for _visit in range(2):  # the second reads the kept text, not the file
        at = AppTest.from_file("../../pages/Summarize_a_PDF.py", default_timeout=60)
        at.run()
        at.file_uploader(key="pdf-file").set_value(("pages.pdf", shared_pages(50), "application/pdf"))
        at.run()
        assert not at.exception and not at.error
        assert "first 10 pages" in at.warning[0].value
        assert at.caption[0].value.startswith("10 pages")
