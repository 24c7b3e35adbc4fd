"""The chat page asking a document indexed in part, in AppTest: app.py's navigation,
the PDF page's "Ask this document", a real PDF, the real embedding model in its
child process, and the scripted chat model."""

from pathlib import Path

import pytest
from chat_page import ask_this_document
from shared import pdf_of
from streamlit.testing.v1 import AppTest

from chat_core.documents.uploads import sha256


def test_an_answer_from_a_document_indexed_in_part_says_which_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scripted
) -> None:
    monkeypatch.setenv("UPLOAD_STORE", f"file://{tmp_path / 'uploads'}")
    monkeypatch.setenv("INDEX_MAX_PAGES", "5")
    at = AppTest.from_file("../app.py", default_timeout=300)
    at.run()
    at.switch_page("pages/Summarize_a_PDF.py").run()
    at.file_uploader(key="pdf-file").set_value(("ports.pdf", pdf_of(12), "application/pdf"))
    at.run()
    next(b for b in at.button if b.label == "Ask this document").click().run()  # indexed, then the chat
    notice = "ports.pdf: pages 1-5 of 12 indexed; the rest is not searched (INDEX_MAX_PAGES is 5)."
    assert not at.exception and at.title[0].value == "SageMaker Chat"
    assert notice in [caption.value for caption in at.caption]  # under the title, while it is attached

    at.switch_page("pages/chat.py").run()  # AppTest stays on the page it was told
    scripted.enqueue("At 5 o'clock.")
    at.chat_input(key="question").set_value("When does the harbour of Quito open?").run()
    assert not at.exception and at.chat_message[-1].markdown[0].value == "At 5 o'clock."
    assert notice in [caption.value for caption in at.caption]


def test_the_documents_picker_shows_and_sets_what_each_conversation_asks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scripted
) -> None:
    """One session: "Ask this document", a new chat, the conversation opened again, the
    document unpicked, then "Discuss in chat" (the scripted model writes the summary)."""
    monkeypatch.setenv("UPLOAD_STORE", f"file://{tmp_path / 'uploads'}")
    at = AppTest.from_file("../app.py", default_timeout=300)
    ask_this_document(at.run(), "ports.pdf", pdf_of(3))
    ports = [sha256(pdf_of(3))]

    def picked() -> list[str]:
        return at.sidebar.multiselect(key="documents").value

    assert picked() == ports and at.caption[0].value.endswith(" · ports.pdf")
    at.chat_input(key="question").set_value("When does the harbour of Dakar open?").run()
    assert any(e.label.startswith("Sources (") for e in at.expander)  # answered from it
    passage = at.chat_message[-1].text[0].value
    at.button(key="page-0-0").click().run()  # "Open page": the whole page, in a dialog
    assert [text.value for text in at.text].count(passage) == 2 and not at.exception
    (opened,) = [b.key for b in at.sidebar.button if b.key and b.key.startswith("open-")]

    at.sidebar.button(key="new-chat").click().run()
    assert picked() == [] and "ports.pdf" not in at.caption[0].value
    at.sidebar.button(key=opened).click().run()
    assert picked() == ports  # the conversation's documents, as it was left

    at.sidebar.multiselect(key="documents").set_value([]).run()
    at.chat_input(key="question").set_value("And of Lima?").run()
    assert picked() == [] and "ports.pdf" not in at.caption[0].value
    assert not any(e.label.startswith("Sources (") for e in at.chat_message[-1].expander)

    at.sidebar.multiselect(key="documents").set_value(ports).run()  # then a chat about a summary
    at.switch_page("pages/Summarize_a_PDF.py").run()
    at.file_uploader(key="pdf-file").set_value(("ports.pdf", pdf_of(3), "application/pdf"))
    at.run()
    next(b for b in at.button if b.label == "Summarize").click().run()
    next(b for b in at.button if b.label == "Discuss in chat").click().run()
    at.switch_page("pages/chat.py").run()
    assert picked() == [] and not at.exception
