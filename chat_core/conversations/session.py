"""A chat session: the conversation so far, and asking the model the next question.

Two conversation modes build the prompt:

- "PromptTemplate": the model's ``PromptTemplate`` filled with the newest turns
  that fit the context window (``window.py``), chosen afresh for every question.
- "ConversationChain": LangChain's ``ConversationChain`` with a
  ``ConversationBufferMemory`` holding every turn since the chat began, as the
  original app had it, except that when the buffer would overflow the context
  window its oldest turns are dropped for good and the user is told.

The session's ``turns`` are the record.  The chain's memory is rebuilt from them
for each question, so an answer that fails or is abandoned half-way can never
leave the buffer out of step with the conversation: a turn is added only when
its answer has been generated in full.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from langchain_classic.chains import ConversationChain
from langchain_classic.memory import ConversationBufferMemory
from langchain_core._api import LangChainDeprecationWarning
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage

from chat_core.conversations.store import LOCAL_USER, Store, title_for
from chat_core.errors import explain
from chat_core.i18n import Text
from chat_core.models.catalog import GenerationParams, ModelSpec
from chat_core.models.endpoint import endpoint_llm
from chat_core.models.prompts import Turn
from chat_core.models.tokens import count_tokens
from chat_core.models.window import fit_history, history_budget, newest_fitting

MODES = ("PromptTemplate", "ConversationChain")
DEFAULT_SYSTEM = "You are a helpful assistant. Answer clearly and briefly."


@dataclass(frozen=True)
class Stats:
    first_token_s: float  # from the question being sent to the first text arriving
    tokens: int
    tokens_per_s: float | None  # decoding speed after the first token; None for 1 token
    stopped: bool = False  # the user stopped it: the answer is the text until then


class ChatSession:
    def __init__(
        self,
        spec: ModelSpec,
        *,
        mode: str = MODES[0],
        system: str = DEFAULT_SYSTEM,
        params: GenerationParams | None = None,
        store: Store | None = None,
        owner: str = LOCAL_USER,
    ) -> None:
        self.spec = spec
        self.mode = mode
        self.system = system
        self.params = params or spec.defaults
        self.store = store
        self.owner = owner
        self.conversation_number = 0
        self.clear()

    def clear(self) -> None:
        """Start a new conversation (saved once its first question is asked)."""
        self.conversation_number += 1  # an answer still streaming from before is not ours: _commit
        self.turns: list[Turn] = []
        self.stats: list[Stats | None] = []
        self.keys: list[str | None] = []  # each turn's saved question
        self.memory_start = 0  # ConversationChain mode: turns before this left the buffer
        self.conversation_id: str | None = None
        self.unanswered: tuple[str, str] | None = None  # (text, key): a saved question, no answer
        self.replacing: str | None = None  # the key of the question the next one edits
        self.last_prompt = ""  # the prompt of the latest answer, as the model got it

    def open(self, conversation_id: str) -> None:
        """Continue a saved conversation: its answered turns become the history,
        each question with its latest answer; edited questions are left out."""
        if self.store is None:
            raise ValueError("no store to open conversations from")
        messages = self.store.messages(self.owner, conversation_id)
        self.clear()
        self.conversation_id = conversation_id
        edited = {m.stats.get("replaces") for m in messages if m.role == "user"}
        latest = {m.answers: m for m in messages if m.answers}  # in key order: the last one wins
        questions = [m for m in messages if m.role == "user" and m.key not in edited]
        for question in questions:
            if answer := latest.get(question.key):
                self.turns.append(Turn(question.text, answer.text))
                self.stats.append(Stats(**answer.stats) if answer.stats else None)
                self.keys.append(question.key)
        if questions and questions[-1].key not in latest:
            self.unanswered = (questions[-1].text, questions[-1].key)

    def start_with(self, question: str, answer: str) -> None:
        """A new conversation opening with a turn made elsewhere (a PDF's summary),
        so that follow-up questions have it as history."""
        self.clear()
        key = self._save_question(question)
        if self.store is not None and self.conversation_id and key:
            self.store.add_answer(self.owner, self.conversation_id, key, answer, {})
        self.unanswered = None
        self.turns, self.stats, self.keys = [Turn(question, answer)], [None], [key]

    def regenerate_last(self) -> str:
        """Take the last turn back so that its question is answered again; returns
        the question, to ``ask``.  The new answer is saved as the question's latest."""
        turn, key = self._take_back_last()
        self.unanswered = (turn.question, key) if key else None
        return turn.question

    def edit_last(self) -> str:
        """Take the last turn back so that the next question replaces it (edit and
        resend); returns the question, to edit.  Until one is sent, the saved
        conversation keeps the turn."""
        turn, key = self._take_back_last()
        self.unanswered, self.replacing = None, key
        return turn.question

    def _take_back_last(self) -> tuple[Turn, str | None]:
        if not self.turns:
            raise ValueError("no turn to take back")
        self.stats.pop()
        self.memory_start = min(self.memory_start, len(self.turns) - 1)
        return self.turns.pop(), self.keys.pop()

    def _save_question(self, question: str) -> str | None:
        """Keep the question before the model is called, so that it outlives a
        failure or a crash; a resent question is not saved twice."""
        if self.store is None:
            return None
        if self.unanswered and self.unanswered[0] == question:
            return self.unanswered[1]
        if self.conversation_id is None:
            self.conversation_id = self.store.create(
                self.owner, title_for(question), self.spec.id, self.mode
            ).id
        key = self.store.add_question(self.owner, self.conversation_id, question, replaces=self.replacing)
        self.unanswered, self.replacing = (question, key), None
        return key

    def ask(self, question: str) -> Reply:
        """Start answering ``question``; iterate the ``Reply`` for the answer's text.

        Raises ``ChatError`` (here or while iterating) with a message for the user;
        the turns are then unchanged, and a saved question stays, unanswered."""
        if self.mode not in MODES:
            raise ValueError(f"unknown conversation mode {self.mode!r}")
        question_key = self._save_question(question)
        started = time.perf_counter()
        try:
            llm = endpoint_llm(self.spec, self.params)
            if self.mode == "ConversationChain":
                reply = self._ask_chain(llm, question, started)
            else:
                reply = self._ask_template(llm, question, started)
        except Exception as error:
            raise explain(error, self.spec.endpoint_name) from error
        reply.question_key = question_key
        reply.conversation = (self.conversation_number, self.conversation_id)
        return reply

    def _ask_template(self, llm: Any, question: str, started: float) -> Reply:
        fmt = self.spec.prompt_format
        history = fit_history(self.spec, self.params, self.system, self.turns, question)
        recorder = _PromptRecorder()
        chunks = (fmt.template(self.system) | llm).stream(
            {"history": fmt.render_history(history), "input": fmt.clean(question)},
            config={"callbacks": [recorder]},
        )
        return Reply(self, question, chunks, recorder, started, self.memory_start)

    def _ask_chain(self, llm: Any, question: str, started: float) -> Reply:
        fmt = self.spec.prompt_format
        buffered = self.turns[self.memory_start :]
        budget = history_budget(self.spec, self.params, self.system, question)
        dropped = len(buffered) - newest_fitting(self.spec, buffered, budget)
        with warnings.catch_warnings():
            # The classic chain and memory are deprecated upstream; users ask for this mode.
            warnings.simplefilter("ignore", LangChainDeprecationWarning)
            memory = _FormattedBufferMemory(prompt_format=fmt)
            for turn in buffered[dropped:]:
                memory.chat_memory.add_user_message(turn.question)
                memory.chat_memory.add_ai_message(turn.answer)
            chain = ConversationChain(llm=llm, memory=memory, prompt=fmt.template(self.system))
        relay = _TokenRelay()
        chunks = relay.run(chain, fmt.clean(question))
        reply = Reply(self, question, chunks, relay, started, self.memory_start + dropped)
        if dropped:
            reply.notice = Text(
                f"The conversation no longer fits {self.spec.label}'s context window: the "
                f"{dropped} oldest turn{'s' if dropped > 1 else ''} left the chain's memory.",
                ko=f"대화가 더 이상 {self.spec.label}의 컨텍스트 창에 맞지 않아 가장 오래된 {dropped}개의 "
                "대화가 체인의 메모리에서 빠졌습니다.",
            )
        return reply

    def _commit(self, reply: Reply, memory_start: int) -> None:
        """Save the answer to the conversation it was asked in.  Only if the session
        is still in that conversation does it become a turn here: an answer
        stopped by a click on "New chat" or another conversation ends after the
        click has moved the session on."""
        question, answer, stats = reply.question, reply.answer, reply.stats
        number, conversation_id = reply.conversation
        if self.store is not None and conversation_id and reply.question_key:
            self.store.add_answer(self.owner, conversation_id, reply.question_key, answer, asdict(stats))
        if number != self.conversation_number:
            return
        self.unanswered = None
        self.turns.append(Turn(question, answer))
        self.stats.append(stats)
        self.keys.append(reply.question_key)
        self.last_prompt = reply.prompt
        self.memory_start = memory_start


class Reply:
    """An answer being generated.  Iterating yields its text as it streams; when
    the iteration ends the turn is part of the session and ``stats`` is set.
    ``stop`` ends it early and keeps the text so far."""

    def __init__(
        self,
        session: ChatSession,
        question: str,
        chunks: Iterator[str],
        recorder: _PromptRecorder,
        started: float,
        memory_start: int,
    ) -> None:
        self.session = session
        self.question = question
        self.answer = ""
        self.stats: Stats | None = None
        self.notice: Text | None = None  # something the user should know about this answer
        self.question_key: str | None = None  # the saved question this answers
        self.conversation: tuple[int, str | None] = (0, None)  # where it was asked (see _commit)
        self._chunks = chunks
        self._recorder = recorder
        self._started = started
        self._memory_start = memory_start
        self._parts: list[str] = []
        self._first: float | None = None
        self._stop_requested = False
        self._settled = threading.Event()  # complete, stopped or failed

    @property
    def prompt(self) -> str:
        """The prompt exactly as it was sent to the model."""
        return self._recorder.prompt

    def __iter__(self) -> Iterator[str]:
        try:
            for chunk in self._chunks:
                if self._first is None:
                    self._first = time.perf_counter()
                self._parts.append(chunk)
                if self._stop_requested:
                    self.stop()
                    return
                yield chunk
        except Exception as error:
            self._settled.set()
            raise explain(error, self.session.spec.endpoint_name) from error
        self._finish(stopped=False)

    def stop(self) -> None:
        """Stop generating (the model stops at its next token) and keep the text so
        far as the answer, marked stopped.  Does nothing once the answer is
        complete; with no text yet, the question stays unanswered."""
        if self.stats is not None:
            return
        close = getattr(self._chunks, "close", None)
        if close:
            close()
        if self._parts:
            self._finish(stopped=True)
        self._settled.set()

    def stop_from_elsewhere(self, timeout: float = 60) -> None:
        """Stop an answer that another thread is streaming (a page run that was
        interrupted) and wait until it is saved, so the caller sees it."""
        self._stop_requested = True
        self._settled.wait(timeout)

    def _finish(self, *, stopped: bool) -> None:
        finished = time.perf_counter()
        self.answer = "".join(self._parts)
        first = self._first or finished
        n_tokens = count_tokens(self.session.spec, self.answer)
        rate = (n_tokens - 1) / (finished - first) if n_tokens > 1 and finished > first else None
        self.stats = Stats(first - self._started, n_tokens, rate, stopped)
        self.session._commit(self, self._memory_start)
        self._settled.set()


class _FormattedBufferMemory(ConversationBufferMemory):
    """ConversationBufferMemory whose history is written in the model's own prompt
    format instead of "Human: ... AI: ..." lines."""

    prompt_format: Any

    def _buffer_as_str(self, messages: list[BaseMessage]) -> str:
        pairs = zip(messages[::2], messages[1::2], strict=True)
        turns = [Turn(str(question.content), str(answer.content)) for question, answer in pairs]
        return self.prompt_format.render_history(turns)


class _PromptRecorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.prompt = ""

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], **kwargs: Any) -> None:
        self.prompt = prompts[0]


class _Cancelled(Exception):
    pass


class _TokenRelay(_PromptRecorder):
    """Streams a classic chain: the chain runs in a thread and its LLM's tokens are
    passed here through a queue.  Leaving the stream early stops the chain at
    its next token."""

    raise_error = True
    _DONE = object()

    def __init__(self) -> None:
        super().__init__()
        self.tokens: queue.Queue[Any] = queue.Queue()
        self.cancelled = False

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        if self.cancelled:
            raise _Cancelled
        self.tokens.put(token)

    def run(self, chain: ConversationChain, question: str) -> Iterator[str]:
        def work() -> None:
            try:
                chain.invoke({"input": question}, config={"callbacks": [self]})
                self.tokens.put(self._DONE)
            except BaseException as error:  # handed to the reading thread, if it still reads
                if not self.cancelled:
                    self.tokens.put(error)
                    return
                # Stopped: the traceback's frames hold the model's half-read stream, and
                # so the model's lock, for as long as anything (a log record) keeps the
                # error. Clearing them closes the stream now.
                traceback.clear_frames(error.__traceback__)

        threading.Thread(target=work, daemon=True).start()
        try:
            while (item := self.tokens.get()) is not self._DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.cancelled = True
