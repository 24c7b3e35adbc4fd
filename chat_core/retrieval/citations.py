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

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from chat_core.i18n import Message
from chat_core.markdown import safe_markdown
from chat_core.retrieval.search import Source

# "[file p. N]", as the passages are labelled; also "[file, p. N]", "p.N" and "page N".
_CITED = re.compile(r"\[(?P<file>[^\[\]\n]+?),?\s+(?:p\.|page)\s*(?P<page>\d{1,6})\]", re.IGNORECASE)

# What the model is told to answer when its passages do not answer (grounding.py).
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
    start: int  # where it is in the answer: [start, end)
    end: int

    def listed(self) -> dict[str, object]:
        """As ``ask --json`` lists it."""
        return {"file": self.file, "page": self.page, "verified": self.verified}


def checked(answer: str, sources: Sequence[Source]) -> list[Citation]:
    """Each ``[file p. N]`` of ``answer``, in order, verified or not against ``sources``."""
    given = {(_name(source.file), source.page) for source in sources}
    return [
        Citation(
            match["file"].strip(),
            int(match["page"]),
            (_name(match["file"]), int(match["page"])) in given,
            match.start(),
            match.end(),
        )
        for match in _CITED.finditer(answer)
    ]


def marked(answer: str, sources: Sequence[Source], language: str, *, markdown: bool = True) -> str:
    """``answer`` with each unverified citation marked as such, so that it never reads
    as one: struck through and followed by ``UNVERIFIED`` in Markdown (the text made
    safe, ``safe_markdown``), its brackets kept and the note after it in plain text."""
    note = UNVERIFIED.ko if language == "ko" else UNVERIFIED.en
    shown, done = [], 0
    for citation in checked(answer, sources):
        if citation.verified:
            continue
        shown.append(answer[done : citation.start])
        written = answer[citation.start : citation.end]
        shown.append(f"~~{citation.file} p. {citation.page}~~ *{note}*" if markdown else f"{written} {note}")
        done = citation.end
    shown.append(answer[done:])
    text = "".join(shown)
    return safe_markdown(text) if markdown else text


def declined(answer: str) -> bool:
    """Whether the model said that the passages do not answer, as grounding.py asks
    it to: its answer opens with ``NOT_ANSWERED``, in either language.  Only the
    opening counts, so that an answer quoting the rule is not taken for it."""
    opening = answer.lstrip(" \n\"'*>").casefold()
    return any(opening.startswith(text.casefold().rstrip(".")) for text in (NOT_ANSWERED.en, NOT_ANSWERED.ko))


def _name(file: str) -> str:
    """A file as cited: its name without folders, case-folded."""
    return PurePath(file.strip().replace("\\", "/")).name.casefold()
