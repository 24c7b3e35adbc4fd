"""Reading a PDF's text with pypdf, page by page, and saying plainly why not.

Every way an upload can fail has its own ``PDFError`` with a message for the
user: not a PDF, empty, too large, corrupt, encrypted without or with a wrong
password, a scan with no text layer (it needs OCR), or a file built to exhaust
a reader (``BeyondLimits``).

A PDF is parsed in child processes (``chat_core.child``), never in the app's: a
small file can expand to gigabytes or hours of work, and only a process can be
stopped at any point and given a memory ceiling.  Two processes read alternate pages, which also
makes a long document read faster on two cores (bench/pdf_extraction.py).
``ReadLimits`` bounds pages, characters, time and memory; a document over a
limit is read up to it, and says so (``Document.notice``).
"""

from __future__ import annotations

import io
import logging
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import pypdf
from pypdf.errors import FileNotDecryptedError, LimitReachedError, PdfReadError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

from chat_core.child import serve, start
from chat_core.errors import ChatError
from chat_core.i18n import Message, Text, plural

MAX_BYTES = 20 * 1024 * 1024

# pypdf logs a warning for every font it cannot fully parse (hundreds for GeoTopo):
# noise for a user, who is told what matters through PDFError.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class PDFError(ChatError):
    pass


class NotAPDF(PDFError):
    en = "{name} is not a PDF (it does not start like one), whatever its name says."
    ko = "{name}은 이름과 달리 PDF가 아닙니다(PDF처럼 시작하지 않습니다)."


class EmptyFile(PDFError):
    en = "{name} is empty (0 bytes). Choose the file again."
    ko = "{name} 파일이 비어 있습니다(0바이트). 파일을 다시 선택하세요."


class FileTooLarge(PDFError):
    en = "{name} is {size:.1f} MB; the limit is {limit:.0f} MB."
    ko = "{name}은 {size:.1f}MB입니다. 한도는 {limit:.0f}MB입니다."


class CorruptPDF(PDFError):
    en = "{name} is damaged or truncated and cannot be read ({detail})."
    ko = "{name}이 손상되었거나 잘려서 읽을 수 없습니다({detail})."


class NoPages(CorruptPDF):
    en = "{name} has no pages."
    ko = "{name}에 페이지가 없습니다."


class PasswordRequired(PDFError):
    en = "{name} is encrypted: enter its password to read it."
    ko = "{name}은 암호화되어 있습니다. 읽으려면 비밀번호를 입력하세요."


class WrongPassword(PDFError):
    en = "The password for {name} is wrong. Try again."
    ko = "{name}의 비밀번호가 틀렸습니다. 다시 입력하세요."


class NoTextLayer(PDFError):
    # ``pages``: the page count with its noun, as ``i18n.plural`` makes it.
    en = (
        "{name} has {pages} but no text to read: it is probably scanned. "
        "Run it through OCR first, then upload the result."
    )
    ko = (
        "{name}은 {total}쪽이지만 읽을 글자가 없습니다. 스캔한 문서일 것입니다. "
        "먼저 OCR을 거친 뒤 그 결과를 올리세요."
    )


class BeyondLimits(PDFError):
    """Not even a first page could be read within ``ReadLimits``."""

    en = "{name} could not be read: {notice}"
    ko = "{name}을 읽을 수 없습니다: {notice}"


class NoReadableText(BeyondLimits):
    """Pages were read, but what text they have is in the parts left out."""

    en = "{name} has no text that could be read. {notice}"
    ko = "{name}에서 읽을 수 있는 글이 없습니다. {notice}"


def _setting(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class ReadLimits:
    """How much one PDF may take to read; each has an environment variable."""

    pages: int = 2_000  # PDF_MAX_PAGES
    characters: int = 3_000_000  # PDF_MAX_CHARACTERS: about 1,500 pages of dense text
    seconds: float = 30  # PDF_MAX_SECONDS
    memory_mb: int = 768  # PDF_MAX_MEMORY_MB, for each reading process

    @classmethod
    def from_environment(cls) -> ReadLimits:
        defaults = cls()
        return cls(
            int(_setting("PDF_MAX_PAGES", defaults.pages)),
            int(_setting("PDF_MAX_CHARACTERS", defaults.characters)),
            _setting("PDF_MAX_SECONDS", defaults.seconds),  # fractions of a second allowed
            int(_setting("PDF_MAX_MEMORY_MB", defaults.memory_mb)),
        )


@dataclass(frozen=True)
class Document:
    name: str
    pages: tuple[str, ...]
    notice: Text | None = None  # why only part of the document was read
    protected: bool = False  # opened with a password: its text is not to be kept

    @property
    def page_count(self) -> int:
        return len(self.pages)

    @property
    def text(self) -> str:
        return "\n\n".join(page for page in self.pages if page)

    @property
    def characters(self) -> int:
        return sum(len(page) for page in self.pages)


def read_pdf(
    data: bytes,
    name: str = "document.pdf",
    *,
    password: str | None = None,
    max_bytes: int = MAX_BYTES,
    limits: ReadLimits | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Document:
    """The text of every page, up to ``limits``; ``progress(done, total)`` after each page."""
    if not data:
        raise EmptyFile(name=name)
    if len(data) > max_bytes:
        raise FileTooLarge(name=name, size=len(data) / 2**20, limit=max_bytes / 2**20)
    if b"%PDF-" not in data[:1024]:
        raise NotAPDF(name=name)
    reading = _Reading(name, limits or ReadLimits.from_environment(), progress)
    pages = reading.run(data, password)
    if not pages:
        raise NoPages(name=name)
    document = Document(name, tuple(pages), reading.notice, reading.protected)
    if not document.text.strip() and (reading.left_out or reading.nested):
        raise NoReadableText(name=name, notice=document.notice)
    if not document.text.strip():
        total = reading.total
        raise NoTextLayer(name=name, pages=plural(total, "page", "pages"), total=total)
    return document


_WORKERS = 2
# pypdf inflates a stream up to 75 MB by default: one string of 60 million letters
# takes it 17 s and a gigabyte.  A page of text is kilobytes; a page's stream past
# this is left out (its page read as empty, and the user told).
_STREAM_BYTES = 8 * 2**20
_STREAM_LIMITS = {
    f"{kind}_maximum_output_length": _STREAM_BYTES
    for kind in ("zlib", "lzw", "run_length", "brotli", "jbig2")
}


# Forms drawn inside forms that text is read from; pypdf follows them by recursion,
# about three frames a level, so the interpreter's limit is raised to match.  Real
# documents nest forms a few levels deep; a page nesting past this keeps the text
# outside, and the user is told.
_NESTING = 1_000
_RECURSION_LIMIT = 10_000
# Inherited by a page from the nodes above it in the page tree (PDF 32000-1, 7.7.3.4).
_INHERITED = tuple(NameObject(key) for key in ("/Resources", "/MediaBox", "/CropBox", "/Rotate"))

# What a document read in part says (``Document.notice``): where reading stopped, and why
# (by the ``ReadLimits`` field reached), and which pages' text is left out.
READ_UP_TO = Message(
    "Read up to page {pages:,} of {total:,} ({characters:,} characters). {why}",
    "전체 {total:,}쪽 중 {pages:,}쪽까지만 읽었습니다({characters:,}자). {why}",
)
LIMIT_REACHED = {
    "seconds": Message(
        "Reading took longer than {limit:g} s (PDF_MAX_SECONDS).",
        "읽는 데 {limit:g}초 넘게 걸렸습니다(PDF_MAX_SECONDS).",
    ),
    "pages": Message(
        "Only the first {limit:,} pages are read (PDF_MAX_PAGES).",
        "처음 {limit:,}쪽만 읽습니다(PDF_MAX_PAGES).",
    ),
    "characters": Message(
        "The text reached the limit of {limit:,} characters (PDF_MAX_CHARACTERS).",
        "글자 수가 한도인 {limit:,}자에 이르렀습니다(PDF_MAX_CHARACTERS).",
    ),
    "memory_mb": Message(
        "A page needed more than {limit} MB of memory (PDF_MAX_MEMORY_MB).",
        "한 페이지가 {limit}MB 넘는 메모리를 요구했습니다(PDF_MAX_MEMORY_MB).",
    ),
}
LEFT_OUT = Message(
    "Left out as too large to read (over {megabytes} MB of drawing): page {pages}.",
    "너무 커서 읽지 않은 페이지(그리기 명령 {megabytes}MB 초과): {pages}쪽.",
)
NESTED_TOO_DEEP = Message(
    "Text drawn nested more than {depth:,} deep is left out: page {pages}.",
    "{depth:,}단계 넘게 중첩되어 그려진 글은 읽지 않았습니다: {pages}쪽.",
)


class _TooDeep(Exception):
    pass


def _first_pages(reader: pypdf.PdfReader, count: int) -> Iterator[pypdf.PageObject]:
    """The first ``count`` pages in order, each built when it is reached.  Written
    here because pypdf's ``reader.pages`` builds every page before it gives the first
    (1.5 s for the 20,000 of bench/hostile_pdfs.py, in each reading process), while a
    read stops at ``count`` or at the character limit.  pypdf's guards on the tree
    are kept: its depth and entry limits, and no node inside itself."""
    limits = pypdf.get_configuration()
    walking: list[tuple[Iterator[Any], dict[str, Any], frozenset[int]]] = [
        (iter([reader.root_object["/Pages"]]), {}, frozenset())
    ]
    entries = 0
    while walking and count > 0:
        kids, inherited, above = walking[-1]
        if (kid := next(kids, None)) is None:
            walking.pop()
            continue
        node = kid.get_object()
        if not isinstance(node, DictionaryObject) or not node:
            continue
        entries += 1
        if entries > limits.page_tree_maximum_entries or len(walking) > limits.page_tree_maximum_depth:
            raise LimitReachedError("The page tree is too large or too deep.")
        if node.get("/Type", "/Pages" if "/Kids" in node else "/Page") == "/Pages":
            if id(node) in above:
                raise PdfReadError("The page tree contains itself.")
            here = inherited | {key: node[key] for key in _INHERITED if key in node}
            walking.append((iter(node.get("/Kids", ArrayObject()).get_object()), here, above | {id(node)}))
            continue
        page = pypdf.PageObject(reader, kid if isinstance(kid, IndirectObject) else None)
        if not page:
            page.update(node)
        for key, value in inherited.items():
            page.setdefault(key, value)
        yield page
        count -= 1


def _page_text(page: pypdf.PageObject) -> tuple[str, bool]:
    """A page's text, and whether forms nested past ``_NESTING`` were left out of it."""
    depth, too_deep = 0, False

    def before(operator: bytes, *_: Any) -> None:
        nonlocal depth, too_deep
        if operator == b"Do":
            if depth == _NESTING:
                too_deep = True
                raise _TooDeep  # pypdf leaves this form out, and goes on with the rest
            depth += 1

    def after(operator: bytes, *_: Any) -> None:
        nonlocal depth
        if operator == b"Do":
            depth -= 1

    text = page.extract_text(visitor_operand_before=before, visitor_operand_after=after)
    return text or "", too_deep


def _read_pages(task: tuple[Any, ...], connection: Connection) -> None:
    """A child process (``chat_core.child``) sends ("total", pages the file declares, protected),
    then pages ``first``, ``first + _WORKERS``, ... one by one as ("page", index, text), each
    preceded by ("oversized" | "nested", index) if it is left out in whole or in part, then
    ("end", pages found up to one past the limit); or one ("locked" | "corrupt" | "memory", detail)."""
    data, password, first, pages, characters, memory_mb = task
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
    sys.setrecursionlimit(_RECURSION_LIMIT)
    pypdf.overwrite_configuration(**_STREAM_LIMITS)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        # Encrypted with an empty user password (permissions only), anyone can read it.
        protected = reader.is_encrypted and not reader.decrypt("")
        if protected and not reader.decrypt(password or ""):
            connection.send(("locked", bool(password)))
            return
        declared = reader.root_object["/Pages"].get_object().get("/Count", 0)
        connection.send(("total", declared if isinstance(declared, int) else 0, protected))
        found = 0
        for index, page in enumerate(_first_pages(reader, pages + 1)):  # one more: is there more?
            found = index + 1
            if index % _WORKERS != first or index == pages:
                continue
            try:
                text, too_deep = _page_text(page)
            except LimitReachedError:
                connection.send(("oversized", index))
                text, too_deep = "", False
            except RecursionError:  # nested past the interpreter's limit another way
                text, too_deep = "", True
            if too_deep:
                connection.send(("nested", index))
            connection.send(("page", index, text[: characters + 1]))
        connection.send(("end", found))
    except FileNotDecryptedError:
        connection.send(("locked", False))
    except MemoryError:
        connection.send(("memory", None))
    except Exception as error:  # whatever pypdf raises on a damaged file, it is unreadable
        connection.send(("corrupt", str(error)[:300]))
    finally:
        connection.close()


class _Reading:
    """One PDF read by ``_WORKERS`` child processes, collected here in page order."""

    def __init__(self, name: str, limits: ReadLimits, progress: Callable[[int, int], None] | None) -> None:
        self.name, self.limits, self.progress = name, limits, progress
        self.total = 0
        self.protected = False
        self._cut: Text | None = None  # why reading stopped before the end
        self._texts: dict[int, str] = {}
        # In the pages received from the first without a gap: what would be kept.
        self._characters = self._gapless = 0
        self.left_out: list[int] = []  # page numbers too large to read
        self.nested: list[int] = []  # page numbers with forms nested past _NESTING

    def run(self, data: bytes, password: str | None) -> list[str]:
        deadline = time.monotonic() + self.limits.seconds
        limits = self.limits
        children, connections = [], []
        try:
            for first in range(_WORKERS):
                task = (data, password, first, limits.pages, limits.characters, limits.memory_mb)
                child, receiving = start(__name__, task)
                children.append(child)
                connections.append(receiving)
            while connections:
                ready = wait(connections, timeout=max(0.0, deadline - time.monotonic()))
                if not ready:
                    return self._stopped(self._limit_notice("seconds"))
                for connection in ready:
                    try:
                        message = connection.recv()
                    except EOFError:  # finished, or killed at its memory ceiling
                        connections.remove(connection)
                        connection.close()
                        continue
                    if (stop := self._take(message)) is not None:
                        return self._stopped(stop)
            if self.total == 0 or len(self._texts) < self._wanted():  # a child died early
                return self._stopped(self._limit_notice("memory_mb"))
            if self.total > limits.pages:
                return self._stopped(self._limit_notice("pages"))
            return self._pages()
        finally:
            for child in children:
                child.kill()
                child.wait()
            for connection in connections:
                connection.close()

    def _wanted(self) -> int:
        return min(self.total, self.limits.pages)

    def _take(self, message: tuple[Any, ...]) -> Text | None:
        """Handle a child's message; a notice when reading must stop here."""
        kind = message[0]
        if kind == "total":
            self.total, self.protected = message[1], message[2]
        elif kind == "end":  # the pages found, counted up to one past the page limit
            self.total = message[1] if message[1] <= self.limits.pages else max(self.total, message[1])
        elif kind == "page":
            self._texts[message[1]] = message[2]
            while self._gapless in self._texts:
                self._characters += len(self._texts[self._gapless])
                self._gapless += 1
            if self.progress:
                self.progress(len(self._texts), max(self._wanted(), len(self._texts)))
            if self._characters > self.limits.characters:
                return self._limit_notice("characters")
        elif kind == "locked":
            if message[1]:
                raise WrongPassword(name=self.name)
            raise PasswordRequired(name=self.name)
        elif kind == "corrupt":
            raise CorruptPDF(name=self.name, detail=message[1])
        elif kind == "oversized":
            self.left_out.append(message[1] + 1)
        elif kind == "nested":
            self.nested.append(message[1] + 1)
        elif kind == "memory":
            return self._limit_notice("memory_mb")
        return None

    def _pages(self) -> list[str]:
        """The pages read so far, from the first, without a gap."""
        pages = []
        while len(pages) in self._texts:
            pages.append(self._texts[len(pages)])
        return pages

    def _stopped(self, notice: Text) -> list[str]:
        pages = self._pages()
        if not pages:
            raise BeyondLimits(name=self.name, notice=notice)
        kept, room = [], self.limits.characters
        for page in pages:
            kept.append(page[:room])
            room -= len(kept[-1])
            if not room:
                break
        self._cut = READ_UP_TO.format(
            pages=len(kept), total=self.total, characters=sum(map(len, kept)), why=notice
        )
        return kept

    @property
    def notice(self) -> Text | None:
        """What the user should know about the text read: where it stops, what is left out."""
        notices = [self._cut] if self._cut else []
        if self.left_out:
            pages = ", ".join(str(page) for page in sorted(self.left_out))
            notices.append(LEFT_OUT.format(megabytes=_STREAM_BYTES // 2**20, pages=pages))
        if self.nested:
            pages = ", ".join(str(page) for page in sorted(self.nested))
            notices.append(NESTED_TOO_DEEP.format(depth=_NESTING, pages=pages))
        return Text.joined(notices)

    def _limit_notice(self, which: str) -> Text:
        """Why reading stops: the ``ReadLimits`` field ``which`` was reached."""
        return LIMIT_REACHED[which].format(limit=getattr(self.limits, which))


if __name__ == "__main__":
    serve(_read_pages)
