"""A chat session: one conversation's exchanges, and asking the model the next question.

``ChatSession.exchanges`` is the conversation as the user sees it: each question
with its answer and that answer's state (answered, stopped, failed or
unanswered, with the reason as text).  Pages render it and keep no copy.

Two conversation modes build the prompt from the answered exchanges:

- "PromptTemplate": the model's ``PromptTemplate`` filled with the newest turns
  that fit the context window (``models.budget``), chosen afresh for every question.
- "ConversationChain": LangChain's ``ConversationChain`` with a
  ``ConversationBufferMemory`` holding every turn since the chat began, as the
  original app had it, except that when the buffer would overflow the context
  window its oldest turns are dropped for good and the user is told.

The chain's memory is rebuilt from the exchanges for each question, so an answer
that fails or is abandoned half-way can never leave the buffer out of step with
the conversation.

In either mode the model runs in a thread of its own (``_TokenRelay``) and the
thread that reads the answer (the page's) only waits on a queue: an answer ends at
its deadline (ANSWER_MAX_SECONDS) or when it is stopped, even while the endpoint
sends nothing, and ending it stops and joins the model's thread.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from langchain_classic.chains import ConversationChain
from langchain_classic.memory import ConversationBufferMemory
from langchain_core._api import LangChainDeprecationWarning
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import Runnable

from chat_core.conversations.store import (
    LOCAL_USER,
    ConversationNotFound,
    Feedback,
    Message,
    Store,
    current_view,
    storable,
    undecided,
)
from chat_core.errors import ChatError, PromptTooLong, explain
from chat_core.i18n import Text, plural
from chat_core.models.budget import count_tokens, fit_history, history_budget, newest_fitting, turn_tokens
from chat_core.models.catalog import GenerationParams, ModelSpec
from chat_core.models.endpoint import ChatClient, endpoint_llm
from chat_core.models.prompts import Turn
from chat_core.retrieval.grounding import grounded
from chat_core.retrieval.indexing import Progress
from chat_core.retrieval.library import Attached, Library
from chat_core.retrieval.search import TOP_K, Source

if TYPE_CHECKING:
    from chat_core.conversations.compare import Comparison

MODES = ("PromptTemplate", "ConversationChain")
DEFAULT_SYSTEM = "You are a helpful assistant. Answer clearly and briefly."
# Room for a long pasted text, and a question of Hangul (3 bytes a character)
# still fits one DynamoDB item (400 KB).
QUESTION_MAX_CHARS = 100_000
NO_ANSWER_YET = Text.of("This question has no answer yet: the answer failed or was cut short.")
STOPPED_EARLY = Text.of("Stopped before any answer came.")
# The longest an answer may take, from sending the question to its last token, unless
# ANSWER_MAX_SECONDS says otherwise: a slow model writing the most tokens the sliders
# allow (2,048) at 5 a second takes 410 s.
ANSWER_MAX_SECONDS = 600.0
# How long the thread reading an answer waits for its next token before it calls its
# ``waiting`` (the page's chance to end its run) and looks again.
WAIT_S = 0.5
# How long ending an answer waits for the thread producing it: a remote stream ends at
# once (its connection is shut); the bundled model at its next token, once it has read
# the prompt.
JOIN_S = 10.0
MOVED = Text.of(
    "This conversation was deleted, in another tab or window, while this answer came: the question "
    "and its answer are saved as a new conversation, open now."
)


class QuestionTooLong(ChatError):
    pass


class PickFirst(ChatError):
    """A comparison waits for its pick: asking on would leave its answers out of the conversation."""


# A question's prompt for one model: the question (with passages), the passages it holds
# and the tokens left for history.
Fitted = tuple[str, list[Source] | None, int]


@dataclass(frozen=True)
class Settings:
    """What a question is asked with: the model, its parameters, the mode and the system prompt."""

    spec: ModelSpec
    params: GenerationParams
    mode: str = MODES[0]
    system: str = DEFAULT_SYSTEM


@dataclass(frozen=True)
class Stats:
    first_token_s: float  # from the question being sent to the first text arriving
    tokens: int  # the answer's
    tokens_per_s: float | None  # decoding speed after the first token; None for 1 token
    input_tokens: int = 0  # the prompt's: system prompt, history, passages and question
    seconds: float = 0.0  # from the question being sent to the answer's end: the endpoint's time

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Stats | None:
        """The stats of a saved answer's record (None for one saved without them)."""
        names = [name for name in cls.__dataclass_fields__ if name in record]
        if "tokens" not in names:
            return None
        return cls(**{"first_token_s": 0.0, "tokens_per_s": None} | {name: record[name] for name in names})


class State(StrEnum):
    ANSWERED = "answered"
    STOPPED = "stopped"  # the user stopped it: the answer is the text until then
    FAILED = "failed"  # the model or endpoint failed: ``reason`` says why
    UNANSWERED = "unanswered"  # saved, not (yet) answered: ``reason`` says why


@dataclass
class Exchange:
    question: str
    key: str | None = None  # the saved question's key
    answer: str = ""
    state: State = State.UNANSWERED
    stats: Stats | None = None
    # Why it failed or is unanswered, why its answer is not saved, where it was saved
    # instead, or why it was ended (its deadline).
    reason: Text | None = None
    saved: bool = True  # False: the answer could not be saved; ``ChatSession.save_again``
    memory_start: int = 0  # ConversationChain: answered exchanges before this left the buffer
    # Asked of documents: the passages the answer was given (none: no source matched).
    sources: list[Source] | None = None
    answer_key: str | None = None  # the saved answer's key: what feedback is given to
    feedback: Feedback | None = None  # the user's on the answer (``ChatSession.rate``)
    # Saved instead of ``answer``, which is then this session's only (the summary of a
    # file opened with a password); None: the answer is saved.
    saved_instead: str | None = None

    @property
    def stored_answer(self) -> str:
        return self.answer if self.saved_instead is None else self.saved_instead

    @property
    def answered(self) -> bool:
        return self.state in (State.ANSWERED, State.STOPPED)

    def answer_from(self, answer: Message) -> None:
        """Take the answer, its record and its sources from a saved answer."""
        if (sources := answer.stats.get("sources")) is not None:
            self.sources = [Source(**source) for source in sources]
        self.answer, self.stats, self.answer_key = answer.text, Stats.from_record(answer.stats), answer.key
        self.feedback = answer.feedback
        self.state = State.STOPPED if answer.stats.get("stopped") else State.ANSWERED


class ChatSession:
    def __init__(
        self, store: Store | None = None, owner: str = LOCAL_USER, library: Library | None = None
    ) -> None:
        self.store = store
        self.owner = owner
        self.library = library  # the owner's documents, which questions can be asked of
        self.clear()

    def clear(self) -> None:
        """Start a new conversation (saved once its first question is asked)."""
        self.conversation_id: str | None = None
        self.exchanges: list[Exchange] = []
        self.replacing: str | None = None  # the key of the question the next one edits
        self.documents: list[Attached] = []  # what the next question is answered from
        # The last question's comparison while no candidate is picked: its exchange is unanswered.
        self.comparison: Comparison | None = None
        self._streaming: _Streaming | None = None

    @property
    def turns(self) -> list[Turn]:
        """The answered exchanges: the history the next prompt is built from."""
        return [Turn(e.question, e.answer) for e in self.exchanges if e.answered]

    def open(self, conversation_id: str) -> None:
        """Continue a saved conversation as it reads now (``store.current_view``)."""
        if self.store is None:
            raise ValueError("no store to open conversations from")
        messages = self.store.messages(self.owner, conversation_id)
        view = current_view(messages)
        self.clear()
        self.conversation_id = conversation_id
        for question, answer in view:
            exchange = Exchange(question.text, question.key)
            self.documents = [Attached(**document) for document in question.stats.get("documents", [])]
            if question is view[-1][0] and (candidates := undecided(messages, question, answer)):
                from chat_core.conversations.compare import Comparison  # it imports this module

                self.comparison = Comparison.reopened(
                    exchange, candidates, self.store, self.owner, conversation_id
                )
            elif answer is not None:
                exchange.answer_from(answer)
            elif question is view[-1][0]:
                exchange.reason = NO_ANSWER_YET
            else:
                continue  # an unanswered question followed by others is not part of the history
            self.exchanges.append(exchange)

    def start_with(self, question: str, answer: str, settings: Settings, saved: str | None = None) -> str:
        """A new saved conversation opening with an exchange made elsewhere (a PDF's
        summary), so that follow-up questions have it as history; returns its id.
        ``saved``, if given, is saved as the answer instead, now and by "Save again",
        and ``answer`` is this session's only (the summary of a file opened with a
        password)."""
        self.clear()
        exchange = self._exchange_for(question, settings)
        exchange.answer, exchange.saved_instead, exchange.state = answer, saved, State.ANSWERED
        self._saver(exchange, settings)(exchange)
        return self.conversation_id or ""

    def ask(
        self,
        question: str,
        settings: Settings,
        top_k: int = TOP_K,
        progress: Progress | None = None,
        waiting: Callable[[], None] | None = None,
    ) -> Reply:
        """Start answering ``question``; iterate the ``Reply`` for the answer's text.
        With documents attached, it is answered from the ``top_k`` passages found
        for it (``Exchange.sources``); a document not indexed yet is indexed first,
        with ``progress`` (pages done, time left) after each batch of pages.  ``waiting()``
        is called in the iterating thread whenever no text came for ``WAIT_S``: a
        page passes a Streamlit call, so that its run can end there (Streamlit ends
        a run, for a rerun or a closed tab, only inside its own calls).

        Raises ``ChatError`` (here or while iterating) with a message for the
        user; the exchange then says why it failed, and its saved question stays."""
        exchange, [fit] = self._asked(question, [settings], top_k, progress)
        assert not isinstance(fit, ChatError)  # one model: its failure refuses the question
        reply = self.reply(exchange, fit, settings, self._saver(exchange, settings), waiting)
        self._streaming = reply
        return reply

    def compare(
        self,
        question: str,
        settings: Sequence[Settings],
        top_k: int = TOP_K,
        progress: Progress | None = None,
        waiting: Callable[[], None] | None = None,
    ) -> Comparison:
        """Ask ``question`` of two or three models at once, each with its own settings:
        the question is saved once, and each model's answer streams in a thread of its
        own and is saved as a candidate as soon as it ends (``compare.Comparison``).
        One model failing fails its candidate only; the conversation goes on with the
        candidate the user picks (``Comparison.pick``).  ``waiting`` as for ``ask``."""
        from chat_core.conversations.compare import Comparison  # it imports this module

        if not 2 <= len(settings) <= 3:
            raise ValueError(f"compare two or three models, not {len(settings)}")
        exchange, fits = self._asked(question, settings, top_k, progress)
        self.comparison = Comparison(exchange, self.store, self.owner, self.conversation_id)
        for one, fit in zip(settings, fits, strict=True):
            candidate, reply = Exchange(question, exchange.key), None
            if isinstance(fit, ChatError):
                _failed(candidate, fit)
            else:
                with contextlib.suppress(ChatError):  # the candidate says why it failed
                    reply = self.reply(candidate, fit, one, self.comparison.keep)
            self.comparison.add(one, candidate, reply)
        self._streaming = self.comparison.start(waiting)
        return self.comparison

    def pick(self, index: int) -> None:
        """Make the undecided comparison's candidate ``index`` the question's answer."""
        if self.comparison is None:
            raise ValueError("no comparison to pick from")
        self.comparison.pick(index)
        self.comparison = None

    def _asked(
        self,
        question: str,
        settings: Sequence[Settings],
        top_k: int,
        progress: Progress | None,
    ) -> tuple[Exchange, list[Fitted | ChatError]]:
        """The exchange of ``question``, saved, and its prompt fitted to each model's
        window (or why it cannot be).  Refused before it is saved when it fits no
        model: a question that cannot be asked is not kept."""
        if any(one.mode not in MODES for one in settings):
            raise ValueError(f"unknown conversation mode in {[one.mode for one in settings]}")
        if self.comparison is not None and self.comparison.pickable:
            raise PickFirst(
                'Choose one of the compared answers ("Use this answer") before the next question: '
                "it becomes the conversation's answer.",
                ko="다음 질문 전에 비교한 답변 중 하나를 고르세요('이 답변 쓰기'). "
                "그 답변이 대화의 답변이 됩니다.",
            )
        self.comparison = None
        try:
            storable(question)  # before a tokenizer meets what no store could keep
            sources = self._sources(question, top_k, progress)
            fits = [_fitted_or_error(question, sources, one) for one in settings]
            if all(isinstance(fit, ChatError) for fit in fits):
                raise fits[0]
            exchange = self._exchange_for(question, settings[0])
            return exchange, fits
        except Exception as error:  # too long, or the store failed: shown, to be resent
            if self.exchanges and not self.exchanges[-1].answered:
                self.exchanges.pop()
            self.exchanges.append(refused := Exchange(question))
            raise _failed(refused, _explained(error, settings[0].spec)) from error

    def reply(
        self,
        exchange: Exchange,
        fit: Fitted,
        settings: Settings,
        save: Callable[[Exchange], None],
        waiting: Callable[[], None] | None = None,
    ) -> Reply:
        """The model's answer to ``exchange``'s question, from the prompt fitted for it."""
        prompt, exchange.sources, budget = fit
        started = time.perf_counter()
        try:
            max_seconds = float(os.environ.get("ANSWER_MAX_SECONDS", ANSWER_MAX_SECONDS))
            llm = endpoint_llm(settings.spec, settings.params)
            if settings.mode == "ConversationChain":
                model, inputs, memory_start, notice, history = self._chain(llm, prompt, settings, budget)
            else:
                history = fit_history(settings.spec, self.turns, budget)
                model, inputs = self._template(llm, prompt, settings, history)
                memory_start, notice = 0, None
        except Exception as error:
            raise _failed(exchange, _explained(error, settings.spec)) from error
        exchange.memory_start = memory_start
        spec, params = settings.spec, settings.params
        # The budget is what the prompt without history left of the window.
        input_tokens = spec.context_window - params.max_new_tokens - budget
        input_tokens += sum(turn_tokens(spec, turn) for turn in history)
        if self.library:  # a document searched only in part says so with every answer from it
            notice = Text.joined([self.library.notice(self.documents), notice])
        relay = _TokenRelay(model, inputs, llm.client)
        return Reply(
            exchange, relay, settings, started, notice, input_tokens, max_seconds, save=save, waiting=waiting
        )

    def regenerate_last(self) -> str:
        """Take the last answer back so that its question is asked again; returns
        the question, to ``ask``.  The new answer is saved as the question's latest."""
        last = self._last_answered()
        last.answer, last.state, last.stats, last.reason = "", State.UNANSWERED, None, None
        last.answer_key, last.feedback = None, None  # the new answer is rated afresh
        return last.question

    def edit_last(self) -> str:
        """Take the last exchange back so that the next question replaces it (edit and
        resend); returns the question, to edit.  Until one is sent, the saved
        conversation keeps it."""
        last = self._last_answered()
        self.exchanges.pop()
        self.replacing = last.key
        return last.question

    def rate(self, exchange: Exchange, rating: str | None, comment: str = "") -> None:
        """Save the user's feedback on ``exchange``'s saved answer (``rating`` "up",
        "down" or None), replacing any before.  Raises ``ChatError`` if the store
        fails or refuses the comment; the exchange then keeps the feedback it had."""
        if self.store is None or self.conversation_id is None or exchange.answer_key is None:
            raise ValueError("only a saved answer can be rated")
        exchange.feedback = self.store.set_feedback(
            self.owner, self.conversation_id, exchange.answer_key, rating, comment
        )

    def save_again(self, exchange: Exchange, settings: Settings) -> None:
        """Retry saving an answer whose save failed."""
        exchange.reason = None
        self._saver(exchange, settings)(exchange)

    def settle(self, timeout: float = 30) -> None:
        """Stop an answer that another thread is streaming (a page run that a click
        interrupted) and wait until it is kept, so the caller sees it."""
        if self._streaming is not None:
            self._streaming.stop_from_elsewhere(timeout)

    def _sources(self, question: str, top_k: int, progress: Progress | None) -> list[Source] | None:
        """The passages found for ``question`` in the attached documents; None with none attached."""
        if not self.documents:
            return None
        if self.library is None:
            raise ValueError("documents are attached but there is no library to search them")
        return self.library.retriever(self.documents, progress).search(question, top_k)

    def _last_answered(self) -> Exchange:
        if not self.exchanges or not self.exchanges[-1].answered:
            raise ValueError("no answered exchange to take back")
        return self.exchanges[-1]

    def _exchange_for(self, question: str, settings: Settings) -> Exchange:
        """The exchange a question goes in: a resent question reuses its unanswered
        one (saved once); otherwise the question is saved before the model is
        called, so that it outlives a failure or a crash."""
        if self.exchanges and not self.exchanges[-1].answered:
            last = self.exchanges[-1]
            if last.question == question and (last.key or self.store is None):
                last.state, last.reason = State.UNANSWERED, None
                return last
            self.exchanges.pop()  # left unanswered in the store, as the user moved on
        exchange = Exchange(question)
        if self.store is not None:
            if self.conversation_id is None:
                self.conversation_id = self.store.create(
                    self.owner, question, settings.spec.id, settings.mode
                ).id
            documents = [asdict(document) for document in self.documents]
            exchange.key = self.store.add_question(
                self.owner, self.conversation_id, question, replaces=self.replacing, documents=documents
            )
            self.replacing = None
        self.exchanges.append(exchange)
        return exchange

    def _saver(self, exchange: Exchange, settings: Settings) -> Callable[[Exchange], None]:
        """Saves ``exchange``'s answer to the conversation it was asked in, even if the
        session has moved on by the time it ends (a click on "New chat" mid-answer)."""
        conversation_id = self.conversation_id

        def save(done: Exchange) -> None:
            if self.store is None or conversation_id is None or done.key is None:
                return
            record = answer_record(done, settings)
            try:
                try:
                    done.answer_key = self.store.add_answer(
                        self.owner, conversation_id, done.key, done.stored_answer, record
                    )
                except ConversationNotFound:  # deleted meanwhile, in another tab or replica
                    self._save_as_new(conversation_id, done, record, settings)
                done.saved = True
            except ChatError as error:
                done.saved, done.reason = False, error.message

        return save

    def _save_as_new(
        self, deleted: str, exchange: Exchange, record: dict[str, Any], settings: Settings
    ) -> None:
        """Keep an exchange whose conversation was deleted while it was answered: as
        a new conversation, which the session moves to if it was still on the old one."""
        assert self.store is not None
        moved = self.store.create(self.owner, exchange.question, settings.spec.id, settings.mode).id
        if self.conversation_id == deleted:  # before saving, so that "Save again" saves there
            self.conversation_id, self.exchanges = moved, [exchange]
        exchange.memory_start = 0  # the first turn of its conversation now
        exchange.key = self.store.add_question(self.owner, moved, exchange.question)
        answer = exchange.stored_answer
        exchange.answer_key = self.store.add_answer(self.owner, moved, exchange.key, answer, record)
        exchange.reason = MOVED

    def _memory_start(self) -> int:
        answered = [e for e in self.exchanges[:-1] if e.answered]
        return answered[-1].memory_start if answered else 0

    def _template(
        self, llm: Any, question: str, settings: Settings, history: Sequence[Turn]
    ) -> tuple[Runnable, dict[str, str]]:
        """The model behind its prompt template, and what fills the template."""
        fmt = settings.spec.chat_format
        inputs = {"history": fmt.render_history(history), "input": fmt.clean(question)}
        return fmt.template(settings.system) | llm, inputs

    def _chain(
        self, llm: Any, question: str, settings: Settings, budget: int
    ) -> tuple[Runnable, dict[str, str], int, Text | None, list[Turn]]:
        """The chain and its input, where its memory now starts, a notice of turns it
        dropped, and the turns it holds."""
        spec, fmt = settings.spec, settings.spec.chat_format
        start = min(self._memory_start(), len(self.turns))
        buffered = self.turns[start:]
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
            notice = Text(
                f"The conversation no longer fits {spec.label}'s context window: the "
                f"{plural(dropped, 'oldest turn', 'oldest turns')} left the chain's memory.",
                ko=f"대화가 더 이상 {spec.label}의 컨텍스트 창에 맞지 않아 가장 오래된 {dropped}개의 "
                "대화가 체인의 메모리에서 빠졌습니다.",
            )
        return chain, {"input": fmt.clean(question)}, start + dropped, notice, buffered[dropped:]


def _fitted_or_error(question: str, sources: list[Source] | None, settings: Settings) -> Fitted | ChatError:
    try:
        return _fitted(question, sources, settings)
    except Exception as error:  # this model cannot take it; another one of a comparison may
        return _explained(error, settings.spec)


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
        raise QuestionTooLong(
            f"This message is {len(question):,} characters long; the most a message may "
            f"have is {QUESTION_MAX_CHARS:,}. Shorten it, or summarize a long text as a PDF.",
            ko=f"이 메시지는 {len(question):,}자입니다. 메시지는 최대 {QUESTION_MAX_CHARS:,}자까지 "
            "보낼 수 있습니다. 줄이거나, 긴 글은 PDF로 요약하세요.",
        )
    return history_budget(settings.spec, settings.params, settings.system, question)


def answer_record(exchange: Exchange, settings: Settings) -> dict[str, Any]:
    """What is saved with an answer (``Message.stats``): its ``Stats``, whether it was
    stopped, what generated it (``answered_with``) and the passages it was given."""
    record = {
        **(asdict(exchange.stats) if exchange.stats else {}),
        "stopped": exchange.state is State.STOPPED,
        **answered_with(settings),
    }
    if exchange.sources is not None:
        record["sources"] = [source.kept() for source in exchange.sources]
    return record


def answered_with(settings: Settings) -> dict[str, Any]:
    """What an answer's record says it was generated by: the model (its catalog id,
    endpoint and inference component) and the generation parameters."""
    spec = settings.spec
    model = {"model": spec.id, "endpoint": spec.endpoint_name, "params": asdict(settings.params)}
    return model | ({"component": spec.inference_component} if spec.inference_component else {})


def _explained(error: BaseException, spec: ModelSpec) -> ChatError:
    return explain(error, spec.endpoint_name, spec.inference_component)


def _failed(exchange: Exchange, error: ChatError) -> ChatError:
    exchange.state, exchange.reason = State.FAILED, error.message
    return error


class _Streaming(Protocol):
    """What streams in threads a page run may leave behind: a reply, or a comparison."""

    def stop_from_elsewhere(self, timeout: float) -> None: ...


def _overtime(seconds: float, kept: bool) -> Text:
    """Why an answer ended at its deadline, with its text so far kept or with none."""
    if kept:
        return Text(
            f"This answer was ended after {seconds:g} s, the longest an answer may take "
            "(ANSWER_MAX_SECONDS); its text until then is kept.",
            ko=f"답변이 최대 시간 {seconds:g}초(ANSWER_MAX_SECONDS)를 넘어 중단되었습니다. "
            "그때까지의 내용은 남겨 두었습니다.",
        )
    return Text(
        f"No answer came within {seconds:g} s, the longest an answer may take (ANSWER_MAX_SECONDS). "
        "Resend to try again.",
        ko=f"최대 시간 {seconds:g}초(ANSWER_MAX_SECONDS) 안에 답변이 오지 않았습니다. 다시 보내 보세요.",
    )


class Reply:
    """An answer being generated into its exchange.  Iterating yields its text as
    it streams; when the iteration ends the exchange is answered and saved.
    ``stop`` (or leaving a ``with`` block, or the iteration) ends it early and keeps
    the text so far; so does its deadline, ``max_seconds`` after ``started``."""

    def __init__(
        self,
        exchange: Exchange,
        relay: _TokenRelay,
        settings: Settings,
        started: float,
        notice: Text | None,
        input_tokens: int,
        max_seconds: float,
        *,
        save: Callable[[Exchange], None],
        waiting: Callable[[], None] | None = None,
    ) -> None:
        self.exchange = exchange
        self.settings = settings
        self.notice = notice  # something the user should know about this answer
        self._input_tokens = input_tokens
        self._relay = relay
        self._save = save
        self._waiting = waiting
        self._started = started
        self._max_seconds = max_seconds
        self._parts: list[str] = []
        self._first: float | None = None
        self._stop_requested = False
        self._settled = threading.Event()  # answered, stopped or failed

    def __enter__(self) -> Reply:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __iter__(self) -> Iterator[str]:
        try:
            while (text := self._next()) is not None:
                yield text
        finally:  # left early (the page run ended, say): the model's thread is stopped too
            self.stop()

    def _next(self) -> str | None:
        """The next piece of text; None once the answer has ended: complete, stopped
        (``request_stop``) or past its deadline."""
        while not self._stop_requested:
            left = self._started + self._max_seconds - time.perf_counter()
            if left <= 0:
                self.stop(overtime=True)
                return None
            try:
                text = self._relay.next(min(left, WAIT_S))
            except Exception as error:
                self._settled.set()
                raise _failed(self.exchange, _explained(error, self.settings.spec)) from error
            if text is _TokenRelay.DONE:
                self._finish(State.ANSWERED)
                return None
            if isinstance(text, str):
                if self._first is None:
                    self._first = time.perf_counter()
                self._parts.append(text)
                return text
            if self._waiting is not None:
                self._waiting()
        return None

    def stop(self, overtime: bool = False) -> None:
        """Stop generating (the model's thread is stopped and joined) and keep the
        text so far as the answer, marked stopped; ``overtime``: at its deadline,
        which the exchange's reason says.  Does nothing once the answer is settled;
        with no text yet, the question stays unanswered."""
        if self._settled.is_set():
            return
        self._relay.cancel()
        if self._parts:
            self._finish(State.STOPPED, _overtime(self._max_seconds, True) if overtime else None)
        else:
            self.exchange.reason = _overtime(self._max_seconds, False) if overtime else STOPPED_EARLY
            self._settled.set()

    def request_stop(self) -> None:
        """Have the thread iterating this reply stop it now, even while no token comes."""
        self._stop_requested = True
        self._relay.wake()

    def stop_from_elsewhere(self, timeout: float) -> None:
        self.request_stop()
        self._settled.wait(timeout)

    def _finish(self, state: State, reason: Text | None = None) -> None:
        try:
            finished = time.perf_counter()
            exchange = self.exchange
            exchange.answer = "".join(self._parts)
            first = self._first or finished
            n_tokens = count_tokens(self.settings.spec, exchange.answer)
            rate = (n_tokens - 1) / (finished - first) if n_tokens > 1 and finished > first else None
            exchange.stats = Stats(
                first - self._started, n_tokens, rate, self._input_tokens, finished - self._started
            )
            exchange.state, exchange.reason = state, reason
            self._save(exchange)
        finally:
            self._settled.set()


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


class _Cancelled(Exception):
    pass


class _TokenRelay(BaseCallbackHandler):
    """Runs a model (behind its prompt template, or in a chain) in a thread of its own
    and passes its tokens through a queue to the thread that reads the answer.  So
    that thread never waits inside the model's stream, where nothing could end it:
    it waits on the queue, for ``WAIT_S`` at most, and ``cancel`` stops the model's
    thread at its next token, or at once while it waits on the endpoint
    (``ChatClient.close``), and joins it."""

    raise_error = True
    DONE = object()  # the answer is complete
    _WAKE = object()  # the reader has something to look at (``Reply.request_stop``)

    def __init__(self, model: Runnable, inputs: dict[str, str], client: ChatClient) -> None:
        self.tokens: queue.Queue[Any] = queue.Queue()
        self.cancelled = False
        self._client = client
        # Started by the first read: an answer stopped before it is read never calls the model.
        self._thread = threading.Thread(target=self._work, args=(model, inputs), daemon=True)

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        if self.cancelled:
            raise _Cancelled
        self.tokens.put(token)

    def next(self, timeout: float) -> str | object | None:
        """The next token, ``DONE``, or None when none came within ``timeout`` (or the
        reader was woken); raises what the model raised."""
        if self._thread.ident is None:
            self._thread.start()
        try:
            item = self.tokens.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            raise item
        return None if item is self._WAKE else item

    def wake(self) -> None:
        self.tokens.put(self._WAKE)

    def cancel(self) -> None:
        self.cancelled = True
        self._client.close()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(JOIN_S)

    def _work(self, model: Runnable, inputs: dict[str, str]) -> None:
        try:
            model.invoke(inputs, config={"callbacks": [self]})
            self.tokens.put(self.DONE)
        except BaseException as error:  # handed to the reading thread, if it still reads
            if not self.cancelled:
                self.tokens.put(error)
                return
            # Stopped: the traceback's frames hold the model's half-read stream, and
            # so the model's lock, for as long as anything (a log record) keeps the
            # error. Clearing them closes the stream now.
            traceback.clear_frames(error.__traceback__)
