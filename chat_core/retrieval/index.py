"""A document's index: its passages and their embeddings, built once and kept.

An index is kept in the upload store beside the file it was read from, in the
owner's own part of the store (``UploadStore.for_owner``), under the file's
hash and the embedding model's name: any replica loads it, the same file
uploaded again is never embedded again, and another embedding model gets an
index of its own.  It is one object (NumPy's ``.npz``: the vectors, and the
passages as JSON), written whole or not at all.  Search over the chosen
documents is exact (``search.py``): see the README for when a vector
database would start to pay.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from chat_core.documents.uploads import UploadStore
from chat_core.retrieval.passages import OVERLAP_TOKENS, PASSAGE_TOKENS, Passage, split_pages

# Passages embedded per call: one progress step, and one request to an endpoint.
BATCH = 16
# Part of every index's name: an index made with other passage sizes is made anew.
_LAYOUT = f"passages-{PASSAGE_TOKENS}-{OVERLAP_TOKENS}"


class Embedder(Protocol):
    @property
    def id(self) -> str: ...

    def passages(self, texts: list[str]) -> np.ndarray: ...

    def query(self, text: str) -> np.ndarray: ...


@dataclass
class DocumentIndex:
    name: str  # the file's name, as cited
    digest: str  # the file's SHA-256
    passages: list[Passage]
    vectors: np.ndarray  # one unit-length row per passage
    pages: list[str]  # each page's text, to show the page a source is on
    protected: bool = False  # opened with a password: nothing read from it is kept


def build_index(
    name: str,
    digest: str,
    pages: Sequence[str],
    embedder: Embedder,
    progress: Callable[[int, int], None] | None = None,
) -> DocumentIndex:
    """Cut ``pages`` into passages and embed them; ``progress(done, total)`` after each batch."""
    passages = split_pages(pages)
    vectors = []
    for start in range(0, len(passages), BATCH):
        batch = passages[start : start + BATCH]
        vectors.append(embedder.passages([passage.embedded for passage in batch]))
        if progress:
            progress(start + len(batch), len(passages))
    stacked = np.concatenate(vectors).astype(np.float32) if vectors else np.zeros((0, 0), np.float32)
    return DocumentIndex(name, digest, passages, stacked, list(pages))


def _key(digest: str, embedder: Embedder) -> str:
    model = hashlib.sha256(f"{embedder.id}\n{_LAYOUT}".encode()).hexdigest()[:16]
    return f"{digest}-{model}"


def _to_bytes(index: DocumentIndex) -> bytes:
    text = {"passages": [asdict(passage) for passage in index.passages], "pages": index.pages}
    passages = json.dumps(text, ensure_ascii=False).encode()
    buffer = io.BytesIO()
    np.savez(buffer, vectors=index.vectors, passages=np.frombuffer(passages, dtype=np.uint8))
    return buffer.getvalue()


def _from_bytes(name: str, digest: str, data: bytes) -> DocumentIndex:
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        text = json.loads(stored["passages"].tobytes())
        passages = [Passage(**fields) for fields in text["passages"]]
        return DocumentIndex(name, digest, passages, stored["vectors"], text["pages"])


def document_index(
    uploads: UploadStore,
    name: str,
    digest: str,
    pages: Callable[[], Sequence[str]],
    embedder: Embedder,
    *,
    keep: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> DocumentIndex:
    """The file's index from the store, or built from ``pages()`` and kept there.
    ``keep=False`` for a file opened with a password: its passages are its text."""
    key = _key(digest, embedder)
    if keep and (data := uploads.index(key)) is not None:
        try:
            return _from_bytes(name, digest, data)
        except (ValueError, KeyError, TypeError, OSError):
            pass  # damaged (a store's fault, or a hand's): made anew below
    index = build_index(name, digest, pages(), embedder, progress)
    if keep:
        uploads.keep_index(key, _to_bytes(index))
    index.protected = not keep
    return index
