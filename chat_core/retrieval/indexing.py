"""Indexing a document within limits, in a child process that yields to chats.

Embedding takes about 0.7 s a page on two cores: the 2,000 pages a PDF may have
(``PDF_MAX_PAGES``) would take the app's cores for over 20 minutes.  So:

- ``IndexLimits``: a document is indexed up to ``INDEX_MAX_PAGES`` pages and for
  at most ``INDEX_MAX_SECONDS``; past either its first pages are searched, and
  every answer from it says which (``DocumentIndex.notice``).  An index cut by
  the page limit is kept in the store with its cut, and made anew when the limit
  changes; one cut by time (which depends on the machine's load) is kept for the
  session only, so that a later session indexes it again.
- The work runs in a child process (``chat_core.child``) at the lowest priority
  (``NICE``): the chat model's threads, in the app's process, get the cores first.
- One indexing job per user at a time (per app process): a second one, from
  another tab, is refused with a message (``IndexingBusy``) rather than queued;
  other users are not held up.
- Progress reports say the pages done and an estimate of the time left.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from chat_core import child
from chat_core.documents.uploads import UploadStore
from chat_core.errors import ChatError, redacted
from chat_core.i18n import Message, Text, duration
from chat_core.retrieval.embeddings import embedder
from chat_core.retrieval.index import (
    Cut,
    DocumentIndex,
    Embedded,
    Embedder,
    assembled,
    embed_pages,
    keep_index,
    stored_index,
)

# The lowest priority there is: indexing gets only the CPU time chats leave.
NICE = 19
# Progress is reported at least this often while a batch of pages is embedded: the
# time left counts down, and a page's run can end (Stop, a closed tab) only inside
# a Streamlit call, which the page's progress bar is.
REPORT_EVERY_S = 0.5


class IndexingBusy(ChatError):
    en = (
        "{running} is being indexed for you (in another tab or question); one document is indexed "
        "at a time. Ask again when it is done."
    )
    ko = (
        "{running}을(를) 색인하는 중입니다(다른 탭이나 질문). 문서는 한 번에 하나씩 색인합니다. "
        "끝난 뒤 다시 물어보세요."
    )


class IndexingFailed(ChatError):
    # ``detail``: what the indexing process said, redacted, in English only.
    en = "Indexing {name} failed: {detail}."
    ko = "{name}을(를) 색인하지 못했습니다: {detail}."


class NothingIndexed(IndexingFailed):
    en = (
        "No page of {name} could be indexed within {seconds:g} s (INDEX_MAX_SECONDS): "
        "the app or the embedding endpoint is busy. Ask again later."
    )
    ko = (
        "{seconds:g}초(INDEX_MAX_SECONDS) 안에 {name}의 한 쪽도 색인하지 못했습니다. "
        "앱이나 임베딩 엔드포인트가 바쁩니다. 나중에 다시 물어보세요."
    )


INDEXING = Message("Indexing {name}: page {done} of {total}…", "{name} 색인 중: {total}쪽 중 {done}쪽…")
INDEXING_WITH_TIME_LEFT = Message(
    "Indexing {name}: page {done} of {total}, about {left} left",
    "{name} 색인 중: {total}쪽 중 {done}쪽, 약 {left} 남음",
)


@dataclass(frozen=True)
class IndexLimits:
    """How much of a document is indexed; each has an environment variable."""

    # Together: 150 pages take about 75 s on 2 idle cores (bench/: 2 pages/s), inside the
    # 90 s, so on an idle machine the page limit is the one reached, and a busy one
    # stops at 90 s of the lowest-priority CPU time.
    pages: int = 150  # INDEX_MAX_PAGES
    seconds: float = 90  # INDEX_MAX_SECONDS

    @classmethod
    def from_environment(cls) -> IndexLimits:
        return cls(
            int(os.environ.get("INDEX_MAX_PAGES", cls.pages)),
            float(os.environ.get("INDEX_MAX_SECONDS", cls.seconds)),
        )


@dataclass(frozen=True)
class IndexProgress:
    name: str
    done: int  # pages indexed
    total: int  # pages to index: the document's, up to INDEX_MAX_PAGES
    seconds_left: float | None  # an estimate; None until the first pages are done

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def message(self) -> Text:
        if self.seconds_left is None:
            return INDEXING.format(name=self.name, done=self.done, total=self.total)
        left = duration(self.seconds_left)
        return INDEXING_WITH_TIME_LEFT.format(name=self.name, done=self.done, total=self.total, left=left)


Progress = Callable[[IndexProgress], None]

_running: dict[str | None, str] = {}  # owner: the document being indexed for them
_running_lock = threading.Lock()


@contextlib.contextmanager
def _one_job(owner: str | None, name: str) -> Iterator[None]:
    with _running_lock:
        if (running := _running.get(owner)) is not None:
            raise IndexingBusy(running=running)
        _running[owner] = name
    try:
        yield
    finally:
        with _running_lock:
            del _running[owner]


def document_index(
    uploads: UploadStore,
    name: str,
    digest: str,
    pages: Callable[[], Sequence[str]],
    embedder: Embedder,
    *,
    keep: bool = True,
    progress: Progress | None = None,
    built: Callable[[DocumentIndex, float], None] | None = None,
    admit: Callable[[], None] | None = None,
) -> DocumentIndex:
    """The file's index from the store, or built from ``pages()`` and kept there;
    ``admit()`` is called (to raise when the user may not) before one is built,
    ``built(index, seconds)`` is told of an index built.  ``keep=False`` for a file
    opened with a password: its passages are its text."""
    limits = IndexLimits.from_environment()
    index = stored_index(uploads, name, digest, embedder) if keep else None
    if index is not None and (index.cut is None or index.cut.limit == limits.pages):
        return index  # whole, or cut under the page limit in force
    if admit:
        admit()
    with _one_job(uploads.owner, name):
        started = time.monotonic()
        index = _build(name, digest, pages(), embedder, limits, progress)
    seconds = time.monotonic() - started
    if keep and (index.cut is None or index.cut.setting == "INDEX_MAX_PAGES"):
        keep_index(uploads, index, embedder)
    index.protected = not keep
    if built:  # once the index is kept: counting it is never a reason to lose it
        built(index, seconds)
    return index


def _build(
    name: str,
    digest: str,
    pages: Sequence[str],
    embedder: Embedder,
    limits: IndexLimits,
    progress: Progress | None,
) -> DocumentIndex:
    """``pages`` indexed in a child process, up to ``limits``."""
    wanted = list(pages[: limits.pages])
    started = time.monotonic()
    deadline = started + limits.seconds
    steps: list[Embedded] = []
    done, finish_at = 0, None  # pages done; when the pages left will be, as estimated
    if progress:
        progress(IndexProgress(name, 0, len(wanted), None))
    worker, connection = child.start(__name__, (wanted, embedder.spec), nice=NICE)
    try:
        while done < len(wanted) and (now := time.monotonic()) < deadline:
            if connection.poll(min(deadline - now, REPORT_EVERY_S)):
                steps.append(_received(name, connection))
                done, now = steps[-1].pages, time.monotonic()
                finish_at = min(now + (now - started) / done * (len(wanted) - done), deadline)
            if progress:  # a batch done, or a beat while one is embedded
                left = None if finish_at is None else max(0.0, finish_at - now)
                progress(IndexProgress(name, done, len(wanted), left))
    finally:
        child.stop(worker, connection)
    if wanted and not done:
        raise NothingIndexed(name=name, seconds=limits.seconds)
    cut = None
    if done < len(pages):
        by_pages = done == len(wanted)
        setting = "INDEX_MAX_PAGES" if by_pages else "INDEX_MAX_SECONDS"
        cut = Cut(setting, limits.pages if by_pages else limits.seconds, len(pages))
    return assembled(name, digest, pages[:done], steps, cut)


def _received(name: str, connection: Connection) -> Embedded:
    try:
        message = connection.recv()
    except EOFError:  # the child died: killed, or out of memory
        message = ("failed", "the indexing process ended early")
    if message[0] == "error":
        raise message[1]
    if message[0] == "failed":
        raise IndexingFailed(name=name, detail=message[1])
    return message[1]


def _index(task: tuple[list[str], Any], connection: Connection) -> None:
    """In the child: sends ("step", Embedded) after each batch of whole pages, or
    one ("error", ChatError) | ("failed", detail)."""
    pages, spec = task
    try:
        for step in embed_pages(pages, embedder(spec)):
            connection.send(("step", step))
    except ChatError as error:
        connection.send(("error", error))
    except Exception as error:
        connection.send(("failed", redacted(str(error))[:300]))
    finally:
        connection.close()


if __name__ == "__main__":
    child.serve(_index)
