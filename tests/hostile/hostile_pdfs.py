"""Hostile PDFs, written byte by byte as an attacker would: pypdf's writer would
refuse or rewrite what makes them hostile."""

from __future__ import annotations

import zlib

FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def pdf_bytes(objects: list[bytes]) -> bytes:
    """A PDF of ``objects`` (numbered from 1; object 1 is the catalog) with a valid xref."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def stream(content: bytes) -> bytes:
    packed = zlib.compress(content, 9)
    return b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream"


def page(contents: int, parent: int = 2, font: int = 4) -> bytes:
    return (
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
        b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (parent, contents, font)
    )


def text_bomb(characters: int = 60_000_000) -> bytes:
    """One page whose one compressed stream (a few dozen KB) shows ``characters`` letters."""
    content = b"BT /F1 12 Tf 72 720 Td (" + b"A" * characters + b") Tj ET"
    catalog, pages = b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    return pdf_bytes([catalog, pages, page(5), FONT, stream(content)])


def shared_pages(pages: int = 20_000, line: bytes = b"Every page shows this same sentence. " * 50) -> bytes:
    """``pages`` pages that all draw one content stream: a small file, a huge text."""
    kids = b" ".join(b"%d 0 R" % (6 + i) for i in range(pages))
    content = b"BT /F1 12 Tf 72 720 Td (" + line + b") Tj ET"
    return pdf_bytes(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
            b"<< >>",  # unused: object numbers stay simple
            FONT,
            stream(content),
        ]
        + [page(5) for _ in range(pages)]
    )


def layout_export(pages: int = 23, rows: int = 90, columns: int = 2) -> bytes:
    """A ``pages``-page report as a layout-preserving export writes it: short table
    rows whose columns are padded with runs of spaces and tabs, trailing ones too,
    all kept by pypdf's extraction."""
    words = b"invoice total amount due date customer region quarter revenue cost margin".split()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", b"<< >>", FONT]
    kids = []
    for number in range(pages):
        shown = []
        for row in range(rows):
            line = b""
            for column in range(columns):
                line += b"%s %d" % (words[(number + row + column) % len(words)], number * 1000 + row)
                line += b" " * (8 + (row * 7 + column * 13) % 40) if column % 2 else b"\t" * (1 + row % 5)
            shown.append(b"(" + line + b") Tj T*")
        objects.append(stream(b"BT /F1 8 Tf 8 TL 36 760 Td " + b" ".join(shown) + b" ET"))
        objects.append(page(len(objects)))
        kids.append(len(objects))
    listed = b" ".join(b"%d 0 R" % kid for kid in kids)
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (listed, pages)
    return pdf_bytes(objects)


def nested_forms(depth: int, text: bytes = b"Deep inside the nested forms") -> bytes:
    """One page drawing a form XObject that draws another, ``depth`` forms deep,
    the last of which shows ``text``: nesting a reader walks by recursion."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R "
        b"/Resources << /Font << /F1 4 0 R >> /XObject << /X 6 0 R >> >> >>",
        FONT,
        stream(b"/X Do"),
    ]
    for level in range(depth):
        number = len(objects) + 1
        inner = b"/X Do" if level < depth - 1 else b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET"
        packed = zlib.compress(inner, 9)
        objects.append(
            b"<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Length %d /Filter /FlateDecode "
            b"/Resources << /Font << /F1 4 0 R >> /XObject << /X %d 0 R >> >> >>\nstream\n"
            % (len(packed), number + 1)
            + packed
            + b"\nendstream"
        )
    return pdf_bytes(objects)


def nested_arrays(depth: int = 100_000) -> bytes:
    """Two pages: the first's drawing holds an array ``depth`` arrays deep (a reader
    parses it by recursion), the second shows a line of text."""
    deep = b"[" * depth + b"]" * depth + b" pop"
    shown = b"BT /F1 12 Tf 72 720 Td (The second page reads fine) Tj ET"
    return pdf_bytes(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
            page(6, font=5),
            page(7, font=5),
            FONT,
            stream(deep),
            stream(shown),
        ]
    )
