"""Figure 3: PDF text extraction, pages per second, on GeoTopo (117 pages).

Ours is ``chat_core.documents.pdf.read_pdf`` (checks, limits, progress): pypdf in two
child processes reading alternate pages, started for each file.  The baseline is
pypdf's own ``PdfReader`` + ``extract_text`` per page in this process; pypdfium2
(PDFium, in C) is reported for scale, not used by the app.
"""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
import pypdfium2

from bench.results import Figure, Spread, figure, interleaved, timed
from chat_core.documents.pdf import read_pdf
from tests.shared import PDFS

GEOTOPO = PDFS / "GeoTopo-komprimiert.pdf"


def _pypdf(data: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]


def _pdfium(data: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(data)
    try:
        return [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()


def run(quick: bool, out: Path) -> list[Figure]:
    data = GEOTOPO.read_bytes()
    pages = len(pypdf.PdfReader(io.BytesIO(data)).pages)
    seconds = interleaved(
        {
            "ours": lambda: timed(lambda: read_pdf(data, GEOTOPO.name)),
            "pypdf": lambda: timed(lambda: _pypdf(data)),
            "pypdfium2": lambda: timed(lambda: _pdfium(data)),
        },
        2 if quick else 9,
    )
    rate = {name: Spread(tuple(pages / s for s in spread.samples)) for name, spread in seconds.items()}
    ours = rate["ours"]
    return [
        figure(
            f"PDF extraction, GeoTopo ({pages} pages), read_pdf",
            ours,
            "pages/s",
            "pypdf direct",
            rate["pypdf"],
            ratio=ours.median / rate["pypdf"].median,
            ratio_means="ours / pypdf",
            target=">= 1.0",
            note="two processes on two cores, each started for the file (about 0.13 s)",
        ),
        figure(
            f"PDF extraction, GeoTopo ({pages} pages), read_pdf vs pypdfium2",
            ours,
            "pages/s",
            "pypdfium2 (reported only)",
            rate["pypdfium2"],
            ratio=ours.median / rate["pypdfium2"].median,
            ratio_means="ours / pypdfium2",
        ),
    ]
