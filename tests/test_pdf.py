"""Reading PDFs: the real files in tests/pdfs, and bad files made here."""

import functools
import subprocess
import sys
from pathlib import Path

import pytest
from shared import BAD_FILES, PDFS, ROOT

from chat_core.documents.pdf import (
    Document,
    FileTooLarge,
    PasswordRequired,
    WrongPassword,
    read_pdf,
)
from chat_core.documents.summaries import instruction_for, language


def pdf(name: str) -> bytes:
    return (PDFS / name).read_bytes()


@functools.cache  # GeoTopo takes 3 s, and two tests read it
def read_with_progress(name: str) -> tuple[Document, list[tuple[int, int]]]:
    seen: list[tuple[int, int]] = []
    document = read_pdf(pdf(name), name, progress=lambda done, total: seen.append((done, total)))
    return document, seen


@pytest.mark.parametrize(
    ("name", "pages", "starts_with"),
    [
        ("minimal-document.pdf", 1, "Lorem ipsum dolor sit amet"),
        ("pdflatex-4-pages.pdf", 4, "Hello, here is some text"),
        ("multicolumn.pdf", 3, "Two-Column Document"),
        ("GeoTopo-komprimiert.pdf", 117, "Einführung in die"),
        ("habibi.pdf", 1, "حَبيبي"),
        ("error_code.pdf", 4, "보일러 에러코드"),
    ],
)
def test_real_pdfs_give_their_pages_and_text(name: str, pages: int, starts_with: str) -> None:
    document, seen = read_with_progress(name)
    assert document.page_count == pages
    assert document.pages[0].startswith(starts_with)
    assert seen == [(n, pages) for n in range(1, pages + 1)]  # progress, page by page


def test_geotopo_is_read_whole() -> None:
    assert 130_000 < read_with_progress("GeoTopo-komprimiert.pdf")[0].characters < 145_000


def test_the_encrypted_pdf_needs_its_password() -> None:
    with pytest.raises(PasswordRequired, match="enter its password"):
        read_pdf(pdf("libreoffice-writer-password.pdf"))
    with pytest.raises(WrongPassword, match=r"password .* is wrong"):
        read_pdf(pdf("libreoffice-writer-password.pdf"), password="guess")
    assert read_pdf(pdf("libreoffice-writer-password.pdf"), password="openpassword").text.strip()


def test_korean_documents_get_the_korean_prompt() -> None:
    korean = read_pdf(pdf("error_code.pdf")).text
    assert language(korean) == "ko"
    assert instruction_for(korean, "short") == "다음 글을 세 문장에서 다섯 문장으로 요약해 주세요."
    assert instruction_for(korean, "detailed").startswith("다음 글을 자세히")
    english = read_pdf(pdf("pdflatex-4-pages.pdf")).text
    assert language(english) == "en" and instruction_for(english, "short").startswith("Summarize")


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_files_each_get_their_own_message(name: str) -> None:
    data, error, message = BAD_FILES[name]
    with pytest.raises(error, match=message):
        read_pdf(data, name)


def test_a_file_over_the_limit_is_refused() -> None:
    with pytest.raises(FileTooLarge, match="the limit is 1 MB"):
        read_pdf(pdf("GeoTopo-komprimiert.pdf"), max_bytes=2**20)


@pytest.mark.parametrize("name", ["renamed.pdf", "empty.pdf", "truncated.pdf", "thousands.pdf"])
def test_the_command_line_says_one_line_and_exits_2(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name][0])
    run = subprocess.run(
        [sys.executable, "-m", "chat_core", "summarize", str(path)], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: ")
    assert run.stdout == ""


def test_the_command_line_prints_the_page_count_and_the_summary() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "chat_core", "summarize", str(PDFS / "minimal-document.pdf")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    first, *summary = run.stdout.splitlines()
    assert first == "1 page, 595 characters" and "".join(summary).strip()
    assert "chunk 1/1" in run.stderr


def test_the_command_line_asks_for_the_password(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "chat_core", "summarize", str(PDFS / "libreoffice-writer-password.pdf")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "enter its password" in run.stderr
