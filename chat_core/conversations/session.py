"""A chat session: one conversation's exchanges, and asking the model the next question.

``ChatSession.exchanges`` is the conversation as the user sees it (``exchange``);
pages render it and keep no copy.  A question is fitted to each model's context
window and sent in the conversation's mode (``prompting``); its answer streams
in a thread the page can always end (``reply``), or, asked of several models at
once, side by side (``compare``).  This module saves each question before the
model is called and each answer as it ends, and keeps the session in step with
the store.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from typing import Any, Protocol, overload

import chat_core.local.runtime  # noqa: F401  (registers the bundled models with the model path)
from chat_core.conversations.compare import Comparison
from chat_core.conversations.exchange import (
    MODES,
    Exchange,
    Settings,
    State,
    answer_record,
)
from chat_core.conversations.prompting import (
    Fitted,
    call,
    fitted_or_error,
)
from chat_core.conversations.reply import ANSWER_MAX_SECONDS, Reply, TokenRelay
from chat_core.conversations.store import (
    LOCAL_USER,
    ConversationNotFound,
    Store,
    current_view,
    storable,
    undecided,
)
from chat_core.errors import ChatError
from chat_core.i18n import Message, Text
from chat_core.models.budget import history_tokens
from chat_core.models.endpoint import endpoint_llm
from chat_core.models.prompts import Turn
from chat_core.retrieval.grounding import no_source
from chat_core.retrieval.indexing import Progress
from chat_core.retrieval.library import Attached, Library
from chat_core.retrieval.search import TOP_K, Source
from chat_core.usage.limits import Allowance

NO_ANSWER_YET = Message(
    "This question has no answer yet: the answer failed or was cut short.",
    "이 질문에는 아직 답이 없습니다. 답변이 실패했거나 중간에 끊겼습니다.",
).format()
MOVED = Message(
    "This conversation was deleted, in another tab or window, while this answer came: the question "
    "and its answer are saved as a new conversation, open now.",
    "이 답변이 오는 동안 다른 탭이나 창에서 이 대화가 삭제되었습니다. "
    "질문과 답변은 새 대화로 저장되어 지금 열려 있습니다.",
).format()


class PickFirst(ChatError):
    """A comparison waits for its pick: asking on would leave its answers out of the conversation."""

    en = (
        'Choose one of the compared answers ("Use this answer") before the next question: '
        "it becomes the conversation's answer."
    )
    ko = "다음 질문 전에 비교한 답변 중 하나를 고르세요('이 답변 쓰기'). 그 답변이 대화의 답변이 됩니다."


class ChatSession:
    def __init__(
        self,
        store: Store | None = None,
        owner: str = LOCAL_USER,
        library: Library | None = None,
        allowance: Allowance | None = None,
    ) -> None:
        self.store = store
        self.owner = owner
        self.library = library  # the owner's documents, which questions can be asked of
        # The owner's limits, counted in this store unless given (a command without one)
        self.allowance = allowance or Allowance(lambda: store, owner)
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
        exchange.model = settings.spec.label
        self._saver(exchange, settings)(exchange)
        return self.conversation_id or ""

    def ask(
        self,
        question: str,
        settings: Settings,
        top_k: int = TOP_K,
        progress: Progress | None = None,
        waiting: Callable[[Text | None], None] | None = None,
    ) -> Reply:
        """Start answering ``question``; iterate the ``Reply`` for the answer's text.
        With documents attached, it is answered from the ``top_k`` passages found
        for it (``Exchange.sources``); a document not indexed yet is indexed first,
        with ``progress`` (pages done, time left) after each batch of pages.
        ``waiting(Reply.waited())`` is called in the iterating thread whenever no
        text came for ``WAIT_S``: a page shows what the answer waits for, and so
        makes a Streamlit call, where its run can end (Streamlit ends a run, for a
        rerun or a closed tab, only inside its own calls).

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
        idle: Callable[[], None] | None = None,
    ) -> Comparison:
        """Ask ``question`` of two or three models at once, each with its own settings:
        the question is saved once, and each model's answer streams in a thread of its
        own and is saved as a candidate as soon as it ends (``compare.Comparison``).
        One model failing fails its candidate only; the conversation goes on with the
        candidate the user picks (``Comparison.pick``).  ``idle()`` is called in the
        iterating thread whenever no text came for ``WAIT_S``, for the reason ``ask``
        calls its ``waiting``; what each model waits for the comparison tells itself
        (``Comparison.__iter__``)."""
        if not 2 <= len(settings) <= 3:
            raise ValueError(f"compare two or three models, not {len(settings)}")
        exchange, fits = self._asked(question, settings, top_k, progress)
        self.comparison = Comparison(exchange, self.store, self.owner, self.conversation_id)
        try:
            for one, fit in zip(settings, fits, strict=True):
                candidate, reply = Exchange(question, exchange.key, no_source=exchange.no_source), None
                if isinstance(fit, ChatError):
                    candidate.failed(fit)
                else:
                    with contextlib.suppress(ChatError):  # the candidate says why it failed
                        reply = self.reply(candidate, fit, one, self.comparison.keep)
                self.comparison.add(one, candidate, reply)
        except BaseException:  # the replies made so far never start: their reservations are settled
            self.comparison.stop_from_elsewhere(0)
            raise
        self._streaming = self.comparison.start(idle)
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
            raise PickFirst
        self.comparison = None
        try:
            storable(question)  # before a tokenizer meets what no store could keep
            sources = self._sources(question, top_k, progress)
            fits = [fitted_or_error(question, sources, one) for one in settings]
            if all(isinstance(fit, ChatError) for fit in fits):
                raise fits[0]
            exchange = self._exchange_for(question, settings[0])
            exchange.no_source = self.no_source(question, top_k) if sources == [] else None
            return exchange, fits
        except Exception as error:  # too long, or the store failed: shown, to be resent
            if self.exchanges and not self.exchanges[-1].answered:
                self.exchanges.pop()
            self.exchanges.append(refused := Exchange(question))
            raise refused.failed(settings[0].explain(error)) from error

    def reply(
        self,
        exchange: Exchange,
        fit: Fitted,
        settings: Settings,
        save: Callable[[Exchange], None],
        waiting: Callable[[Text | None], None] | None = None,
    ) -> Reply:
        """The model's answer to ``exchange``'s question, from the prompt fitted for it."""
        prompt, exchange.sources, budget = fit
        exchange.model, exchange.picked = settings.spec.label, False
        started = time.perf_counter()
        try:
            max_seconds = float(os.environ.get("ANSWER_MAX_SECONDS", ANSWER_MAX_SECONDS))
            llm = endpoint_llm(settings.spec, settings.params)
            sent = call(llm, prompt, settings, budget, _History(self.exchanges), self._memory_start())
        except Exception as error:
            raise exchange.failed(settings.explain(error)) from error
        exchange.memory_start = sent.memory_start
        spec, params = settings.spec, settings.params
        # The budget is what the prompt without history left of the window.
        input_tokens = spec.context_window - params.max_new_tokens - budget
        input_tokens += history_tokens(spec, sent.history)
        notice = sent.notice
        if self.library:  # a document searched only in part says so with every answer from it
            notice = Text.joined([self.library.notice(self.documents), notice])
        relay = TokenRelay(sent.model, sent.inputs, llm.client, owner=self.owner)
        # The last step before the reply that settles it exists (nothing after can fail),
        # and before the model is called: its thread starts when the reply is first read.
        try:
            settle = self.allowance.admit(input_tokens, params.max_new_tokens, seconds=max_seconds)
        except ChatError as error:
            raise exchange.failed(error) from error
        return Reply(
            exchange,
            relay,
            settings,
            started,
            notice,
            input_tokens,
            max_seconds,
            save=save,
            waiting=waiting,
            settle=settle,
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

    def absent(self, question: str) -> list[str]:
        """The names and codes ``question`` asks about that the attached documents never mention."""
        if not self.documents or self.library is None:
            return []
        return self.library.retriever(self.documents).absent(question)

    def no_source(self, question: str, top_k: int = TOP_K) -> Text:
        """Why the attached documents gave ``question`` no passage."""
        if absent := self.absent(question):
            return no_source(absent)
        lacks = self.library.retriever(self.documents).lacking(question, top_k) if self.library else None
        return no_source([], lacks)

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
        """Where the chain's memory started for the question before the one asked (the last)."""
        return self.exchanges[-2].memory_start if len(self.exchanges) > 1 else 0


class _History(Sequence[Turn]):
    """The turns before the question being asked (the last exchange), each made as it
    is read: a prompt reads the newest that fit its window, so a question in a
    conversation of 10,000 turns builds a few hundred, not 10,000
    (bench/turn_overhead.py).  Every exchange before the last is answered:
    ``_exchange_for`` drops an unanswered one when the next question comes, and
    ``open`` keeps none but the last."""

    def __init__(self, exchanges: list[Exchange]) -> None:
        self._exchanges = exchanges
        self._length = max(len(exchanges) - 1, 0)

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> Turn: ...

    @overload
    def __getitem__(self, index: slice) -> list[Turn]: ...

    def __getitem__(self, index: int | slice) -> Turn | list[Turn]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._length))]
        if not -self._length <= index < self._length:
            raise IndexError(index)
        exchange = self._exchanges[index % self._length]
        return Turn(exchange.question, exchange.answer)

    def __reversed__(self) -> Iterator[Turn]:  # what fitting the window reads: the newest first
        for exchange in itertools.islice(reversed(self._exchanges), 1, None):
            yield Turn(exchange.question, exchange.answer)


class _Streaming(Protocol):
    """What streams in threads a page run may leave behind: a reply, or a comparison."""

    def stop_from_elsewhere(self, timeout: float) -> None: ...
