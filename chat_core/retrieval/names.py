"""Names and codes a question asks about that the attached documents never mention.

e5's similarities cannot tell "What is the capital of Sweden?" from "What is the
capital of Finland?" over a table of Nordic countries that lists Finland only:
both are about the documents' subject.  What tells them apart is that the
question names something no document contains.  A question is taken to be one
the documents do not answer when it asks about a NAME or CODE that appears
nowhere in their text (case-folded):

- a code: a run of Latin letters and digits mixing both ("A999"), in a question
  of any language;
- a name, in an English question asked of documents in English: a capitalized
  word not opening a sentence (after the question's start, ". ", "! ", "? " or
  ": ": "Sweden", "Perelman"; "Austria's" is "Austria"; "I" is no name).  English
  capitalizes names only; German capitalizes every noun, Korean has no capitals,
  so in their questions a capital says nothing.  Documents in another language
  write a name their own way (Korean in Hangul, German "Schweden"), so there its
  absence says nothing either: the rule holds when most of the documents' words
  are in Latin letters and more of their stopwords English than German (bm25s's
  lists, as for the question).  Words about the document itself or the language
  of the answer ("What is on Page 1?", "Answer in Korean") are no names
  (``NOT_NAMES``);
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
_WORDS = re.compile(r"(?P<opens>^|[.!?:]\s+)?[\"'“‘(]*(?P<word>\w+(?:['’]s\b)?)")
# A German adjective of a name: "Riemann" + "sche", "schen", "scher", "sches", "schem",
# before the capitalized noun it qualifies.  Four letters at least, so that a noun
# such as "Menschen" or "Flasche" is not read as one.
_EPONYM = re.compile(r"\b(?P<name>[A-ZÄÖÜ]\w{3,}?)sch(?:e|en|er|es|em)\s+[A-ZÄÖÜ]")
# Words only one of the two languages has: which of them a Latin question is in.
_ENGLISH = frozenset(STOPWORDS_EN_PLUS) - frozenset(STOPWORDS_GERMAN)
_GERMAN = frozenset(STOPWORDS_GERMAN) - frozenset(STOPWORDS_EN_PLUS)
# Capitalized words a question uses of the document itself or of the language it
# wants the answer in, case-folded, singular: no library here lists language names
# (langcodes, babel and pycountry are not installed), so the common ones are written out.
# fmt: off
NOT_NAMES = frozenset((
    "pdf", "document", "file", "page", "chapter", "section", "table", "figure", "fig", "summary",
    "abstract", "appendix", "paragraph", "line", "text", "title", "introduction", "conclusion",
    "footnote", "slide", "part", "step", "example",
    "english", "korean", "german", "french", "spanish", "italian", "portuguese", "dutch", "russian",
    "chinese", "japanese", "arabic", "hindi", "vietnamese", "thai", "indonesian", "turkish", "polish",
    "latin",
))
# fmt: on
_LATIN_END = 0x250  # letters below U+0250: Basic Latin to Latin Extended-B


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


class Vocabulary:
    """Every word of a set of texts, case-folded: built once, asked per question."""

    def __init__(self, texts: Iterable[str]) -> None:
        words: set[str] = set()
        lettered = latin = english = german = 0
        for text in texts:
            folded = _folded(text)
            written = _WORD.findall(folded)
            words.update(written, _CODE.findall(folded))
            for word in written:
                if any(c.isalpha() for c in word):
                    lettered += 1
                    latin += all(ord(c) < _LATIN_END for c in word)
                    english += word in _ENGLISH
                    german += word in _GERMAN
        self._words = words
        self._sorted = sorted(words)
        # Whether the texts write names as an English question does (see above).
        self._english = 2 * latin > lettered and english > german

    def absent(self, question: str) -> list[str]:
        """The names and codes ``question`` asks about that no text has, as written
        in the question, in order, each once."""
        asked = [code for code in _CODE.findall(question) if _mixed(code)]
        if self._english and _english(question):
            asked += [
                name
                for match in _WORDS.finditer(question)
                if match["opens"] is None and match["word"][0].isupper() and match["word"] != "I"
                if _named(name := re.sub(r"['’]s$", "", match["word"]))
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


def _named(word: str) -> bool:
    """Whether a capitalized word may be a name: not one of ``NOT_NAMES``, in the
    singular or plural ("Pages")."""
    folded = _folded(word)
    return folded not in NOT_NAMES and folded.removesuffix("s") not in NOT_NAMES


def _mixed(code: str) -> bool:
    return any(c.isdigit() for c in code) and any(c.isalpha() for c in code)


def _english(question: str) -> bool:
    """Whether a question is in English rather than German (or not in Latin letters)."""
    words = _WORD.findall(question.casefold())
    return sum(word in _ENGLISH for word in words) > sum(word in _GERMAN for word in words)
