"""Tokens per character of real documents with the bundled model's tokenizer,
against the estimate used for remote models (``chat_core.models.budget.estimate_tokens``),
which must never fall below it: history is windowed by it.  Not a speed figure;
counted once, as counting does not vary."""

from __future__ import annotations

from pathlib import Path

from bench.results import Figure, Spread, figure
from chat_core.documents.pdf import read_pdf
from chat_core.local import model as local_model
from chat_core.models.budget import estimate_tokens
from tests.shared import PDFS

DOCUMENTS = {
    "error_code.pdf": "Korean",
    "pdflatex-4-pages.pdf": "English",
    "multicolumn.pdf": "Latin filler",
    "GeoTopo-komprimiert.pdf": "German, maths",
    "habibi.pdf": "Arabic",
}


def run(quick: bool, out: Path) -> list[Figure]:
    figures = []
    for name, language in DOCUMENTS.items():
        text = "\n".join(read_pdf((PDFS / name).read_bytes(), name).pages[:20])
        real = Spread((local_model.count_tokens(text) / len(text),))
        estimate = Spread((estimate_tokens(text) / len(text),))
        figures.append(
            figure(
                f"Tokens per character, {name} ({language})",
                real,
                "tokens/char",
                "remote-model estimate",
                estimate,
                ratio=estimate.median / real.median,
                ratio_means="estimate / SmolLM2's count",
                target=">= 1.0",
            )
        )
    return figures
