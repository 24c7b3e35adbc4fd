"""The kind of answer a question asks for, and whether the passages found hold one.

Classic question answering checks a candidate answer's type against the
question's: a question asking for a phone number is not answered by passages
with no phone number in them, however close their subject ("call the service
centre").  e5's similarities cannot see that; the kind of string asked for can.
A few kinds only, each recognized by the words that ask for it (English, German,
Korean) and held when the best passages have something of its shape anywhere:

- a phone number: a run of seven or more digits and separators;
- an amount of money: a currency sign, code or word ("10 Euro", "5,000원", "$");
- a span of time or how often: a number with a unit of time or length, or a
  word such as "monthly" ("How long is the warranty?", "얼마나 자주").

The test is on the passages the search chose, not the whole document: a
question whose answering passage is found passes.  A shape is looser than an
answer ("2013/2014" is phone-shaped), which only lets a question through.
On bench/questions.json (bench/citations.py) no answerable question is refused.
No date kind: "when", "wann", "언제" ask for a date, a time of day or a
condition ("When does the boiler stop?" "When it overheats."), so passages
without a date may well answer them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from chat_core.i18n import Message, Text

PHONE = Message("phone number", "전화번호").format()
MONEY = Message("amount of money", "금액").format()
SPAN = Message("span of time", "기간").format()


@dataclass(frozen=True)
class _Kind:
    name: Text
    asked: re.Pattern[str]  # words of a question asking for it
    held: re.Pattern[str]  # something of its shape in a passage


_KINDS = (
    _Kind(PHONE, re.compile(r"(?i)전화|연락처|phone|telefon"), re.compile(r"\+?\d[\d\s().\-/]{5,}\d")),
    _Kind(
        MONEY,
        re.compile(r"(?i)비용|가격|요금|\bcosts?\b|\bprices?\b|\bkostet\b|\bkosten\b|\bpreis"),
        re.compile(r"(?i)[€$£₩]|\d\s*(?:만\s*)?원|\b(?:euros?|eur|usd|dollars?|cents?)\b"),
    ),
    _Kind(
        SPAN,
        re.compile(r"(?i)how long|how often|wie lange?\b|wie oft|얼마나\s*(?:오래|자주)|기간|주기"),
        re.compile(
            r"(?i)\d\s*(?:(?:years?|months?|weeks?|days?|hours?|minutes?|jahre?n?|monate?n?|wochen?"
            r"|tage?n?|stunden?|minuten?|k?m|cm|mm|meters?|metres?)\b|년|개월|달|주|일|시간|분|미터)"
            r"|\b(?:daily|weekly|monthly|yearly|annually|täglich|wöchentlich|monatlich|jährlich)\b"
            r"|매일|매주|매달|매월|매년"
        ),
    ),
)


def lacking(question: str, passages: Sequence[str]) -> Text | None:
    """The kind of answer ``question`` asks for that none of ``passages`` holds, if any."""
    held = "\n".join(passages)
    for kind in _KINDS:
        if kind.asked.search(question) and not kind.held.search(held):
            return kind.name
    return None
