"""Tokens per character of real documents, with the bundled model's tokenizer,
against the estimate used for remote models (chat_core.tokens.estimate_tokens).

    .venv/bin/python bench/tokens_per_char.py
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pypdf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chat_core import local_model
from chat_core.tokens import estimate_tokens

PDFS = Path(__file__).resolve().parents[2] / "shared" / "pdfs"
DOCUMENTS = {
    "error_code.pdf": "Korean",
    "pdflatex-4-pages.pdf": "English",
    "multicolumn.pdf": "Latin filler",
    "GeoTopo-komprimiert.pdf": "German, maths",
    "habibi.pdf": "Arabic",
}


def main() -> None:
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    print("| document | language | characters | tokens (SmolLM2) | tokens/char | estimate / real |")
    print("|---|---|---|---|---|---|")
    for name, language in DOCUMENTS.items():
        reader = pypdf.PdfReader(PDFS / name)
        text = "\n".join(page.extract_text() for page in reader.pages[:20])
        real = local_model.count_tokens(text)
        ratio = estimate_tokens(text) / real
        print(f"| {name} | {language} | {len(text)} | {real} | {real / len(text):.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
