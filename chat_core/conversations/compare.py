"""One question asked of two or three models at once, their answers side by side.

Each model's answer streams in a thread of its own into one queue, which the
page drains from its own run (``Comparison`` is iterable): every column grows
as its text arrives, and no thread calls the UI.  The bundled model serializes
its calls behind a lock, so two local models take turns; remote endpoints
answer at once.  Each answer is saved as soon as it ends, as a *candidate*
(``"candidate": true`` in its record), so nothing generated is lost if the user
never picks: a candidate is not the conversation's answer (``store.current_view``
skips it).  Picking one saves its text again as the question's answer, with
``"comparison": {"chosen": key, "rejected": [keys]}`` naming the candidates' saved
answers, and the conversation goes on from it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from chat_core.conversations.exchange import Exchange, Settings, answer_record, model_label
from chat_core.conversations.reply import JOIN_S, WAIT_S, Reply
from chat_core.conversations.store import Message, Store
from chat_core.errors import ChatError


@dataclass
class Candidate:
    label: str  # its column's heading: the model
    # Its answer, state, stats and reason, as a conversation's exchange has them.
    exchange: Exchange
    settings: Settings | None = None  # what it was asked with; None when reopened from the store
    reply: Reply | None = None  # its stream; None when it failed before one began, or was reopened
    record: dict[str, Any] | None = None  # what is saved with it, once it ended


class Comparison:
    def __init__(self, exchange: Exchange, store: Store | None, owner: str, conversation_id: str | None):
        self.exchange = exchange  # the question's own: unanswered until a candidate is picked
        self.candidates: list[Candidate] = []
        self._store, self._owner, self._conversation_id = store, owner, conversation_id
        self._events: queue.Queue[tuple[int, str | None]] = queue.Queue()
        self._streaming = 0  # candidates whose end the queue has not given yet
        self._idle: Callable[[], None] | None = None

    @classmethod
    def reopened(
        cls, exchange: Exchange, answers: list[Message], store: Store | None, owner: str, conversation_id: str
    ) -> Comparison:
        """An undecided comparison as saved: its candidates' answers (``store.undecided``)."""
        comparison = cls(exchange, store, owner, conversation_id)
        for answer in answers:
            candidate = Exchange(exchange.question, exchange.key)
            candidate.answer_from(answer)
            comparison.candidates.append(Candidate(model_label(answer.stats), candidate, record=answer.stats))
        return comparison

    def add(self, settings: Settings, exchange: Exchange, reply: Reply | None) -> None:
        """A model's candidate: streaming ``reply``, or with none failed (its exchange says why)."""
        self.candidates.append(Candidate(settings.spec.label, exchange, settings, reply))

    def start(self, idle: Callable[[], None] | None = None) -> Comparison:
        """Start every candidate's stream, each in its own thread; ``idle`` as
        ``ChatSession.compare`` takes it, called by the thread that iterates this."""
        self._idle = idle
        for index, candidate in enumerate(self.candidates):
            if candidate.reply is not None:
                self._streaming += 1
                threading.Thread(target=self._produce, args=(index, candidate.reply), daemon=True).start()
        return self

    def __enter__(self) -> Comparison:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_from_elsewhere(JOIN_S)

    def __iter__(self) -> Iterator[tuple[int, str | None]]:
        """(index, text) for each piece of a candidate's answer as it arrives, and
        (index, None) when its stream has ended (answered, stopped or failed: see
        its exchange), until every stream has ended (a piece of text is never empty:
        ``Reply``); every ``WAIT_S``, (index, "")
        for each candidate still waiting for its first text (its ``reply.waited()``
        says what for), though the others stream: a model can wait its turn behind
        another.  Leaving it early (or a ``with`` block) stops every answer still
        streaming, each keeping its text."""
        try:
            due = time.perf_counter() + WAIT_S
            while self._streaming:
                try:
                    index, text = self._events.get(timeout=WAIT_S)
                    if text is None:
                        self._streaming -= 1
                    yield index, text
                except queue.Empty:
                    if self._idle is not None:
                        self._idle()
                if time.perf_counter() >= due:
                    due = time.perf_counter() + WAIT_S
                    yield from ((index, "") for index in self._waiting_for_text())
        finally:
            if self._streaming:
                self.stop_from_elsewhere(JOIN_S)

    def _waiting_for_text(self) -> list[int]:
        return [
            index
            for index, candidate in enumerate(self.candidates)
            if candidate.reply is not None and candidate.reply.waited() is not None
        ]

    @property
    def pickable(self) -> list[int]:
        """The candidates that have an answer to pick."""
        return [index for index, candidate in enumerate(self.candidates) if candidate.exchange.answered]

    def keep(self, done: Exchange) -> None:
        """Save a candidate's answer as it ends (its ``Reply``'s save): a failure to
        save is kept in its exchange, and tried again when one is picked."""
        candidate = next(candidate for candidate in self.candidates if candidate.exchange is done)
        assert candidate.settings is not None  # a live candidate
        candidate.record = {**answer_record(done, candidate.settings), "candidate": True}
        self._save(candidate)

    def stop_from_elsewhere(self, timeout: float) -> None:
        """Stop every answer still streaming, at once, and wait until each is kept
        (the text so far, marked stopped, saved as a candidate)."""
        replies = [candidate.reply for candidate in self.candidates if candidate.reply is not None]
        for reply in replies:
            reply.request_stop()
        for reply in replies:
            reply.stop_from_elsewhere(timeout)

    def pick(self, index: int) -> None:
        """Make candidate ``index``'s answer the question's: saved once more, as the
        question's answer, with the candidates it was chosen over.  Raises the
        store's ``ChatError`` when it cannot be saved: the comparison stays undecided."""
        chosen = self.candidates[index]
        if not chosen.exchange.answered or chosen.record is None:
            raise ValueError("only a candidate with an answer can be picked")
        for candidate in self.candidates:  # a choice names saved answers only
            if candidate.record is not None and not candidate.exchange.saved:
                self._save(candidate, raising=True)
        others = [c.exchange.answer_key for c in self.candidates if c is not chosen and c.exchange.answer_key]
        record = {name: value for name, value in chosen.record.items() if name != "candidate"}
        record["comparison"] = {"chosen": chosen.exchange.answer_key, "rejected": others}
        exchange = self.exchange
        if self._store is not None and self._conversation_id is not None and exchange.key is not None:
            exchange.answer_key = self._store.add_answer(
                self._owner, self._conversation_id, exchange.key, chosen.exchange.answer, record
            )
        answer = chosen.exchange
        exchange.answer, exchange.state, exchange.stats = answer.answer, answer.state, answer.stats
        exchange.sources, exchange.memory_start = answer.sources, answer.memory_start
        exchange.reason, exchange.saved = None, True
        exchange.model, exchange.picked = answer.model, True

    def _produce(self, index: int, reply: Reply) -> None:
        try:
            for text in reply:
                self._events.put((index, text))
        except ChatError:
            pass  # its exchange says why; the other candidates go on
        finally:
            self._events.put((index, None))

    def _save(self, candidate: Candidate, raising: bool = False) -> None:
        done = candidate.exchange
        if self._store is None or self._conversation_id is None or done.key is None:
            return
        try:
            done.answer_key = self._store.add_answer(
                self._owner, self._conversation_id, done.key, done.answer, candidate.record or {}
            )
            if not done.saved:  # saved now: the failure it said is past
                done.saved, done.reason = True, None
        except ChatError as error:
            done.saved, done.reason = False, error.message
            if raising:
                raise
