"""bench/retrieval.py's inputs: the question set names real files and pages and
covers what issue 14 asks of it, and the baseline's chunks are given the pages
their text really comes from (real pypdf on tests/pdfs)."""

from collections import Counter

import pypdf
import pytest
from shared import PDFS

from bench.retrieval import ENGLISH, ERROR_CODES, GEOTOPO, follow_on_chunks, hit, load_questions, recall


def test_every_question_names_a_shared_pdf_and_pages_it_has() -> None:
    questions = load_questions()
    assert len({q.id for q in questions}) == len(questions) >= 48
    for q in questions:
        assert q.lang in {"en", "ko", "de"} and q.question.strip(), q.id
        total = len(pypdf.PdfReader(PDFS / q.file).pages)
        assert all(1 <= page <= total for page in q.pages), q.id


def test_the_question_set_covers_what_the_issue_asks() -> None:
    questions = load_questions()
    answerable = [q for q in questions if q.pages]
    assert len(answerable) >= 40
    assert sum(q.file == ERROR_CODES and q.lang == "ko" for q in answerable) >= 10
    assert sum(q.file == GEOTOPO for q in answerable) >= 10
    assert sum(q.file in ENGLISH and q.lang == "ko" for q in answerable) >= 5
    assert sum(q.file in ENGLISH and q.lang == "en" for q in answerable) >= 5
    unanswerable = Counter("english" if q.file in ENGLISH else q.file for q in questions if not q.pages)
    assert min(unanswerable[key] for key in (ERROR_CODES, GEOTOPO, "english")) >= 5


def test_a_hit_needs_the_right_file_and_an_answering_page_within_k() -> None:
    question = next(q for q in load_questions() if q.id == "ec-ko-03")  # page 1 of error_code.pdf
    cited = [("multicolumn.pdf", frozenset({1})), (ERROR_CODES, frozenset({2}))]
    cited.append((ERROR_CODES, frozenset({1})))
    assert hit(question, cited, 3) and not hit(question, cited, 2)
    assert recall({question.id: cited}, [question], 2) == 0.0


@pytest.mark.parametrize("name", ["pdflatex-4-pages.pdf", ERROR_CODES])
def test_the_baselines_chunks_keep_every_page_their_text_overlaps(name: str) -> None:
    pages = [page.extract_text() for page in pypdf.PdfReader(PDFS / name).pages]
    chunks = follow_on_chunks({name: pages})
    assert [c.number for c in chunks] == list(range(1, len(chunks) + 1))
    for chunk in chunks:
        first, last = min(chunk.pages), max(chunk.pages)
        assert chunk.pages == set(range(first, last + 1))
        assert chunk.text in "\n\n".join(pages[first - 1 : last])
    assert set().union(*(c.pages for c in chunks)) == {i + 1 for i, page in enumerate(pages) if page.strip()}
