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
        raise EmptyFile(f"{name} is empty (0 bytes). Choose the file again.")
    if len(data) > max_bytes:
        raise FileTooLarge(f"{name} is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB.")
    if b"%PDF-" not in data[:1024]:
        raise NotAPDF(f"{name} is not a PDF (it does not start like one), whatever its name says.")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(password or ""):
            if password:
                raise WrongPassword(f"The password for {name} is wrong. Try again.")
            raise PasswordRequired(f"{name} is encrypted: enter its password to read it.")
        total = len(reader.pages)
        pages = []
        for number, page in enumerate(reader.pages, start=1):
            pages.append(page.extract_text() or "")
            if progress:
                progress(number, total)
    except PDFError:
        raise
    except FileNotDecryptedError as error:
        raise PasswordRequired(f"{name} is encrypted: enter its password to read it.") from error
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        raise CorruptPDF(f"{name} is damaged or truncated and cannot be read ({error}).") from error
    if total == 0:
        raise CorruptPDF(f"{name} has no pages.")
    document = Document(name, tuple(pages))
    if not document.text.strip():
        raise NoTextLayer(
            f"{name} has {total} page{'s' if total != 1 else ''} but no text to read: it is probably "
            "scanned. Run it through OCR first, then upload the result."
        )
    return document
