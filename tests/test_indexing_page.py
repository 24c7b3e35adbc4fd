"""The chat page asking a document indexed in part, in AppTest: app.py's navigation,
the PDF page's "Ask this document", a real PDF, the real embedding model in its
child process, and the scripted chat model."""

from pathlib import Path

import pytest
from shared import pdf_of
from streamlit.testing.v1 import AppTest


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
