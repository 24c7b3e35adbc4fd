"""What a model is called with for a question: the question fitted to its context
window, and the history, in either conversation mode.

- "PromptTemplate": the model's ``PromptTemplate`` filled with the newest turns
  that fit the context window (``models.budget``), chosen afresh for every question.
- "ConversationChain": LangChain's ``ConversationChain`` with a
  ``ConversationBufferMemory`` holding every turn since the chat began, as the
  original app had it, except that when the buffer would overflow the context
  window its oldest turns are dropped for good and the user is told.

The chain's memory is rebuilt from the exchanges for each question, so an answer
that fails or is abandoned half-way can never leave the buffer out of step with
the conversation.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_classic.chains import ConversationChain
from langchain_classic.memory import ConversationBufferMemory
from langchain_core._api import LangChainDeprecationWarning
from langchain_core.runnables import Runnable

from chat_core.conversations.exchange import Settings
from chat_core.errors import ChatError, PromptTooLong
from chat_core.i18n import Message, Text, plural
from chat_core.models.budget import fit_history, history_budget, newest_fitting
from chat_core.models.prompts import Turn
from chat_core.retrieval.grounding import grounded
from chat_core.retrieval.search import Source

# Room for a long pasted text, and a question of Hangul (3 bytes a character)
# still fits one DynamoDB item (400 KB).
QUESTION_MAX_CHARS = 100_000
DROPPED = Message(
    "The conversation no longer fits {model}'s context window: the {turns} left the chain's memory.",
    "대화가 더 이상 {model}의 컨텍스트 창에 맞지 않아 가장 오래된 {count}개의 대화가 "
    "체인의 메모리에서 빠졌습니다.",
)


class QuestionTooLong(ChatError):
    en = (
        "This message is {length:,} characters long; the most a message may have is {most:,}. "
        "Shorten it, or summarize a long text as a PDF."
    )
    ko = (
        "이 메시지는 {length:,}자입니다. 메시지는 최대 {most:,}자까지 보낼 수 있습니다. "
        "줄이거나, 긴 글은 PDF로 요약하세요."
    )


# A question's prompt for one model: the question (with passages), the passages it
# holds and the tokens left for history.
Fitted = tuple[str, list[Source] | None, int]


def fitted_or_error(question: str, sources: list[Source] | None, settings: Settings) -> Fitted | ChatError:
    """``question``'s prompt for the model of ``settings``, or why it cannot be asked of it."""
    try:
        return _fitted(question, sources, settings)
    except Exception as error:  # this model cannot take it; another one of a comparison may
        return settings.explain(error)


def _fitted(question: str, sources: list[Source] | None, settings: Settings) -> Fitted:
    """The prompt's question (with the passages found, if any), the passages it
    holds and the tokens left for history: the lowest-ranked passages are left
    out while the question with them does not fit the context window."""
    if sources is None:
        return question, None, _history_budget(question, settings)
    while True:
        prompt = grounded(question, sources)
        try:
            return prompt, sources, _history_budget(prompt, settings)
        except PromptTooLong:
            if not sources or len(question) > QUESTION_MAX_CHARS:
                raise
            sources = sources[:-1]


def _history_budget(question: str, settings: Settings) -> int:
    """Tokens left for history with ``question``; raises when it is too long to ask."""
    if len(question) > QUESTION_MAX_CHARS:
        raise QuestionTooLong(length=len(question), most=QUESTION_MAX_CHARS)
    return history_budget(settings.spec, settings.params, settings.system, question)


@dataclass(frozen=True)
class Call:
    """What the model is invoked with for one question."""

    model: Runnable  # the endpoint's LLM behind its prompt template, or in a chain
    inputs: dict[str, str]
    history: list[Turn]  # the past turns the prompt holds
    memory_start: int = 0  # ConversationChain: the turns before this have left its memory
    notice: Text | None = None  # turns the chain's memory dropped for this question


def call(
    llm: Any, question: str, settings: Settings, budget: int, turns: Sequence[Turn], memory_start: int
) -> Call:
    """The call for ``question`` (the fitted prompt) after ``turns``, with ``budget``
    tokens for history, in the mode of ``settings``; ``memory_start`` is where the
    chain's memory started for the question before (ConversationChain)."""
    if settings.mode == "ConversationChain":
        start = min(memory_start, len(turns))
        return _chain(llm, question, settings, budget, turns[start:], start)
    fmt, history = settings.spec.chat_format, fit_history(settings.spec, turns, budget)
    inputs = {"history": fmt.render_history(history), "input": fmt.clean(question)}
    return Call(fmt.template(settings.system) | llm, inputs, history)


def _chain(
    llm: Any, question: str, settings: Settings, budget: int, buffered: list[Turn], start: int
) -> Call:
    """The chain with the ``buffered`` turns (those since its memory started) that
    still fit, and a notice of those it dropped."""
    spec, fmt = settings.spec, settings.spec.chat_format
    dropped = len(buffered) - newest_fitting(spec, buffered, budget)
    with warnings.catch_warnings():
        # The classic chain and memory are deprecated upstream; users ask for this mode.
        warnings.simplefilter("ignore", LangChainDeprecationWarning)
        memory = _FormattedBufferMemory(chat_format=fmt)
        for turn in buffered[dropped:]:
            memory.chat_memory.add_user_message(turn.question)
            memory.chat_memory.add_ai_message(turn.answer)
        chain = ConversationChain(llm=llm, memory=memory, prompt=fmt.template(settings.system))
    notice = None
    if dropped:
        turns = plural(dropped, "oldest turn", "oldest turns")
        notice = DROPPED.format(model=spec.label, turns=turns, count=dropped)
    return Call(chain, {"input": fmt.clean(question)}, buffered[dropped:], start + dropped, notice)


class _FormattedBufferMemory(ConversationBufferMemory):
    """ConversationBufferMemory whose history is written in the model's own chat
    format (its prompt layout, or messages) instead of "Human: ... AI: ..." lines."""

    chat_format: Any

    @property
    def buffer(self) -> Any:
        messages = self.chat_memory.messages
        pairs = zip(messages[::2], messages[1::2], strict=True)
        turns = [Turn(str(question.content), str(answer.content)) for question, answer in pairs]
        return self.chat_format.render_history(turns)
