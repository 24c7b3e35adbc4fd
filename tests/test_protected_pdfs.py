"""Nothing read from a PDF opened with its password reaches the conversation store:
an answer from it keeps where its passages are, not what they say, and its summary,
taken to the chat, is shown in that session only.  The real encrypted PDF, the
real bundled embedding model, a real SQLite file, whose bytes are searched."""

import os
from pathlib import Path

from chat_page import messages
from shared import PDFS, refuse_answers
from streamlit.testing.v1 import AppTest

from chat_core.conversations.backends import open_store
from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.conversations.store import LOCAL_USER
from chat_core.documents.pdf import read_pdf
from chat_core.documents.uploads import FolderUploads, sha256
from chat_core.models.catalog import LOCAL_MODEL
from chat_core.retrieval.embeddings import embedder
from chat_core.retrieval.library import Library

PROTECTED = PDFS / "libreoffice-writer-password.pdf"
PASSWORD = "openpassword"


def quoted(database: Path, text: str, width: int = 24) -> list[str]:
    """The runs of ``width`` characters of ``text`` found in the database's files
    (with its write-ahead log), however the text was wrapped."""
    stored = b"".join(path.read_bytes() for path in database.parent.glob(f"{database.name}*"))
    words = " ".join(text.split())
    runs = {words[start : start + width] for start in range(len(words) - width)}
    return sorted(run for run in runs if run.encode() in stored)


def test_an_answer_from_a_protected_pdf_keeps_its_page_references_only(tmp_path: Path, scripted) -> None:
    data = PROTECTED.read_bytes()
    document = read_pdf(data, PROTECTED.name, password=PASSWORD)
    library = Library(FolderUploads(tmp_path / "uploads"), embedder())
    database = tmp_path / "chat.db"
    store = open_store(f"sqlite://{database}")
    chat = ChatSession(store, LOCAL_USER, library)
    # As "Ask this document" on the PDF page adds a file opened with its password.
    chat.documents = [library.add(sha256(data), PROTECTED.name, lambda: document.pages, keep=False)]
    scripted.enqueue("It is placeholder text [libreoffice-writer-password.pdf p. 1].")
    settings = Settings(LOCAL_MODEL, LOCAL_MODEL.defaults)
    with chat.ask("What does it say about tempor invidunt?", settings) as reply:
        "".join(reply)
    shown = chat.exchanges[0].sources
    assert shown and shown[0].text  # on screen in this session

    assert quoted(database, document.text) == []
    reopened = ChatSession(store, LOCAL_USER, library)
    reopened.open(chat.conversation_id or "")
    kept = reopened.exchanges[0].sources or []
    assert [(s.file, s.page) for s in kept] == [(s.file, s.page) for s in shown]


def test_a_protected_pdfs_summary_is_discussed_in_this_session_and_not_stored(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("UPLOAD_STORE", f"file://{tmp_path / 'uploads'}")
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    at.switch_page("pages/Summarize_a_PDF.py").run()
    at.file_uploader(key="pdf-file").set_value((PROTECTED.name, PROTECTED.read_bytes(), "application/pdf"))
    at.run()
    at.text_input(key="pdf-password").input(PASSWORD).run()
    next(b for b in at.button if b.label == "Summarize").click().run()
    summary = at.markdown[-1].value
    assert "Lorem" in summary  # the scripted model quotes what it summarizes
    next(b for b in at.button if b.label == "Discuss in chat").click().run()
    (started,) = open_store().conversations(LOCAL_USER)
    at.query_params["c"] = started.id  # what switch_page carries over
    at.switch_page("pages/chat.py").run()

    assert messages(at)[1] == ("assistant", summary)  # the chat page, in this session
    database = Path(os.environ["CHAT_STORE"].removeprefix("sqlite://"))
    assert quoted(database, summary) == []
    assert quoted(database, read_pdf(PROTECTED.read_bytes(), password=PASSWORD).text) == []


def test_saving_again_keeps_the_protected_summary_out_of_the_store(tmp_path: Path) -> None:
    """The first save of "Discuss in chat" fails (a trigger on the real SQLite file, as a
    full disk would); "Save again" must save the note, not the summary on screen."""
    database = tmp_path / "chat.db"
    store = open_store(f"sqlite://{database}")
    chat = ChatSession(store, LOCAL_USER)
    other = refuse_answers(database)
    summary = "The protected file says: tempor invidunt ut labore et dolore magna."
    note = "(The summary is shown in the session that made it only.)"
    chat.start_with("Summarize it.", summary, Settings(LOCAL_MODEL, LOCAL_MODEL.defaults), note)
    [exchange] = chat.exchanges
    assert not exchange.saved and exchange.answer == summary  # on screen, with "Save again"

    other.execute("DROP TRIGGER refuse")
    chat.save_again(exchange, Settings(LOCAL_MODEL, LOCAL_MODEL.defaults))
    assert exchange.saved and exchange.answer == summary
    assert quoted(database, summary) == []
    assert [m.text for m in store.messages(LOCAL_USER, chat.conversation_id or "")][-1] == note
