"""Words to match exactly: BM25 (bm25s) over tokens that work for Korean too.

Whitespace words fail Korean: particles attach to nouns ("보일러가", "보일러를"),
so the question's "보일러" matches neither.  Hangul and other scripts written
without spaces between words are cut into overlapping character pairs (the
usual n-gram answer, which needs no dictionary: "보일러가" -> 보일, 일러, 러가),
so a noun matches whatever particle follows it.  Longer words of other scripts
are cut into four-letter pieces the same way, so that a German compound or
inflection ("Kurvensatzes") matches its stem ("Kurvensatz"): on
bench/questions.json this kept BM25 from pulling the first passage away from
the right page (recall at 1, 0.65 with whole words, 0.73 with pieces).  All is
case-folded after NFKC (ligatures become letters).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import bm25s
import numpy as np

_WORD = re.compile(r"\w+")
# Hangul syllables and jamo, CJK ideographs, kana: scripts cut into character pairs.
_PAIRED = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u9fff\uac00-\ud7af]")


def tokens(text: str) -> list[str]:
    found: list[str] = []
    for word in _WORD.findall(unicodedata.normalize("NFKC", text).casefold()):
        size = 2 if _PAIRED.search(word) else 4
        if len(word) > size:
            found.extend(word[i : i + size] for i in range(len(word) - size + 1))
        else:
            found.append(word)
    return found


class Lexical:
    """BM25 over a fixed list of texts; ``scores`` gives every text's score for a query."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._count = len(texts)
        self._bm25 = bm25s.BM25()
        self._bm25.index([tokens(text) for text in texts], show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        words = tokens(query)
        if not words:
            return np.zeros(self._count, dtype=np.float32)
        return self._bm25.get_scores(words)
