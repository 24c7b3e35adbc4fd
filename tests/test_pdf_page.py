"""The PDF page in AppTest, on real PDFs and the bundled model; uploads in a temp
folder, and in S3 on moto's server (its keys only let botocore sign)."""

import re
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto_server import moto_server
from shared import AUTH, BAD_FILES, ISSUER, PDFS, refuse_usage
from streamlit.testing.v1 import AppTest

from chat_core.conversations.backends import open_store
from chat_core.documents.summaries import COMBINE, Summary
from chat_core.documents.uploads import open_uploads, sha256
from chat_core.local import runtime
from chat_core.local.scripted import ScriptedModel

PAGE = "../pages/Summarize_a_PDF.py"
ANA = {"is_logged_in": True, "iss": ISSUER, "sub": "ana", "email": "ana@example.com"}
BEN = {"is_logged_in": True, "iss": ISSUER, "sub": "ben", "email": "ben@example.com"}


@pytest.fixture(autouse=True)
def uploads_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "uploads"
    monkeypatch.setenv("UPLOAD_STORE", f"file://{folder}")
    return folder


def page_with(name: str, data: bytes | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.run()
    content = (PDFS / name).read_bytes() if data is None else data
    at.file_uploader(key="pdf-file").set_value((name, content, "application/pdf"))
    return at.run()


def test_upload_shows_facts_then_a_summary_and_a_second_upload_reuses_it(uploads_in: Path) -> None:
    at = page_with("minimal-document.pdf")
    assert not at.exception
    assert at.subheader[0].value == "minimal-document.pdf"
    assert at.caption[0].value == "1 page · 595 characters"
    assert at.expander[0].label == "First page"
    next(b for b in at.button if b.label == "Summarize").click().run()
    summary = at.markdown[-1].value
    assert summary.strip()

    stored = list(uploads_in.rglob("*.pdf"))
    assert len(stored) == 1 and stored[0].name != "minimal-document.pdf"  # a generated name
    assert len(list(uploads_in.rglob("text/*.txt"))) == 1  # its text, kept

    again = page_with("minimal-document.pdf")  # another session, the same file
    assert "Summarized before" in again.success[0].value
    assert again.markdown[-1].value == summary
    assert len(list(uploads_in.rglob("*.pdf"))) == 1


def test_an_encrypted_pdf_asks_for_its_password() -> None:
    at = page_with("libreoffice-writer-password.pdf")
    assert "enter its password" in at.warning[0].value
    at.text_input(key="pdf-password").input("wrong").run()
    assert "is wrong" in at.warning[0].value
    at.text_input(key="pdf-password").input("openpassword").run()
    assert not at.warning and at.caption[0].value.startswith("1 page ·")


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_files_get_their_message_and_the_page_keeps_working(name: str) -> None:
    data, _, message = BAD_FILES[name]
    at = page_with(name, data)
    assert not at.exception and re.search(message, at.error[0].value)
    at.file_uploader(key="pdf-file").set_value(
        ("minimal-document.pdf", (PDFS / "minimal-document.pdf").read_bytes(), "application/pdf")
    )
    at.run()
    assert not at.error and at.subheader[0].value == "minimal-document.pdf"


def test_uploads_go_to_s3_under_generated_names(monkeypatch: pytest.MonkeyPatch) -> None:
    with moto_server() as url:
        for name, value in {
            "AWS_ENDPOINT_URL_S3": url, "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="chat-uploads")
        uploads = open_uploads("s3://chat-uploads/pdfs")
        data = (PDFS / "habibi.pdf").read_bytes()
        record = uploads.save(data, "habibi.pdf")
        assert uploads.save(data, "renamed.pdf") == record  # recognized by its hash
        keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="chat-uploads")["Contents"]]
        names = [f"pdfs/{record['id']}.pdf", f"pdfs/index/{sha256(data)}.json", "pdfs/documents.json"]
        assert sorted(keys) == sorted(names)  # documents.json: the list the chat's picker shows
        uploads.remember(sha256(data), pages=1)
        assert uploads.record(sha256(data))["pages"] == 1


def test_discuss_in_chat_opens_a_conversation_that_starts_with_the_summary() -> None:
    at = page_with("minimal-document.pdf")
    next(b for b in at.button if b.label == "Summarize").click().run()
    summary = at.markdown[-1].value
    next(b for b in at.button if b.label == "Discuss in chat").click().run()
    (started,) = open_store().conversations("local")
    chat = AppTest.from_file("../app.py", default_timeout=120)
    chat.query_params["c"] = started.id  # what switch_page carries over
    chat.run()
    bubbles = [" ".join(md.value for md in m.markdown) for m in chat.chat_message]
    assert bubbles == ["Summarize minimal-document.pdf (1 page).", summary]
    assert [b.label for b in chat.sidebar.button if b.key and b.key.startswith("open-")] == [
        "Summarize minimal-document.pdf (1 page)."
    ]


def pdf_page_in_app(user: dict | None = None) -> AppTest:
    """A new browser session on app.py's navigation, on the PDF page."""
    at = AppTest.from_file("../app.py", default_timeout=300)
    if user:
        at.secrets["auth"] = AUTH
        at.user = user
    at.run()
    return at.switch_page("pages/Summarize_a_PDF.py").run()


def test_the_file_summary_and_length_stay_after_visiting_the_chat_and_after_a_reload() -> None:
    at = pdf_page_in_app()
    name = "minimal-document.pdf"
    at.file_uploader(key="pdf-file").set_value((name, (PDFS / name).read_bytes(), "application/pdf"))
    at.run()
    at.radio[0].set_value("detailed").run()
    next(b for b in at.button if b.label == "Summarize").click().run()
    summary = at.markdown[-1].value
    assert at.query_params["d"] == sha256((PDFS / name).read_bytes())

    at.switch_page("pages/chat.py").run()
    at.switch_page("pages/Summarize_a_PDF.py").run()
    assert not at.exception
    assert at.subheader[0].value == name and at.markdown[-1].value == summary
    assert at.radio[0].value == "detailed"

    reloaded = AppTest.from_file("../app.py", default_timeout=300)  # a reload: a new session, the URL kept
    reloaded.run()
    reloaded.switch_page("pages/Summarize_a_PDF.py").run()
    reloaded.query_params.update(at.query_params)
    reloaded.run()
    assert reloaded.subheader[0].value == name and reloaded.markdown[-1].value == summary
    assert reloaded.radio[0].value == "detailed"
    reloaded.radio[0].set_value("short").run()  # a click after the reload: the document stays
    assert reloaded.subheader[0].value == name and "Summarize" in [b.label for b in reloaded.button]


def test_another_users_document_is_not_opened_by_its_digest() -> None:
    ana = pdf_page_in_app(ANA)
    name = "minimal-document.pdf"
    ana.file_uploader(key="pdf-file").set_value((name, (PDFS / name).read_bytes(), "application/pdf"))
    ana.run()
    next(b for b in ana.button if b.label == "Summarize").click().run()
    digest = ana.query_params["d"]

    ben = pdf_page_in_app(BEN)
    ben.query_params["d"] = digest
    ben.run()
    assert not ben.exception and not ben.subheader and not ben.markdown  # nothing of Ana's file
    assert "d" not in ben.query_params


@pytest.mark.parametrize("value", ["\x00", "../../" + "0" * 32 + "/index/" + "a" * 64, "a" * 300])
def test_a_link_whose_file_is_not_a_hash_opens_nothing_and_is_forgotten(value: str) -> None:
    """``?d=%00``, a path out of the user's folder, a name too long for one: none is a
    file's sha256, so none is looked up; the page is the empty one and the URL drops it."""
    at = pdf_page_in_app()
    at.query_params["d"] = value
    at.run()
    assert not at.exception and not at.error and not at.subheader
    assert "d" not in at.query_params


def test_a_summary_is_kept_and_shown_without_a_warning_when_its_usage_cannot_be_recorded() -> None:
    refuse_usage(open_store().path)
    at = page_with("minimal-document.pdf")
    next(b for b in at.button if b.label == "Summarize").click().run()
    assert not at.exception and not at.warning and not at.error
    summary = at.markdown[-1].value
    digest = sha256((PDFS / "minimal-document.pdf").read_bytes())
    assert open_uploads().for_owner("local").summary(digest, "local-smollm2", "short") == summary


def test_a_stopped_summary_says_the_parts_the_bar_counted_and_is_counted_in_usage(
    scripted: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GeoTopo is eleven parts and rounds of combining for the bundled model; Stop is
    pressed (``Summary.stop``, as the button does) when the first combining call starts.
    The usage of the calls made, the cut one too, is recorded once, by the summary's
    thread, after the page's run has ended."""
    runs: list[Summary] = []
    start = Summary.start.__func__

    def started(cls: type[Summary], *args: object, **kwargs: object) -> Summary:
        runs.append(start(cls, *args, **kwargs))
        return runs[-1]

    bar: list[str] = []

    def stopped_when_combining(prompt: str, **sampling: object) -> Iterator[str]:
        if COMBINE["en"] in prompt and not bar:
            bar.append(runs[-1].message.en)  # what the progress bar says
            runs[-1].stop()
        yield from scripted.complete(prompt, **sampling)

    monkeypatch.setattr(Summary, "start", classmethod(started))
    monkeypatch.setattr(runtime.ENDPOINT, "complete", stopped_when_combining)
    at = page_with("GeoTopo-komprimiert.pdf")
    next(b for b in at.button if b.label == "Summarize").click().run()
    (run,) = runs
    parts = [md.value for md in at.markdown if md.value.startswith("**Part ")]
    part, total = map(int, re.match(r"Part (\d+) of (\d+)", bar[0]).groups())
    assert total > len(parts) + 1  # parts in the map step, then rounds of combining
    assert at.info[0].value == f"Stopped after {part - 1} of {total} parts; here is what was done."
    assert part - 1 == len(parts)
    run.wait(60)  # its thread records as it ends
    used = open_store().usage(0, time.time() + 60, "local")
    assert [(u.kind, u.calls) for u in used] == [("summary", part)]  # the cut call too
