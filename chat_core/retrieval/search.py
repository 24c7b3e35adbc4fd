"""Finding the passages that answer a question, in the documents the user chose.

Two rankings are fused: the embedding model's (meaning, across languages: a
Korean question finds an English passage) and BM25's (exact words: error codes,
names, terms the embedding blurs), by reciprocal rank fusion, which needs no
calibration between their scores.  Search is exact, over every passage of the
chosen documents: a matrix product, a few milliseconds at 10,000 passages
(bench/retrieval.py).

A passage the embedding model finds too far from the question is no source,
however it ranks: when none is close enough, the answer says that no source
matched rather than cite passages that do not answer.  So does a question
naming something the documents never mention (``names``: "the capital of
Sweden" of a table that lists Finland's), and one asking for a kind of answer
(a phone number, a price, a date) that none of the passages found holds
(``answers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from chat_core.i18n import Text
from chat_core.retrieval.answers import lacking
from chat_core.retrieval.index import DocumentIndex, Embedder
from chat_core.retrieval.lexical import Lexical
from chat_core.retrieval.names import Vocabulary

TOP_K = 5
# Reciprocal rank fusion's constant (Cormack et al., 2009): a passage's fused score
# is the sum over rankings of 1 / (RRF_K + rank).
RRF_K = 60
# BM25's ranking counts half as much as the embedding model's: the embedding
# finds the right page first more often (bench/retrieval.py).
LEXICAL_WEIGHT = 0.5
# Candidates taken from each ranking into the fusion.
CANDIDATES = 50
# Cosine similarity (multilingual-e5) below which a passage is not about the
# question: when no passage reaches it, the documents do not answer.  e5's
# similarities are crowded: on bench/questions.json every answerable question's
# best answering passage scored 0.774 or more, while the questions no page answers
# scored 0.764 to 0.88.  The floor sits midway between the lowest answering passage
# and the two unanswered questions below it (France's and Spain's figures asked in
# Korean of an English table), so it catches questions off the documents' subject
# and only those: the rest are on the documents' subject, and neither the best
# score, its lead over the others, nor the question's words found in the passages
# separate them from the answerable ones (bench/retrieval.py, "No source matched").
MIN_SIMILARITY = 0.769


@dataclass(frozen=True)
class Source:
    file: str
    page: int  # 1-based
    score: float  # the fused score: 1.0 for a passage first in both rankings
    text: str
    digest: str
    heading: str = ""
    protected: bool = False  # from a file opened with a password

    def kept(self) -> dict[str, Any]:
        """What an answer's record keeps of it: of a file opened with a password,
        where the passage is and not what it says (its text is the file's)."""
        fields = asdict(self)
        return fields | {"text": "", "heading": ""} if self.protected else fields


class Retriever:
    """Search over the passages of ``indexes``, built once for a set of documents."""

    def __init__(self, indexes: Sequence[DocumentIndex], embedder: Embedder) -> None:
        self.embedder = embedder
        self._where = [(index, i) for index in indexes for i in range(len(index.passages))]
        vectors = [index.vectors for index in indexes if len(index.passages)]
        self._vectors = np.concatenate(vectors) if vectors else np.zeros((0, 1), np.float32)
        texts = [index.passages[i].embedded for index, i in self._where]
        self._lexical = Lexical(texts)
        self._vocabulary = Vocabulary(texts)

    def absent(self, question: str) -> list[str]:
        """The names and codes ``question`` asks about that no passage mentions."""
        return self._vocabulary.absent(question)

    def lacking(self, question: str, top_k: int = TOP_K) -> Text | None:
        """The kind of answer ``question`` asks for that the passages found for it lack."""
        return lacking(question, [source.text for source in self._found(question, top_k)])

    def search(self, question: str, top_k: int = TOP_K, *, hybrid: bool = True) -> list[Source]:
        """The ``top_k`` best passages that are about the question, best first; none
        when no passage is, the question names what none mentions (``absent``), or
        they lack the kind of answer it asks for (``lacking``).
        ``hybrid=False`` ranks by the embedding model alone."""
        if self.absent(question):
            return []
        found = self._found(question, top_k, hybrid=hybrid)
        return [] if lacking(question, [source.text for source in found]) else found

    def _found(self, question: str, top_k: int, *, hybrid: bool = True) -> list[Source]:
        if not self._where or top_k < 1:
            return []
        similarity = self._vectors @ self.embedder.query(question)
        rankings = [_ranked(similarity)]
        if hybrid:
            rankings.append(_ranked(self._lexical.scores(question)))
        fused: dict[int, float] = {}
        for weight, ranking in zip((1.0, LEXICAL_WEIGHT), rankings, strict=False):
            for rank, position in enumerate(ranking, start=1):
                fused[position] = fused.get(position, 0.0) + weight / (RRF_K + rank)
        best = sum((1.0, LEXICAL_WEIGHT)[: len(rankings)]) / (RRF_K + 1)
        ranked = sorted(
            (position for position in fused if similarity[position] >= MIN_SIMILARITY),
            key=lambda position: -fused[position],
        )
        chosen: dict[tuple[str, int], int] = {}  # one passage a page: the best
        for position in ranked:
            index, i = self._where[position]
            chosen.setdefault((index.digest, index.passages[i].page), position)
            if len(chosen) == top_k:
                break
        return [self._source(position, fused[position] / best) for position in chosen.values()]

    def _source(self, position: int, score: float) -> Source:
        index, i = self._where[position]
        passage = index.passages[i]
        return Source(
            index.name,
            passage.page,
            round(score, 4),
            passage.text,
            index.digest,
            passage.heading,
            index.protected,
        )


def _ranked(scores: np.ndarray) -> list[int]:
    """Positions of the ``CANDIDATES`` highest positive scores, highest first."""
    count = min(CANDIDATES, len(scores))
    top = np.argpartition(-scores, count - 1)[:count]
    return [int(position) for position in top[np.argsort(-scores[top])] if scores[position] > 0]
