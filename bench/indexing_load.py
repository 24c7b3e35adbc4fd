"""Chats while another user's document is indexed (issue 22): indexing runs in a
child process at nice 19 (``chat_core/retrieval/indexing.py``), so it should take
only the CPU time answers leave.

First token: a question asked through ``ChatSession`` of the bundled model, no
documents attached, from ``ask`` to the answer's first text, while another user's
long document (GeoTopo's pages repeated to 2,000, what ``PDF_MAX_PAGES`` allows)
is being indexed, against the same with nothing indexed, in turns.  An indexing
sample starts the job, waits until its child has embedded the first pages, asks,
then stops the job (as Stop does: an exception from its progress callback).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import threading
from hashlib import sha256
from pathlib import Path
from unittest import mock

from bench.results import Figure, Spread, figure, interleaved
from bench.retrieval import first_token_seconds
from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.documents.pdf import read_pdf
from chat_core.documents.uploads import FolderUploads
from chat_core.models.catalog import GenerationParams, load_catalog
from chat_core.retrieval.embeddings import embedder
from chat_core.retrieval.indexing import IndexProgress, document_index
from tests.shared import PDFS

PAGES = 2_000
QUESTIONS = (
    "What is the capital of France?",
    "Name three primary colours.",
    "How many legs does a spider have?",
    "What does a thermometer measure?",
)


class _Stopped(Exception):
    pass


class _Indexing:
    """Another user's long document being indexed in a thread of this process, as
    the app does it for a page run."""

    def __init__(self, folder: Path, pages: tuple[str, ...]) -> None:
        self.uploads = FolderUploads(folder).for_owner("another-user")
        self.pages = pages
        self.working, self.stop = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _progress(self, step: IndexProgress) -> None:
        if step.done:
            self.working.set()
        if self.stop.is_set():
            raise _Stopped

    def _run(self) -> None:
        with contextlib.suppress(_Stopped):
            pages, model = self.pages, embedder()
            digest = sha256("\n".join(pages).encode()).hexdigest()  # the store takes only files' hashes
            document_index(self.uploads, "long.pdf", digest, lambda: pages, model, progress=self._progress)

    def __enter__(self) -> _Indexing:
        self.thread.start()
        if not self.working.wait(300):
            raise RuntimeError("indexing did not start within 300 s")
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def run(quick: bool, out: Path) -> list[Figure]:
    book = read_pdf((PDFS / "GeoTopo-komprimiert.pdf").read_bytes(), "GeoTopo-komprimiert.pdf").pages
    pages = tuple(itertools.islice(itertools.cycle(book), PAGES))
    settings = Settings(
        load_catalog()["local-smollm2"], GenerationParams(max_new_tokens=4, temperature=0.0, top_p=1.0)
    )
    asked = itertools.cycle(QUESTIONS)

    def first_token() -> float:
        return first_token_seconds(ChatSession(), next(asked), settings)

    limits = {"INDEX_MAX_PAGES": str(PAGES), "INDEX_MAX_SECONDS": "3600"}  # a job outlasts its sample
    with mock.patch.dict(os.environ, limits), tempfile.TemporaryDirectory() as folder:

        def while_indexing() -> float:
            with _Indexing(Path(folder), pages):
                return first_token()

        first_token()  # the model loaded before timing
        seconds = interleaved({"indexing": while_indexing, "none": first_token}, 3 if quick else 15)
    during, alone = (Spread(tuple(s * 1e3 for s in seconds[k].samples)) for k in ("indexing", "none"))
    return [
        figure(
            f"First answer token, bundled model, while another user's {PAGES:,}-page document is indexed",
            during,
            "ms",
            "the same questions, nothing indexed",
            alone,
            ratio=during.median / alone.median,
            ratio_means="indexing / none",
            target="<= 1.5",
            note=f"indexing in a child process at nice 19; load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} cores",
        )
    ]
