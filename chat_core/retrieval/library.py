"""One user's documents, as questions see them: which there are, their indexes, search.

A ``Library`` is made over the owner's part of the upload store
(``UploadStore.for_owner``), so a document is found by its hash only among the
owner's own uploads: another user's hash, guessed or copied from a link, is a
document that does not exist.  Indexes are kept in memory for the session once
loaded or built, and a file opened with a password is indexed in memory only.
Indexing has limits (``indexing``): ``notice`` says which documents are searched
only in part.  Each index built is recorded as usage (``record``), as answers are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chat_core.documents.pdf import read_pdf
from chat_core.documents.uploads import UploadStore
from chat_core.errors import ChatError
from chat_core.i18n import Text
from chat_core.retrieval.index import DocumentIndex, Embedder
from chat_core.retrieval.indexing import Progress, document_index
from chat_core.retrieval.search import Retriever
from chat_core.usage.limits import Allowance
from chat_core.usage.records import Usage, counted, indexing_usage


class DocumentNotFound(ChatError):
    en = "{name} is not among your uploaded documents. Upload it on the PDF page."
    ko = "{name}은 올린 문서 중에 없습니다. PDF 페이지에서 올리세요."


class DocumentFileMissing(DocumentNotFound):
    en = "The file of {name} is missing from the upload store. Upload it again."
    ko = "업로드 저장소에 {name} 파일이 없습니다. 다시 올리세요."


class DocumentLocked(ChatError):
    en = (
        "{name} is protected by a password: open it on the PDF page with its password, "
        "then choose Ask this document."
    )
    ko = "{name}은 암호로 보호되어 있습니다. PDF 페이지에서 암호로 연 뒤 '이 문서에 질문하기'를 누르세요."


@dataclass(frozen=True)
class Attached:
    """A document attached to a conversation: what its questions are answered from."""

    digest: str
    name: str


class Library:
    def __init__(
        self,
        uploads: UploadStore,
        embedder: Embedder,
        record: Callable[[Usage], None] | None = None,
        allowance: Allowance | None = None,
    ) -> None:
        self.uploads = uploads
        self.embedder = embedder
        self.record = record  # Store.record_usage, where the indexing is the user's to count
        self.allowance = allowance  # the user's limits, checked before indexing
        self._indexes: dict[str, DocumentIndex] = {}
        self._retrievers: dict[tuple[str, ...], Retriever] = {}

    def documents(self) -> list[Attached]:
        """The owner's uploaded documents, by name."""
        found = [Attached(digest, name) for digest, name in self.uploads.documents().items()]
        return sorted(found, key=lambda document: (document.name.casefold(), document.digest))

    def add(
        self,
        digest: str,
        name: str,
        pages: Callable[[], Sequence[str]],
        *,
        keep: bool = True,
        progress: Progress | None = None,
    ) -> Attached:
        """A document read here (an upload, a file on the command line), indexed:
        from the store if it was before, else from ``pages()``, and kept there
        unless ``keep`` is False (a file opened with a password)."""
        if digest not in self._indexes:
            self._indexes[digest] = document_index(
                self.uploads,
                name,
                digest,
                pages,
                self.embedder,
                keep=keep,
                progress=progress,
                built=self._built,
                admit=self.allowance and self.allowance.check,
            )
        return Attached(digest, name)

    def indexed(self, digest: str) -> bool:
        return digest in self._indexes

    def index(self, document: Attached, progress: Progress | None = None) -> DocumentIndex:
        """The document's index: from this session, from the store, or built now
        from the kept file (a file uploaded before questions could be asked)."""
        if document.digest in self._indexes:
            return self._indexes[document.digest]
        record = self.uploads.record(document.digest)
        if record is None:
            raise DocumentNotFound(name=document.name)
        if record.get("protected"):
            raise DocumentLocked(name=document.name)
        index = document_index(
            self.uploads,
            record["name"],
            document.digest,
            lambda: self._pages(document),
            self.embedder,
            progress=progress,
            built=self._built,
            admit=self.allowance and self.allowance.check,
        )
        self._indexes[document.digest] = index
        return index

    def _built(self, index: DocumentIndex, seconds: float) -> None:
        if self.record and self.uploads.owner is not None:
            spec, pages, passages = self.embedder.spec, len(index.pages), len(index.passages)
            usage = indexing_usage(self.uploads.owner, spec.id, spec.endpoint_name, pages, passages, seconds)
            counted(self.record, usage)

    def notice(self, documents: Sequence[Attached]) -> Text | None:
        """Which of ``documents``' indexes end before the document does."""
        return Text.joined([index.notice for d in documents if (index := self._indexes.get(d.digest))])

    def retriever(self, documents: Sequence[Attached], progress: Progress | None = None) -> Retriever:
        """Search over ``documents``, each indexed if it is not yet."""
        key = tuple(sorted(document.digest for document in documents))
        if key not in self._retrievers:
            indexes = [self.index(document, progress) for document in documents]
            self._retrievers = {key: Retriever(indexes, self.embedder)}  # the set in use, only
        return self._retrievers[key]

    def _pages(self, document: Attached) -> Sequence[str]:
        data = self.uploads.data(document.digest)
        if data is None:
            raise DocumentFileMissing(name=document.name)
        return read_pdf(data, document.name).pages
