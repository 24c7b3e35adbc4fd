"""An answer's citations checked against the passages that answer was given.

A model cites ``[file p. N]`` (grounding.py labels each passage so), but a model
can cite a page it was never shown: SmolLM2 wrote "[gen-ai-aws.pdf p. 2]" of a
one-page PDF.  A citation counts (``verified``) only when the answer was given a
passage of that page of that file; the file is matched by its name, with or
without the folders it was given with (``ask`` names files as the user typed them,
a model often drops the folders).  Whatever the answer says without citing is
left as it is: only what claims a source is checked.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from chat_core.i18n import Message
from chat_core.markdown import safe_markdown
from chat_core.retrieval.search import Source

# A bracket that cites: "[file p. N]" as the passages are labelled, and what models
# write besides: "[file, p. N]", "p.N", "page N", "pp. N", a list or a range of
# pages ("p. 1, p. 2", "pp. 1-2", "pages 1 and 2"), Korean "[file 2쪽]", and several
# files in one bracket, apart by ";".  A regular expression per part, not a parser
# library: the grammar is these few lines.
_BRACKET = re.compile(r"\[(?P<inside>[^\[\]\n]+)\]")
_PAGES = r"\d{1,6}(?:\s*[-–]\s*\d{1,6})?"  # a page or a range
_MARK = r"(?:pp?\.|pages?)\s*"
_PART = re.compile(
    rf"(?P<file>.+?),?\s+(?:(?P<marked>{_MARK}{_PAGES}(?:\s*(?:,|and|&)\s*(?:{_MARK})?{_PAGES})*)"
    rf"|(?P<korean>{_PAGES}(?:\s*,\s*{_PAGES})*)\s*(?:쪽|페이지))",
    re.IGNORECASE,
)
_RANGE = re.compile(r"(?P<first>\d+)(?:\s*[-–]\s*(?P<last>\d+))?")
RANGE_MAX = 100  # pages a cited range may span: "p. 1-999999" is two pages, not a million

# What the model is told to answer when its passages do not answer (grounding.py),
# and what every notice saying so opens with.
NOT_ANSWERED = Message("The documents do not answer this.", "문서에는 이 질문의 답이 없습니다.")
UNVERIFIED = Message(
    "(unverified: not a passage this answer was given)",
    "(확인되지 않음: 이 답변에 주어진 구절이 아닙니다)",
)


@dataclass(frozen=True)
class Citation:
    file: str  # as the answer wrote it
    page: int
    verified: bool
    start: int  # where the bracket it is in is in the answer: [start, end)
    end: int

    def listed(self) -> dict[str, object]:
        """As ``ask --json`` lists it."""
        return {"file": self.file, "page": self.page, "verified": self.verified}


def checked(answer: str, sources: Sequence[Source]) -> list[Citation]:
    """Each page cited in ``answer``, in order, verified or not against ``sources``:
    a bracket citing several pages gives a ``Citation`` for each."""
    given = {(_name(source.file), source.page) for source in sources}
    return [
        Citation(file, page, (_name(file), page) in given, bracket.start(), bracket.end())
        for bracket in _BRACKET.finditer(answer)
        for file, page in _cited(bracket["inside"])
    ]


def _cited(inside: str) -> list[tuple[str, int]]:
    """The (file, page) pairs a bracket's text cites; none when it is no citation."""
    parts = [_PART.fullmatch(part.strip()) for part in inside.split(";")]
    if not all(parts):
        return []
    return [
        (part["file"].strip(), page)
        for part in parts
        if part
        for written in _RANGE.finditer(part["marked"] or part["korean"])
        for page in _pages(int(written["first"]), int(written["last"] or written["first"]))
    ]


def _pages(first: int, last: int) -> range | tuple[int, int]:
    return range(first, last + 1) if 0 <= last - first < RANGE_MAX else (first, last)


def marked(answer: str, sources: Sequence[Source], language: str, *, markdown: bool = True) -> str:
    """``answer`` with each unverified citation marked as such, so that it never reads
    as one: struck through and followed by ``UNVERIFIED`` in Markdown (the text made
    safe, ``safe_markdown``), in brackets and followed by the note in plain text.  A
    bracket citing several pages, some unverified, is written out a page at a time."""
    note = UNVERIFIED.ko if language == "ko" else UNVERIFIED.en
    shown, done = [], 0
    cited = checked(answer, sources)
    brackets = itertools.groupby(cited, key=lambda citation: (citation.start, citation.end))
    for (start, end), bracket in brackets:
        pages = list(bracket)
        if all(citation.verified for citation in pages):
            continue
        shown.append(answer[done:start])
        shown.append(" ".join(_shown(citation, note, markdown) for citation in pages))
        done = end
    shown.append(answer[done:])
    text = "".join(shown)
    return safe_markdown(text) if markdown else text


def _shown(citation: Citation, note: str, markdown: bool) -> str:
    written = f"{citation.file} p. {citation.page}"
    if citation.verified:
        return f"[{written}]"
    return f"~~{written}~~ *{note}*" if markdown else f"[{written}] {note}"


def declined(answer: str) -> bool:
    """Whether the model said that the passages do not answer, as grounding.py asks
    it to: its answer opens with ``NOT_ANSWERED``, in either language.  Only the
    opening counts, so that an answer quoting the rule is not taken for it."""
    opening = answer.lstrip(" \n\"'*>").casefold()
    return any(opening.startswith(text.casefold().rstrip(".")) for text in (NOT_ANSWERED.en, NOT_ANSWERED.ko))


def _name(file: str) -> str:
    """A file as cited: its name without folders, case-folded."""
    return PurePath(file.strip().replace("\\", "/")).name.casefold()
