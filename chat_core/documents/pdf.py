"""Reading a PDF's text with pypdf, page by page, and saying plainly why not.

Every way an upload can fail has its own ``PDFError`` with a message for the
user: not a PDF, empty, too large, corrupt, encrypted without or with a wrong
password, or a scan with no text layer (it needs OCR).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass

import pypdf
from pypdf.errors import FileNotDecryptedError, PdfReadError

from chat_core.errors import ChatError

MAX_BYTES = 20 * 1024 * 1024

# pypdf logs a warning for every font it cannot fully parse (hundreds for GeoTopo):
# noise for a user, who is told what matters through PDFError.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class PDFError(ChatError):
    pass


class NotAPDF(PDFError):
    pass


class EmptyFile(PDFError):
    pass


class FileTooLarge(PDFError):
    pass


class CorruptPDF(PDFError):
    pass


class PasswordRequired(PDFError):
    pass


class WrongPassword(PDFError):
    pass


class NoTextLayer(PDFError):
    pass


@dataclass(frozen=True)
class Document:
    name: str
    pages: tuple[str, ...]

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
    progress: Callable[[int, int], None] | None = None,
) -> Document:
    """The text of every page; ``progress(done, total)`` after each page."""
    if not data:
        raise EmptyFile(
            f"{name} is empty (0 bytes). Choose the file again.",
            ko=f"{name} 파일이 비어 있습니다(0바이트). 파일을 다시 선택하세요.",
        )
    if len(data) > max_bytes:
        size, limit = f"{len(data) / 2**20:.1f}", f"{max_bytes / 2**20:.0f}"
        raise FileTooLarge(
            f"{name} is {size} MB; the limit is {limit} MB.",
            ko=f"{name}은 {size}MB입니다. 한도는 {limit}MB입니다.",
        )
    if b"%PDF-" not in data[:1024]:
        raise NotAPDF(
            f"{name} is not a PDF (it does not start like one), whatever its name says.",
            ko=f"{name}은 이름과 달리 PDF가 아닙니다(PDF처럼 시작하지 않습니다).",
        )
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(password or ""):
            if password:
                raise WrongPassword(
                    f"The password for {name} is wrong. Try again.",
                    ko=f"{name}의 비밀번호가 틀렸습니다. 다시 입력하세요.",
                )
            raise _password_required(name)
        total = len(reader.pages)
        pages = []
        for number, page in enumerate(reader.pages, start=1):
            pages.append(page.extract_text() or "")
            if progress:
                progress(number, total)
    except PDFError:
        raise
    except FileNotDecryptedError as error:
        raise _password_required(name) from error
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        raise CorruptPDF(
            f"{name} is damaged or truncated and cannot be read ({error}).",
            ko=f"{name}이 손상되었거나 잘려서 읽을 수 없습니다({error}).",
        ) from error
    if total == 0:
        raise CorruptPDF(f"{name} has no pages.", ko=f"{name}에 페이지가 없습니다.")
    document = Document(name, tuple(pages))
    if not document.text.strip():
        raise NoTextLayer(
            f"{name} has {total} page{'s' if total != 1 else ''} but no text to read: it is probably "
            "scanned. Run it through OCR first, then upload the result.",
            ko=f"{name}은 {total}쪽이지만 읽을 글자가 없습니다. 스캔한 문서일 것입니다. 먼저 OCR을 거친 뒤 "
            "그 결과를 올리세요.",
        )
    return document


def _password_required(name: str) -> PasswordRequired:
    return PasswordRequired(
        f"{name} is encrypted: enter its password to read it.",
        ko=f"{name}은 암호화되어 있습니다. 읽으려면 비밀번호를 입력하세요.",
    )
