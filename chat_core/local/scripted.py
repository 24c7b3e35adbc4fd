"""A scripted stand-in for the bundled model: exact answers at a set pace.

``LOCAL_MODEL=scripted`` (``scripted:MS`` for MS milliseconds per token, 20 by
default) makes the in-process endpoint answer with it instead of SmolLM2: to work
on the UI without waiting for a model, for tests that assert exact text and see
streaming at a known pace, and for bench/ figures that time the app around a
model.  In the spirit of simonw/llm's ``MockModel``: answers given to
``enqueue`` come first, in order; with none queued, the answer is built from the
question (``answer_for``), naming the model when it has a ``name``.  Every prompt
it is given is kept in ``prompts``.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Iterator

from chat_core.models.prompts import CHATML

DEFAULT_TOKEN_MS = 20.0


def answer_for(prompt: str, name: str | None = None) -> str:
    """The answer when none is queued: the question, quoted, and a fixed sentence
    (naming the model, when it has a name).  The question is a ChatML prompt's last
    user turn, read as the model reads it: after the format's last turn opening
    (which no turn's text holds whole: neutralized), else the prompt's last words."""
    opening, closing = CHATML.tail.split("{input}")
    _, opened, question = prompt.rpartition(opening)
    if opened and question.endswith(closing):
        question = question.removesuffix(closing)
    else:  # not a chat prompt
        question = " ".join(prompt.split()[-12:])
    answer = f"This scripted answer from {name}" if name else "This scripted answer"
    return f"You asked: {question.strip()} {answer} streams word by word at a set pace."


class ScriptedModel:
    def __init__(self, token_ms: float = DEFAULT_TOKEN_MS, name: str | None = None) -> None:
        self.token_s = token_ms / 1000
        self.name = name
        self.prompts: list[str] = []
        self._queue: deque[str] = deque()
        self._lock = threading.Lock()

    def enqueue(self, *answers: str) -> ScriptedModel:
        self._queue.extend(answers)
        return self

    def complete(self, prompt: str, *, max_new_tokens: int, **sampling: object) -> Iterator[str]:
        """``local.model.complete``'s signature: each word (with its leading space)
        is a token, one every ``token_ms``, the first one too."""
        with self._lock:
            self.prompts.append(prompt)
            text = self._queue.popleft() if self._queue else answer_for(prompt, self.name)
        for token in re.findall(r"\s*\S+", text)[:max_new_tokens]:
            if self.token_s:  # even sleep(0) takes the kernel's timer slack, ~80 us here
                time.sleep(self.token_s)
            yield token
