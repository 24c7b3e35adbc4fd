"""Names and codes a question asks about that the attached documents never mention.

e5's similarities cannot tell "What is the capital of Sweden?" from "What is the
capital of Finland?" over a table of Nordic countries that lists Finland only:
both are about the documents' subject.  What tells them apart is that the
question names something no document contains.  A question is taken to be one
the documents do not answer when it asks about a NAME or CODE that appears
nowhere in their text (case-folded):

- a code: a run of Latin letters and digits mixing both ("A999"), in a question
  of any language;
- a name, in an English question: a capitalized word not opening a sentence
  ("Sweden", "Perelman"; "Austria's" is "Austria"; "I" is no name).  English
  capitalizes names only; German capitalizes every noun, Korean has no capitals,
  so in their questions a capital says nothing;
- a German adjective made of a person's name, in a question of any language:
  "Riemannsche", "Kleinschen" before the noun they qualify name Riemann and
  Klein; the name counts as mentioned when the text has it or the adjective in
  any inflection ("Jordanscher" for "Jordanschen").

On bench/questions.json (bench/citations.py) these rules refuse no answerable
question; what they miss is questions on the documents' subject that name
nothing ("How long is the warranty on the boiler?").
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable

from bm25s.stopwords import STOPWORDS_EN_PLUS, STOPWORDS_GERMAN

_WORD = re.compile(r"\w+")
_CODE = re.compile(r"[A-Za-z0-9]+")  # "A205" out of the Korean "A205가"
# A word, with the sentence it opens told apart: after the question's start or . ! ?
_WORDS = re.compile(r"(?P<opens>^|[.!?]\s+)?[\"'“‘(]*(?P<word>\w+(?:['’]s\b)?)")
# A German adjective of a name: "Riemann" + "sche", "schen", "scher", "sches", "schem",
# before the capitalized noun it qualifies.  Four letters at least, so that a noun
# such as "Menschen" or "Flasche" is not read as one.
_EPONYM = re.compile(r"\b(?P<name>[A-ZÄÖÜ]\w{3,}?)sch(?:e|en|er|es|em)\s+[A-ZÄÖÜ]")
# Words only one of the two languages has: which of them a Latin question is in.
_ENGLISH = frozenset(STOPWORDS_EN_PLUS) - frozenset(STOPWORDS_GERMAN)
_GERMAN = frozenset(STOPWORDS_GERMAN) - frozenset(STOPWORDS_EN_PLUS)


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


class Vocabulary:
    """Every word of a set of texts, case-folded: built once, asked per question."""

    def __init__(self, texts: Iterable[str]) -> None:
        words: set[str] = set()
        for text in texts:
            folded = _folded(text)
            words.update(_WORD.findall(folded), _CODE.findall(folded))
        self._words = words
        self._sorted = sorted(words)

    def absent(self, question: str) -> list[str]:
        """The names and codes ``question`` asks about that no text has, as written
        in the question, in order, each once."""
        asked = [code for code in _CODE.findall(question) if _mixed(code)]
        if _english(question):
            asked += [
                re.sub(r"['’]s$", "", match["word"])
                for match in _WORDS.finditer(question)
                if match["opens"] is None and match["word"][0].isupper() and match["word"] != "I"
            ]
        found = [name for name in dict.fromkeys(asked) if _folded(name) not in self._words]
        eponyms = [match["name"] for match in _EPONYM.finditer(question)]
        found += [name for name in dict.fromkeys(eponyms) if not self._has_eponym(_folded(name))]
        return list(dict.fromkeys(found))

    def _has_eponym(self, name: str) -> bool:
        """Whether the texts have ``name``, or an adjective of it ("jordansch...")."""
        if name in self._words:
            return True
        stem = name + "sch"
        at = bisect.bisect_left(self._sorted, stem)
        return at < len(self._sorted) and self._sorted[at].startswith(stem)


def _mixed(code: str) -> bool:
    return any(c.isdigit() for c in code) and any(c.isalpha() for c in code)


def _english(question: str) -> bool:
    """Whether a question is in English rather than German (or not in Latin letters)."""
    words = _WORD.findall(question.casefold())
    return sum(word in _ENGLISH for word in words) > sum(word in _GERMAN for word in words)
