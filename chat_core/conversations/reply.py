"""An answer streaming into its exchange, which the page's thread can always end.

The model runs in a thread of its own (``TokenRelay``) and the thread that reads
the answer (the page's) only waits on a queue: an answer ends at its deadline
(ANSWER_MAX_SECONDS) or when it is stopped, even while the endpoint sends nothing,
and ending it stops and joins the model's thread.  The deadline does not run while
the model wakes (``models.wake``): that wait has its own bound, WAKE_MAX_SECONDS.
Until the first token comes, ``Reply.waited`` says what is happening (the reader is
called with it every ``WAIT_S``); an answer that falls into repeating one span is
ended, marked (``repetition``).
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import Runnable

from chat_core.conversations.exchange import REPEATING, Exchange, Settings, State, Stats
from chat_core.conversations.repetition import RepetitionGuard
from chat_core.i18n import Message, Text, plural
from chat_core.local import model as local_model
from chat_core.models.endpoint import ChatClient
from chat_core.models.wake import Wake
from chat_core.usage.limits import Settle
from chat_core.usage.records import output_tokens

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
STOPPED_EARLY = Message("Stopped before any answer came.", "답변이 오기 전에 중지했습니다.").format()
OVERTIME_KEPT = Message(
    "This answer was ended after {seconds:g} s, the longest an answer may take "
    "(ANSWER_MAX_SECONDS); its text until then is kept.",
    "답변이 최대 시간 {seconds:g}초(ANSWER_MAX_SECONDS)를 넘어 중단되었습니다. "
    "그때까지의 내용은 남겨 두었습니다.",
)
OVERTIME_EMPTY = Message(
    "No answer came within {seconds:g} s, the longest an answer may take (ANSWER_MAX_SECONDS). "
    "Resend to try again.",
    "최대 시간 {seconds:g}초(ANSWER_MAX_SECONDS) 안에 답변이 오지 않았습니다. 다시 보내 보세요.",
)
# What an answer waits for until its first token; ``seconds`` since the question was sent.
WAIT_QUEUED = Message(
    "{ahead} ahead of yours (the bundled model answers one at a time, users in turn) · {seconds} s",
    "앞에 질문 {count}개가 있습니다(내장 모델은 한 번에 하나씩, 사용자 차례대로 답합니다) · {seconds}초",
)
WAIT_PASSAGES = Message(
    "The model is reading {passages} and the question · {seconds} s",
    "모델이 자료 {count}개와 질문을 읽는 중 · {seconds}초",
)
WAIT_QUESTION = Message(
    "The model is reading the question · {seconds} s", "모델이 질문을 읽는 중 · {seconds}초"
)
WAIT_ENDPOINT = Message(
    "Waiting for the endpoint {endpoint} · {seconds} s",
    "엔드포인트 {endpoint}의 응답을 기다리는 중 · {seconds}초",
)


class Reply:
    """An answer being generated into its exchange.  Iterating yields its text as
    it streams; when the iteration ends the exchange is answered and saved.
    ``stop`` (or leaving a ``with`` block, or the iteration) ends it early and keeps
    the text so far; so does its deadline, ``max_seconds`` after ``started``."""

    def __init__(
        self,
        exchange: Exchange,
        relay: TokenRelay,
        settings: Settings,
        started: float,
        notice: Text | None,
        input_tokens: int,
        max_seconds: float,
        *,
        save: Callable[[Exchange], None],
        waiting: Callable[[Text | None], None] | None = None,
        settle: Settle | None = None,
    ) -> None:
        self.exchange = exchange
        self.settings = settings
        self.notice = notice  # something the user should know about this answer
        self._input_tokens = input_tokens
        self._relay = relay
        self._save = save
        self._waiting = waiting
        self._settle = settle  # the reservation under the user's limits, settled as it ends
        self._started = started
        self._max_seconds = max_seconds
        self._parts: list[str] = []
        self._first: float | None = None
        self._guard = RepetitionGuard()
        self._stop_requested = False
        self._complete = False  # all its text has come
        self._settled = threading.Event()  # answered, stopped or failed

    def __enter__(self) -> Reply:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __iter__(self) -> Iterator[str]:
        return self.streamed()

    def streamed(self, ended: Callable[[], None] = lambda: None) -> Iterator[str]:
        """Its text as it streams.  ``ended`` is called once all of it has come, before
        the answer is saved: a page draws the answer's end then, not after the store."""
        try:
            while (text := self._next()) is not None:
                yield text
            if self._complete:
                try:
                    ended()
                finally:
                    self._finish(State.ANSWERED)
        finally:  # left early (the page run ended, say): the model's thread is stopped too
            self.stop()

    def _next(self) -> str | None:
        """The next piece of text; None once the answer has ended: complete, stopped
        (``request_stop``), looping or past its deadline."""
        while not self._stop_requested and not self._settled.is_set():
            left = self._started + self._max_seconds + self._relay.asleep_s() - time.perf_counter()
            if left <= 0:
                self.stop(overtime=True)
                return None
            try:
                text = self._relay.next(min(left, WAIT_S))
            except Exception as error:
                self._ended(0)
                raise self.exchange.failed(self.settings.explain(error)) from error
            if text is TokenRelay.DONE:
                self._complete = True  # answered: saved once the reader has seen the end
                return None
            if text == "":  # no text: "" is what a compared column says while it waits
                continue
            if isinstance(text, str):
                if self._first is None:
                    self._first = time.perf_counter()
                self._parts.append(text)
                if self._guard.looping(text):  # this text is shown, and the answer ends
                    self._relay.cancel()
                    self._finish(State.STOPPED, REPEATING)
                return text
            if self._waiting is not None:
                self._waiting(self.waited())
        return None

    def waited(self) -> Text | None:
        """While no text has come: what the answer waits for, and for how many seconds;
        None once its text comes, or it has ended."""
        if self._first is not None or self._settled.is_set():
            return None
        seconds = int(time.perf_counter() - self._started)
        spec, sources = self.settings.spec, self.exchange.sources
        if (waking := self._relay.waking) is not None:
            return waking.status(spec.label, self._relay.waking_s())
        if spec.is_local and (ahead := local_model.TURNS.ahead(self._relay.thread)):
            return WAIT_QUEUED.format(
                ahead=plural(ahead, "question", "questions"), count=ahead, seconds=seconds
            )
        if sources:
            passages = plural(len(sources), "passage", "passages")
            return WAIT_PASSAGES.format(passages=passages, count=len(sources), seconds=seconds)
        if spec.is_local:
            return WAIT_QUESTION.format(seconds=seconds)
        return WAIT_ENDPOINT.format(endpoint=spec.endpoint_name, seconds=seconds)

    def stop(self, overtime: bool = False) -> None:
        """Stop generating (the model's thread is stopped and joined) and keep the
        text so far as the answer, marked stopped; ``overtime``: at its deadline,
        which the exchange's reason says.  Does nothing once the answer is settled;
        with no text yet, the question stays unanswered."""
        if self._settled.is_set():
            return
        self._relay.cancel()
        if self._parts:
            self._finish(State.STOPPED, OVERTIME_KEPT.format(seconds=self._max_seconds) if overtime else None)
        else:
            self.exchange.reason = (
                OVERTIME_EMPTY.format(seconds=self._max_seconds) if overtime else STOPPED_EARLY
            )
            self._ended(0)

    def request_stop(self) -> None:
        """Have the thread iterating this reply stop it now, even while no token comes."""
        self._stop_requested = True
        self._relay.wake()

    def stop_from_elsewhere(self, timeout: float) -> None:
        self.request_stop()
        if self._relay.thread is None:  # never read: no thread is iterating it to end it
            self.stop()
        self._settled.wait(timeout)

    def _finish(self, state: State, reason: Text | None = None) -> None:
        used = 0
        try:
            finished = time.perf_counter()
            exchange = self.exchange
            exchange.answer = "".join(self._parts)
            first = self._first or finished
            n_tokens = output_tokens(self.settings.spec, self.settings.params.max_new_tokens, exchange.answer)
            rate = (n_tokens - 1) / (finished - first) if n_tokens > 1 and finished > first else None
            exchange.stats = Stats(
                first - self._started, n_tokens, rate, self._input_tokens, finished - self._started
            )
            exchange.state, exchange.reason = state, reason
            used = self._input_tokens + n_tokens
            self._save(exchange)
        finally:
            self._ended(used)

    def _ended(self, tokens: int) -> None:
        """The answer has ended (answered, stopped or failed), having used ``tokens``
        as its usage record counts them (none for an answer not recorded)."""
        if self._settle is not None:
            self._settle(tokens)
        self._settled.set()


class _Cancelled(BaseException):
    """Raised in the model's thread at its next token once the answer is stopped.  Not
    an ``Exception``: LangChain's callback manager logs a warning for every Exception
    a callback raises ("Error in TokenRelay.on_llm_new_token callback"), and so does
    ``SagemakerEndpoint._stream`` ("Error raised by streaming inference endpoint");
    a stop is no error, and a BaseException passes both unlogged (``_work`` catches it)."""


class TokenRelay(BaseCallbackHandler):
    """Runs a model (behind its prompt template, or in a chain) in a thread of its own
    and passes its tokens through a queue to the thread that reads the answer.  So
    that thread never waits inside the model's stream, where nothing could end it:
    it waits on the queue, for ``WAIT_S`` at most, and ``cancel`` stops the model's
    thread at its next token, or at once while it waits on the endpoint
    (``ChatClient.close``), and joins it."""

    raise_error = True
    DONE = object()  # the answer is complete
    _WAKE = object()  # the reader has something to look at (``Reply.request_stop``)

    def __init__(self, model: Runnable, inputs: dict[str, str], client: ChatClient, *, owner: str) -> None:
        """``owner``: whose question it is, whose turns it takes on the bundled model."""
        self.tokens: queue.Queue[Any] = queue.Queue()
        self.cancelled = False
        self._client = client
        # Started by the first read: an answer stopped before it is read never calls the model.
        work = local_model.on_behalf_of(owner, self._work)
        self._thread = threading.Thread(target=work, args=(model, inputs), daemon=True)

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

    @property
    def waking(self) -> Wake | None:
        """The wake the model's call waits for now, if it sleeps."""
        return self._client.waking

    def waking_s(self) -> float:
        return self._client.waking_s()

    def asleep_s(self) -> float:
        return self._client.asleep_s()

    @property
    def thread(self) -> int | None:
        """The id of the thread that calls the model; None until it starts."""
        return self._thread.ident

    def wake(self) -> None:
        self.tokens.put(self._WAKE)

    def cancel(self) -> None:
        self.cancelled = True
        self._client.close()
        local_model.TURNS.withdraw(self._thread.ident)  # waiting its turn on the bundled model: leaves
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
