"""A question asked of documents: the passages found, put before the model with the rules.

The model is given the passages, each under the label it is to cite them by
(``[file p. N]``, N the page the passage is on), and told to answer from them
alone, in the question's language, and to say so when they do not answer.
The passages are the documents' text: like the user's own, they are
neutralized by the prompt format (``PromptFormat.clean``) before they reach
the model, so a document cannot forge a turn.
"""

from __future__ import annotations

from collections.abc import Sequence

from chat_core.i18n import Message
from chat_core.retrieval.search import Source

NO_SOURCE = Message(
    "No passage in the attached documents matches this question: the answer is not from them.",
    "첨부한 문서에서 이 질문에 맞는 구절을 찾지 못했습니다. 답변은 문서에서 나온 것이 아닙니다.",
).format()


def citation(source: Source) -> str:
    return f"[{source.file} p. {source.page}]"


def grounded(question: str, sources: Sequence[Source]) -> str:
    """The question as the model is asked it, with the passages found for it."""
    if not sources:
        return (
            "No passage of the attached documents matches the question below. Tell the user that "
            "the documents do not answer it, in the language of the question.\n\n"
            f"Question: {question}"
        )
    passages = "\n\n".join(f"{citation(source)}\n{source.text}" for source in sources)
    return (
        "Answer the question below using only these passages from the user's documents. After "
        "each statement, cite the passage it comes from by its label, such as "
        f"{citation(sources[0])}. If the passages do not contain the answer, say that the "
        "documents do not answer it. Answer in the language of the question.\n\n"
        f"{passages}\n\nQuestion: {question}"
    )
