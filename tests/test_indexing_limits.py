"""Indexing within limits: real many-page PDFs (written with the hostile PDFs'
byte writer, one content stream a page), read by real pypdf, indexed by the real
bundled embedding model in the app's child process, kept in a real folder store.
Limits are set through the environment, as an operator sets them."""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from shared import pdf_of, run_ask

from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.documents.pdf import read_pdf
from chat_core.documents.uploads import FolderUploads, sha256
from chat_core.errors import ChatError
from chat_core.models.catalog import LOCAL_MODEL
from chat_core.retrieval import indexing
from chat_core.retrieval.embeddings import embedder
from chat_core.retrieval.library import Attached, Library

SETTINGS = Settings(LOCAL_MODEL, LOCAL_MODEL.defaults)
def stored(folder: Path, owner: str, pages: int) -> tuple[Library, Attached, tuple[str, ...]]:
    """``owner``'s library with the PDF uploaded (stored and read, as the PDF page does), not indexed."""
    library = Library(FolderUploads(folder).for_owner(owner), embedder())
    data = pdf_of(pages)
    document = read_pdf(data, f"ports-{pages}.pdf")
    library.uploads.save(data, f"ports-{pages}.pdf")
    library.uploads.keep_document(sha256(data), document)
    return library, Attached(sha256(data), f"ports-{pages}.pdf"), document.pages


def asked(library: Library, document: Attached, question: str, scripted) -> tuple[ChatSession, object]:
    chat = ChatSession(None, "issuer#ana", library)
    chat.documents = [document]
    scripted.enqueue("An answer.")
    with chat.ask(question, SETTINGS) as reply:
        "".join(reply)
    return chat, reply


def test_a_long_document_is_indexed_up_to_the_page_limit_and_every_answer_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scripted
) -> None:
    monkeypatch.setenv("INDEX_MAX_PAGES", "5")
    library, document, pages = stored(tmp_path, "issuer#ana", 12)
    assert len(pages) == 12

    chat, reply = asked(library, document, "When does the harbour of Quito open?", scripted)
    notice = reply.notice  # type: ignore[attr-defined]
    assert notice is not None, "the answer does not say the document was indexed in part"
    assert "ports-12.pdf: pages 1-5 of 12 indexed; the rest is not searched (INDEX_MAX_PAGES" in notice.en
    assert "전체 12쪽 중 1-5쪽만 색인" in notice.ko and "INDEX_MAX_PAGES" in notice.ko
    assert (chat.exchanges[-1].sources or [])[0].page == 5  # Quito: usable
    found = library.retriever([document]).search("When does the harbour open?", 10)
    assert found and all(source.page <= 5 for source in found)

    # Another session loads the kept index: still partial, and says so.
    again = Library(FolderUploads(tmp_path).for_owner("issuer#ana"), embedder())
    reports: list[object] = []
    again.index(document, lambda *report: reports.append(report))  # type: ignore[arg-type]
    _, reply = asked(again, document, "When does the harbour of Lima open?", scripted)
    assert not reports and reply.notice == notice  # type: ignore[attr-defined]

    # A higher limit makes it anew, whole.
    monkeypatch.setenv("INDEX_MAX_PAGES", "50")
    whole = Library(FolderUploads(tmp_path).for_owner("issuer#ana"), embedder())
    chat, reply = asked(whole, document, "When does the harbour of Doha open?", scripted)  # page 12
    assert reply.notice is None  # type: ignore[attr-defined]
    assert 12 in [source.page for source in chat.exchanges[-1].sources or []]


def test_indexing_stops_at_the_time_limit_with_the_pages_done_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scripted
) -> None:
    """Indexing's clock jumps past the deadline when the first batch of pages (16
    one-passage pages) is reported, so where indexing stops does not depend on the
    machine's speed (the 120 s only have to cover the child's start and that batch)."""
    monkeypatch.setenv("INDEX_MAX_SECONDS", "120")
    library, document, _ = stored(tmp_path, "issuer#ana", 40)
    skipped = [0.0]
    monkeypatch.setattr(indexing, "time", SimpleNamespace(monotonic=lambda: time.monotonic() + skipped[0]))

    def slow(*report: object) -> None:
        if getattr(report[0], "done", report[0]) and not skipped[0]:
            skipped[0] = 121  # past INDEX_MAX_SECONDS

    library.index(document, slow)  # type: ignore[arg-type]
    chat = ChatSession(None, "issuer#ana", library)
    chat.documents = [document]
    scripted.enqueue("An answer.")
    with chat.ask("When does the harbour of Oslo open?", SETTINGS) as reply:
        "".join(reply)
    assert reply.notice is not None
    assert "ports-40.pdf: pages 1-16 of 40 indexed; the rest is not searched (" in reply.notice.en
    assert "INDEX_MAX_SECONDS, 120 s" in reply.notice.en and "1-16쪽만" in reply.notice.ko
    assert (chat.exchanges[-1].sources or [])[0].page == 2

    # A cut that the machine's load decided is not kept: another session indexes anew.
    monkeypatch.setenv("INDEX_MAX_SECONDS", "300")
    again = Library(FolderUploads(tmp_path).for_owner("issuer#ana"), embedder())
    reports: list[object] = []
    again.index(document, lambda *report: reports.append(report))  # type: ignore[arg-type]
    assert reports and again.notice([document]) is None


def test_one_indexing_job_per_user_and_other_users_are_not_held_up(tmp_path: Path) -> None:
    """Ana indexes in one tab (held at its first progress report); her second tab is told,
    Ben indexes meanwhile, and Ana's second tab can index once the first is done."""
    first, document, _ = stored(tmp_path, "issuer#ana", 6)
    second_tab, other, _ = stored(tmp_path, "issuer#ana", 4)
    ben, bens, _ = stored(tmp_path, "issuer#ben", 4)
    started, release = threading.Event(), threading.Event()

    def held(*_: object) -> None:
        started.set()
        release.wait(120)

    tab = threading.Thread(target=first.index, args=(document, held))
    tab.start()
    try:
        assert started.wait(120)
        with pytest.raises(ChatError) as refused:
            second_tab.index(other)
        assert "ports-6.pdf is being indexed for you" in refused.value.message.en
        assert "one document is indexed at a time" in refused.value.message.en
        assert "ports-6.pdf" in refused.value.message.ko
        assert ben.index(bens).pages  # another user is not held up by Ana's job
    finally:
        release.set()
        tab.join(120)
    assert first.indexed(document.digest)
    assert second_tab.index(other).pages


def _children(name: str) -> list[int]:
    """This process's child processes whose command line holds ``name``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and name in command:
            found.append(int(entry.name))
    return found


def test_indexing_runs_in_a_child_process_at_the_lowest_priority(tmp_path: Path) -> None:
    """Seen from the app's side: a child indexes, niced below the app, and the
    embedding's CPU time is the child's, not the app's."""
    library, document, _ = stored(tmp_path, "issuer#ana", 40)
    niceness: list[int] = []

    def look(*_: object) -> None:
        niceness.extend(os.getpriority(os.PRIO_PROCESS, pid) for pid in _children("chat_core"))

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    library.index(document, look)
    own_after, children_after = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    assert niceness and min(niceness) == 19, f"indexing children's niceness: {niceness}"
    app_cpu = own_after.ru_utime + own_after.ru_stime - own.ru_utime - own.ru_stime
    child_cpu = children_after.ru_utime + children_after.ru_stime - children.ru_utime - children.ru_stime
    assert app_cpu < child_cpu / 4, f"app {app_cpu:.2f} s of CPU, its children {child_cpu:.2f} s"


def test_progress_reports_pages_done_and_time_left(tmp_path: Path) -> None:
    library, document, _ = stored(tmp_path, "issuer#ana", 40)
    reports: list[tuple[object, ...]] = []
    library.index(document, lambda *report: reports.append(report))  # type: ignore[arg-type]
    assert all(len(report) == 1 for report in reports), f"reported as {reports[-1]}"
    steps = [report[0] for report in reports]
    assert [step.total for step in steps] == [40] * len(steps)  # type: ignore[attr-defined]
    done = [step.done for step in steps]  # type: ignore[attr-defined]
    assert done[0] == 0 and done[-1] == 40 and done == sorted(done) and len(set(done)) >= 3
    first = next(step for step in steps if step.done)  # type: ignore[attr-defined]
    assert first.seconds_left is not None and first.seconds_left > 0  # type: ignore[attr-defined]
    assert f"page {first.done} of 40, about " in first.message.en  # type: ignore[attr-defined]
    assert first.message.en.endswith(" left") and "남음" in first.message.ko  # type: ignore[attr-defined]
    assert steps[-1].seconds_left == 0  # type: ignore[attr-defined]


def test_the_command_line_says_which_pages_were_indexed(tmp_path: Path) -> None:
    pdf = tmp_path / "ports.pdf"
    pdf.write_bytes(pdf_of(8))
    env = {**os.environ, "UPLOAD_STORE": f"file://{tmp_path / 'uploads'}", "INDEX_MAX_PAGES": "3"}
    done = run_ask(str(pdf), "--question", "Oslo?", "--no-answer", env=env)
    assert done.returncode == 0, done.stderr
    assert f"{pdf}: pages 1-3 of 8 indexed; the rest is not searched (INDEX_MAX_PAGES is 3)" in done.stderr
    assert "page 3 of 3" in done.stderr  # progress in pages


class _Stopped(Exception):
    """What Streamlit raises inside a page's call when its run ends (Stop, a closed tab)."""


def test_a_page_run_ending_while_a_batch_is_embedded_ends_indexing_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress beats while the first batch is embedded (its child still starting), so
    the page's run can end there: indexing stops with no page done, its child is
    ended, and the user's next question may index."""
    monkeypatch.setattr(indexing, "REPORT_EVERY_S", 0.01)
    library, document, _ = stored(tmp_path, "issuer#ana", 40)
    reports: list[int] = []

    def page_run_ends(step: indexing.IndexProgress) -> None:
        reports.append(step.done)
        if len(reports) == 2:
            raise _Stopped

    with pytest.raises(_Stopped):
        library.index(document, page_run_ends)  # type: ignore[arg-type]
    assert reports == [0, 0]  # ended before the first batch came back
    assert _children("chat_core") == []
    assert library.index(document).pages  # the job was let go
