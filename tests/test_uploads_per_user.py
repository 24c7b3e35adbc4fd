"""Uploads belong to their owner: what one user's upload revealed (its text, its
summaries, that it was read before) is never shown to another, and an encrypted
file's password is asked again in every session, its text never stored in clear.
Two users log in through AppTest's ``at.user``, on app.py's navigation."""

from pathlib import Path

import pytest
from shared import AUTH, ISSUER, PDFS
from streamlit.testing.v1 import AppTest

ANA = {"is_logged_in": True, "iss": ISSUER, "sub": "ana", "email": "ana@example.com"}
BEN = {"is_logged_in": True, "iss": ISSUER, "sub": "ben", "email": "ben@example.com"}


@pytest.fixture(autouse=True)
def uploads_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "uploads"
    monkeypatch.setenv("UPLOAD_STORE", f"file://{folder}")
    return folder


def pdf_page(user: dict, name: str) -> AppTest:
    """A new browser session of ``user`` on the PDF page, ``name`` dropped on it."""
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.secrets["auth"] = AUTH
    at.user = user
    at.run()
    at.switch_page("pages/Summarize_a_PDF.py").run()
    at.file_uploader(key="pdf-file").set_value((name, (PDFS / name).read_bytes(), "application/pdf"))
    return at.run()


def test_a_file_another_user_summarized_is_new_to_the_next_one() -> None:
    ana = pdf_page(ANA, "minimal-document.pdf")
    [summarize] = [button for button in ana.button if button.label == "Summarize"]
    summarize.click().run()
    assert not ana.exception and ana.markdown

    ben = pdf_page(BEN, "minimal-document.pdf")
    assert not ben.success  # no "Summarized before"
    assert [button.label for button in ben.button if button.label == "Summarize"] == ["Summarize"]


def test_an_encrypted_file_needs_its_password_in_every_session_and_its_text_is_not_stored(
    uploads_in: Path,
) -> None:
    first = pdf_page(ANA, "libreoffice-writer-password.pdf")
    first.text_input(key="pdf-password").input("openpassword").run()
    assert first.caption[0].value.startswith("1 page ·")

    for user in (ANA, BEN):  # a new session of the same user, then another user
        again = pdf_page(user, "libreoffice-writer-password.pdf")
        assert "enter its password" in again.warning[0].value
        assert not again.caption  # no page count
        assert not [expander for expander in again.expander if expander.label == "First page"]
    stored = b"".join(path.read_bytes() for path in uploads_in.rglob("*") if path.is_file())
    assert b"Lorem ipsum" not in stored
