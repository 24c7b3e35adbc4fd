"""A document's pages cut into passages: what is embedded, searched and cited.

A passage never crosses a page: each is cut from one page's text, so the page a
citation names is the page the passage's words are on.  Passages are sized in
tokens of the bundled embedding model's tokenizer (XLM-RoBERTa's, multilingual):
Hangul and Latin text get passages of the same weight, and a passage fits the
embedding model's 512-token window with room to spare.  Each carries the
heading it falls under, where the document numbers its headings ("2.1
Topologische Mannigfaltigkeiten"), carried across pages: it is embedded with
the passage and shown with it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from chat_core.local.embedding import token_count

# Tokens per passage, and shared by neighbours on a page: enough for a paragraph
# that answers a question, small enough that five of them fit a 2,048-token window.
PASSAGE_TOKENS = 200
OVERLAP_TOKENS = 30
# A numbered heading: "3", "2.1" then a title of words: not a table row of figures,
# nor a contents line ("1.2 Metrische Räume . . . . 6"), nor a sentence, nor a
# running header ("60 3.3. ÜBERLAGERUNGEN").
_HEADING = re.compile(r"\d{1,2}(?:\.\d{1,2}){0,3}\.?\s+(?=.*[^\W\d_]{4})[^\W\d_][\w \-–'()]{1,76}[^\W\d_)]")
# Control characters some PDFs' text carries (figure labels): noise to every reader.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Passage:
    page: int  # 1-based, as the reader counts pages
    text: str
    heading: str = ""

    @property
    def embedded(self) -> str:
        """The text the embedding model sees: the heading gives a passage its topic."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text


def _heading(line: str) -> str | None:
    line = line.strip()
    return line if _HEADING.fullmatch(line) else None


def _splitter() -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=PASSAGE_TOKENS,
        chunk_overlap=OVERLAP_TOKENS,
        length_function=token_count,
        separators=["\n\n", "\n", ". ", "。", " ", ""],
        keep_separator="end",
    )


def page_passages(pages: Sequence[str]) -> Iterator[list[Passage]]:
    """Each page's passages, page by page (none for a page without text)."""
    splitter = _splitter()
    heading = ""
    for number, page in enumerate(pages, start=1):
        passages: list[Passage] = []
        # NFKC: ligatures ("ﬀ") become letters that the tokenizer and BM25 can match.
        text = _CONTROL.sub(" ", unicodedata.normalize("NFKC", page))
        sections: list[tuple[str, list[str]]] = [(heading, [])]
        for line in text.splitlines():
            if found := _heading(line):
                sections.append((found, []))
            sections[-1][1].append(line)
        for under, lines in sections:
            body = "\n".join(lines).strip()
            heading = under
            if not body:
                continue
            passages.extend(Passage(number, chunk.strip(), under) for chunk in splitter.split_text(body))
        yield [passage for passage in passages if passage.text]
