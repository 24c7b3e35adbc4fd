"""A question asked of documents: the passages found, put before the model with the rules.

The model is given the passages, each under the label it is to cite them by
(``[file p. N]``, N the page the passage is on), and told to answer from them
alone, in the question's language, and to say so when they do not answer.
What it cites is checked against what it was given (``citations``).
The passages are the documents' text: like the user's own, they are
neutralized by the prompt format (``PromptFormat.clean``) before they reach
the model, so a document cannot forge a turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

from chat_core.i18n import Message, Text
from chat_core.retrieval.citations import NOT_ANSWERED
from chat_core.retrieval.search import Source

# Each opens with the one sentence saying the documents do not answer (``NOT_ANSWERED``).
NO_SOURCE = Message(
    f"{NOT_ANSWERED.en} No passage in the attached documents matches the question, "
    "so the answer is not from them.",
    f"{NOT_ANSWERED.ko} 첨부한 문서에서 질문에 맞는 구절을 찾지 못했으므로 "
    "답변은 문서에서 나온 것이 아닙니다.",
).format()
NOT_MENTIONED = Message(
    f"{NOT_ANSWERED.en} The attached documents never mention {{names}}.",
    f"{NOT_ANSWERED.ko} 첨부한 문서 어디에도 다음 말이 나오지 않습니다: {{names}}.",
)
LACKING = Message(
    f"{NOT_ANSWERED.en} The passages found for it hold no {{kind}}.",
    f"{NOT_ANSWERED.ko} 질문에 맞춰 찾은 구절 어디에도 다음이 없습니다: {{kind}}.",
)
CITES_NONE = Message(
    "The answer cites none of these passages: check it against them.",
    "답변이 이 구절 중 어느 것도 인용하지 않습니다. 구절과 대조해 확인하세요.",
).format()


def no_source(absent: Sequence[str], lacking: Text | None = None) -> Text:
    """Why no passage was found: the names the question asks about that the
    documents never mention, when it names any; else the kind of answer it asks
    for that the passages found lack, if so."""
    if absent:
        return NOT_MENTIONED.format(names=", ".join(absent))
    return LACKING.format(kind=lacking) if lacking else NO_SOURCE


def citation(source: Source) -> str:
    """A passage's label: its file's name (without folders: short, so that a model
    copies it whole) and its page."""
    return f"[{PurePath(source.file).name} p. {source.page}]"


def grounded(question: str, sources: Sequence[Source]) -> str:
    """The question as the model is asked it, with the passages found for it: the
    passages first, each under its label, then the rules, naming the labels that
    may be cited (a small model follows what it read last), then the question."""
    if not sources:
        return (
            "No passage of the attached documents matches the question below. Tell the user that "
            "the documents do not answer it, in the language of the question.\n\n"
            f"Question: {question}"
        )
    passages = "\n\n".join(f"{citation(source)}\n{source.text}" for source in sources)
    labels = ", ".join(dict.fromkeys(citation(source) for source in sources))
    return (
        f"Passages from the user's documents, each under its label:\n\n{passages}\n\n"
        "Answer the question below using only these passages, in the language of the question. "
        "End each sentence with the label of the passage it comes from, copied exactly, for example "
        f"{citation(sources[0])}. The only labels you may cite are: {labels}. If the passages do not "
        f'contain the answer, say only "{NOT_ANSWERED.en}" (in Korean: "{NOT_ANSWERED.ko}").\n\n'
        f"Question: {question}"
    )
