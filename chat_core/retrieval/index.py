"""A document's index: its passages and their embeddings, built once and kept.

An index is kept in the upload store beside the file it was read from, in the
owner's own part of the store (``UploadStore.for_owner``), under the file's
hash and the embedding model's name: any replica loads it, the same file
uploaded again is never embedded again, and another embedding model gets an
index of its own.  It is one object (NumPy's ``.npz``: the vectors, and the
passages as JSON), written whole or not at all.  Search over the chosen
documents is exact (``search.py``): see the README for when a vector
database would start to pay.  An index may end before its document does, at a
limit of ``indexing``: it records where and why (``Cut``), and says so (``notice``).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from chat_core.documents.uploads import UploadStore
from chat_core.i18n import Message, Text
from chat_core.retrieval.passages import OVERLAP_TOKENS, PASSAGE_TOKENS, Passage, page_passages

if TYPE_CHECKING:
    from chat_core.retrieval.embeddings import EmbeddingSpec

# Passages embedded per call: one progress step, and one request to an endpoint.
BATCH = 16
# Part of every index's name: an index made with other passage sizes is made anew.
_LAYOUT = f"passages-{PASSAGE_TOKENS}-{OVERLAP_TOKENS}"

# What a question of a partly indexed document says, and why the index ends (by ``Cut.setting``).
PARTLY_INDEXED = Message(
    "{name}: pages 1-{done} of {total} indexed; the rest is not searched ({why}).",
    "{name}: 전체 {total}쪽 중 1-{done}쪽만 색인했고 나머지는 검색하지 않습니다({why}).",
)
CUT_BY = {
    "INDEX_MAX_PAGES": Message("INDEX_MAX_PAGES is {limit:g}", "INDEX_MAX_PAGES가 {limit:g}"),
    "INDEX_MAX_SECONDS": Message(
        "indexing stopped at INDEX_MAX_SECONDS, {limit:g} s", "INDEX_MAX_SECONDS인 {limit:g}초에 색인을 멈춤"
    ),
}


class Embedder(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def spec(self) -> EmbeddingSpec: ...

    def passages(self, texts: list[str]) -> np.ndarray: ...

    def query(self, text: str) -> np.ndarray: ...


@dataclass(frozen=True)
class Cut:
    """Why an index ends before its document does."""

    setting: str  # the limit reached: INDEX_MAX_PAGES or INDEX_MAX_SECONDS
    limit: float  # its value then
    total: int  # the document's pages


@dataclass
class DocumentIndex:
    name: str  # the file's name, as cited
    digest: str  # the file's SHA-256
    passages: list[Passage]
    vectors: np.ndarray  # one unit-length row per passage
    pages: list[str]  # each indexed page's text, to show the page a source is on
    cut: Cut | None = None  # None: every page is indexed
    protected: bool = False  # opened with a password: nothing read from it is kept

    @property
    def notice(self) -> Text | None:
        """What a question of a partly indexed document must say: which pages it is answered from."""
        if self.cut is None:
            return None
        why = CUT_BY[self.cut.setting].format(limit=self.cut.limit)
        return PARTLY_INDEXED.format(name=self.name, done=len(self.pages), total=self.cut.total, why=why)


@dataclass(frozen=True)
class Embedded:
    """The passages of whole pages and their vectors: one step of indexing."""

    pages: int  # the pages done so far, from the first
    passages: list[Passage]
    vectors: np.ndarray


def embed_pages(pages: Sequence[str], embedder: Embedder) -> Iterator[Embedded]:
    """Cut ``pages`` into passages and embed them, about ``BATCH`` passages (whole pages) at a time."""
    pending: list[Passage] = []
    for number, found in enumerate(page_passages(pages), start=1):
        pending += found
        if len(pending) >= BATCH or number == len(pages):
            yield Embedded(number, pending, embedder.passages([passage.embedded for passage in pending]))
            pending = []


def assembled(
    name: str, digest: str, pages: Sequence[str], steps: Sequence[Embedded], cut: Cut | None = None
) -> DocumentIndex:
    """The index of ``pages`` from the steps that embedded them."""
    passages = [passage for step in steps for passage in step.passages]
    vectors = [step.vectors for step in steps if len(step.vectors)]
    stacked = np.concatenate(vectors).astype(np.float32) if vectors else np.zeros((0, 0), np.float32)
    return DocumentIndex(name, digest, passages, stacked, list(pages), cut)


def _key(digest: str, embedder: Embedder) -> str:
    model = hashlib.sha256(f"{embedder.id}\n{_LAYOUT}".encode()).hexdigest()[:16]
    return f"{digest}-{model}"


def _to_bytes(index: DocumentIndex) -> bytes:
    text = {
        "passages": [asdict(passage) for passage in index.passages],
        "pages": index.pages,
        "cut": asdict(index.cut) if index.cut else None,
    }
    passages = json.dumps(text, ensure_ascii=False).encode()
    buffer = io.BytesIO()
    np.savez(buffer, vectors=index.vectors, passages=np.frombuffer(passages, dtype=np.uint8))
    return buffer.getvalue()


def _from_bytes(name: str, digest: str, data: bytes) -> DocumentIndex:
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        text = json.loads(stored["passages"].tobytes())
        passages = [Passage(**fields) for fields in text["passages"]]
        cut = Cut(**text["cut"]) if text.get("cut") else None
        return DocumentIndex(name, digest, passages, stored["vectors"], text["pages"], cut)


def stored_index(uploads: UploadStore, name: str, digest: str, embedder: Embedder) -> DocumentIndex | None:
    """The file's index kept in the store; None when there is none or it is damaged."""
    if (data := uploads.index(_key(digest, embedder))) is None:
        return None
    try:
        return _from_bytes(name, digest, data)
    except (ValueError, KeyError, TypeError, OSError):
        return None  # damaged (a store's fault, or a hand's): made anew


def keep_index(uploads: UploadStore, index: DocumentIndex, embedder: Embedder) -> None:
    uploads.keep_index(_key(index.digest, embedder), _to_bytes(index))
